"""`GET /metrics`: Prometheus text, readable without login, no addresses or secrets."""

from __future__ import annotations

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

from micboardd.metrics import CONTENT_TYPE, render_metrics

from .context import AppContext


def metrics_handlers(ctx: AppContext) -> list[HTTPRouteHandler]:
    @get("/metrics", include_in_schema=False)
    async def metrics() -> Response[str]:
        return Response(render_metrics(ctx), media_type=CONTENT_TYPE)

    return [metrics]
