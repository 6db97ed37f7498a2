"""`GET /metrics`: Prometheus text, readable without login, no addresses or secrets."""

from __future__ import annotations

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

from micboardd.web.context import AppContext
from micboardd.web.metrics import CONTENT_TYPE, render_metrics


def metrics_handlers(ctx: AppContext) -> list[HTTPRouteHandler]:
    @get("/metrics", include_in_schema=False)
    async def metrics() -> Response[str]:
        return Response(render_metrics(ctx), media_type=CONTENT_TYPE)

    return [metrics]
