"""Litestar app factory."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response, get, route
from litestar.config.compression import CompressionConfig
from litestar.datastructures import CacheControlHeader
from litestar.enums import HttpMethod
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ControllerRouterHandler

from micboardd import __version__
from micboardd.auth.passwords import Auth
from micboardd.web.alerts_api import alerts_api_handlers
from micboardd.web.api import api_handlers
from micboardd.web.context import AppContext
from micboardd.web.hosts import HostAllowList
from micboardd.web.metrics_route import metrics_handlers
from micboardd.web.security import (
    MAX_BODY_BYTES,
    add_security_headers,
    host_guard,
    make_access_guard,
    security_handlers,
    warn_about_secret_files,
)
from micboardd.web.ssapi_api import ssapi_api_handlers
from micboardd.web.tiles_api import NO_COMPRESSION, tiles_api_handlers
from micboardd.web.ws import websocket_handlers

NO_DASHBOARD = (
    "micboardd is running, but this installation has no dashboard files (see the log and "
    "/api/health: dashboard_ok). Reinstall it from the .deb, or from a wheel or sdist built "
    "from the whole repository."
)


@get(["/", "/{path:path}"], include_in_schema=False, name="dashboard", sync_to_thread=False)
def no_dashboard() -> Response[str]:
    """Instead of the dashboard when its files are missing: a sentence, not a bare 404."""
    return Response(NO_DASHBOARD, status_code=HTTP_503_SERVICE_UNAVAILABLE, media_type="text/plain")


def options_handlers(handlers: list[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """One OPTIONS handler per API path, registered first, whose `Allow` lists every method
    of the path as served. (Litestar makes its own when the first handler of a path is
    registered and never updates its `Allow`: GET and POST on one path answered
    `Allow: GET, OPTIONS`.)"""
    paths = sorted({path for h in handlers for path in h.paths if path.startswith("/api/")})

    def make(path: str) -> HTTPRouteHandler:
        @route(path, http_method=[HttpMethod.OPTIONS], include_in_schema=False)
        async def allow(request: Request[Any, Any, Any]) -> Response[None]:
            methods = request.app.route_handler_method_map.get(path)
            listed = sorted(methods or {"OPTIONS"})
            return Response(None, status_code=204, headers={"Allow": ", ".join(listed)})

        return allow

    return [make(path) for path in paths]


def create_app(ctx: AppContext) -> Litestar:
    if ctx.auth is None:
        ctx.auth = Auth(ctx.store, counters=ctx.counters)
    auth = ctx.auth

    def sessions_changed() -> None:  # a logout or a new PIN: close the sockets it ended
        ctx.ws_clients.sweep(auth)

    warn_about_secret_files(ctx.settings)
    static: ControllerRouterHandler
    if ctx.web_root is None:
        static = no_dashboard
    else:
        static = create_static_files_router(
            path="/",
            directories=[ctx.web_root],
            html_mode=True,
            name="dashboard",
            # Revalidate every time (ETag makes it cheap): an upgraded box must never serve a
            # phone yesterday's dashboard; the service worker handles offline.
            cache_control=CacheControlHeader(no_cache=True),
            include_in_schema=False,
        )
    http = [
        *api_handlers(ctx),
        *alerts_api_handlers(ctx),
        *ssapi_api_handlers(ctx),
        *tiles_api_handlers(ctx),
        *metrics_handlers(ctx),
        *security_handlers(ctx.auth, ctx.settings, sessions_changed),
    ]
    return Litestar(
        route_handlers=[*options_handlers(http), *http, *websocket_handlers(ctx), static],
        # Every route, including ones added later: reads open (or behind the viewer PIN),
        # anything that changes state needs admin + CSRF (web/security.py).
        guards=[make_access_guard(ctx.auth, ctx.settings)],
        # Before anything else: a request for another host name is not ours (DNS rebinding).
        middleware=[host_guard(HostAllowList(ctx.settings.allowed_hosts))],
        before_send=[add_security_headers],
        request_max_body_size=MAX_BODY_BYTES,
        # Venue LANs are offline: only the JSON document, no CDN-hosted docs UI.
        openapi_config=OpenAPIConfig(
            title="micboardd",
            version=__version__,
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        logging_config=None,
        # Venue Wi-Fi is slow and shared: the dashboard shell compresses ~3x.
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=500, exclude_opt_key=NO_COMPRESSION
        ),
        debug=False,
    )
