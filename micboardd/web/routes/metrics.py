"""`GET /metrics`: Prometheus text, readable without login, no addresses or secrets."""

from __future__ import annotations

from litestar import Response, get

from micboardd.web.metrics import CONTENT_TYPE, MetricsSource, render_metrics
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected


class MetricsController(ApiController):
    path = "/metrics"

    @get(include_in_schema=False)
    async def metrics(self, ctx: Injected[MetricsSource]) -> Response[str]:
        return Response(render_metrics(ctx), media_type=CONTENT_TYPE)
