"""Litestar app factory."""

from __future__ import annotations

from litestar import Litestar, Response, get
from litestar.config.compression import CompressionConfig
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ControllerRouterHandler

from micboardd import __version__
from micboardd.auth.passwords import Auth
from micboardd.web.context import AppContext
from micboardd.web.hosts import HostAllowList
from micboardd.web.routes.alerts import AlertsController
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.devices import DevicesController
from micboardd.web.routes.discovery import DiscoveryController
from micboardd.web.routes.groups import GroupsController
from micboardd.web.routes.health import HealthController
from micboardd.web.routes.history import HistoryController
from micboardd.web.routes.inject import CONTEXT, SESSIONS, provide
from micboardd.web.routes.metrics import MetricsController
from micboardd.web.routes.photos import NO_COMPRESSION, PhotosController
from micboardd.web.routes.placeholders import PlaceholdersController
from micboardd.web.routes.receivers import ConnectionsController, ReceiversController
from micboardd.web.routes.session import SessionController, SessionDesk
from micboardd.web.routes.settings import SettingsController
from micboardd.web.routes.system_api import SystemApiController
from micboardd.web.security import (
    MAX_BODY_BYTES,
    add_security_headers,
    host_guard,
    make_access_guard,
    warn_about_secret_files,
)
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


# The REST API, one controller per resource (web/routes/).
CONTROLLERS: tuple[type[ApiController], ...] = (
    HealthController,
    DevicesController,
    ReceiversController,
    GroupsController,
    SettingsController,
    DiscoveryController,
    ConnectionsController,
    AlertsController,
    HistoryController,
    SystemApiController,
    PlaceholdersController,
    PhotosController,
    MetricsController,
    SessionController,
)


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
    return Litestar(
        route_handlers=[*CONTROLLERS, *websocket_handlers(ctx), static],
        # What the controllers are handed by name (web/routes/inject.py).
        dependencies={
            CONTEXT: provide(ctx),
            SESSIONS: provide(SessionDesk(auth, sessions_changed)),
        },
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
