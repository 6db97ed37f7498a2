"""`/api/alerts`: the alert log, newest first, and acknowledging an alert.

- `GET /api/alerts?active=&since=&device=&limit=`: the alert log, newest first.
- `POST /api/alerts/{id}/ack`: acknowledge (silence) an alert; answers the alert.

Times in answers are ISO-8601 UTC. The routes exist, and answer 503, in an app built
without the alert and history engines.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Protocol

from litestar import get, post
from litestar.exceptions import NotFoundException, ServiceUnavailableException
from litestar.params import FromPath, FromQuery, QueryParameter

from micboardd.alerts.service import Alerts
from micboardd.history.service import History
from micboardd.web.answers import CHANGE, READ, answers
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected
from micboardd.web.routes.queries import ID_MAX, TIME_TEXT_MAX, parse_time

MAX_ALERTS = 1000  # one page of the alert log; a show produces far fewer
DEFAULT_ALERTS = 200
_ALERT_ID = re.compile(r"^[0-9a-f]{16}$")


class AlertsContext(Protocol):
    """What the alert and history routes read (per request: the routes exist, and answer
    503, even in an app built without the engines)."""

    @property
    def alerts(self) -> Alerts | None: ...
    @property
    def history(self) -> History | None: ...


def engines(ctx: AlertsContext) -> tuple[Alerts, History]:
    """The alert and history engines, or 503 when this app runs without them."""
    if ctx.alerts is None or ctx.history is None:
        raise ServiceUnavailableException("alerts and history are not running here")
    return ctx.alerts, ctx.history


class AlertsController(ApiController):
    path = "/api/alerts"

    @get(responses=answers(*READ, 503))
    async def list_alerts(
        self,
        ctx: Injected[AlertsContext],
        active: FromQuery[bool | None] = None,
        since: Annotated[str | None, QueryParameter(max_length=TIME_TEXT_MAX)] = None,
        device: Annotated[str | None, QueryParameter(max_length=ID_MAX)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_ALERTS)] = DEFAULT_ALERTS,
    ) -> list[dict[str, Any]]:
        """The alert log, newest first. `since`: changed (raised, updated, cleared) since then;
        `device`: a device id or a receiver id."""
        alerts, _ = engines(ctx)
        after = parse_time(since, "since") if since is not None else None
        found = await alerts.query(active=active, since=after, device=device, limit=limit)
        return [a.as_dict() for a in found]

    @post("/{alert_id:str}/ack", status_code=200, responses=answers(*CHANGE, 404, 503))
    async def ack_alert(
        self, ctx: Injected[AlertsContext], alert_id: FromPath[str]
    ) -> dict[str, Any]:
        """Acknowledge: the alert stays until its condition ends, but stops asking for
        attention. Acknowledging twice is harmless."""
        alerts, _ = engines(ctx)
        if not _ALERT_ID.match(alert_id):
            raise NotFoundException(f"no alert {alert_id!r}")
        alert = await alerts.ack(alert_id)
        if alert is None:
            raise NotFoundException(f"no alert {alert_id!r}")
        return alert.as_dict()
