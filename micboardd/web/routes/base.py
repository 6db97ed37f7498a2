"""The base of every REST controller: OPTIONS that tells the truth.

Every path under /api/ answers OPTIONS with an `Allow` listing every method the path
serves. Litestar makes its own OPTIONS handler when the first handler of a path is
registered and never updates its `Allow` (GET and POST on one path answered
`Allow: GET, OPTIONS`), so ours are registered first, before the controller's own handlers.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, route
from litestar.enums import HttpMethod
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.status_codes import HTTP_204_NO_CONTENT
from litestar.utils import join_paths

API_PREFIX = "/api/"


def options_handler(path: str, full_path: str) -> HTTPRouteHandler:
    """OPTIONS for `path` (relative to its controller); `full_path` as the app knows it."""

    @route(path, http_method=[HttpMethod.OPTIONS], include_in_schema=False)
    async def allow(request: Request[Any, Any, Any]) -> Response[None]:
        methods = request.app.route_handler_method_map.get(full_path)
        listed = sorted(methods or {"OPTIONS"})
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": ", ".join(listed)})

    return allow


class ApiController(Controller):
    """A Litestar Controller whose API paths answer OPTIONS truthfully (module docstring)."""

    def get_route_handlers(self) -> list[BaseRouteHandler]:
        handlers = super().get_route_handlers()
        paths = sorted({p for h in handlers if isinstance(h, HTTPRouteHandler) for p in h.paths})
        options: list[BaseRouteHandler] = []
        for path in paths:
            full_path = join_paths([self.path, path])
            if full_path.startswith(API_PREFIX):
                options.append(options_handler(path, full_path))
        return [*options, *handlers]
