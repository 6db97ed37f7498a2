"""`GET /api/health` (what monitoring and the dashboard's header read) and `GET /healthz`.

Open to monitoring even behind the viewer PIN: then without receiver addresses. The System
API's URL only for a session (the settings naming it are admin-only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from litestar import Request, Response, get

from micboardd import __version__
from micboardd.aio import loop_implementation
from micboardd.auth.passwords import Auth
from micboardd.feed.fanout import API_HEALTH_KEY, FanOut
from micboardd.model import Counters
from micboardd.state.hub import Hub
from micboardd.web.ports import DiscoveryHealth
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected
from micboardd.web.security import can_view, redact_api_frame, redact_health, session_of

# What a client that may not see the dashboard learns of each System API endpoint.
SLIM_API_FIELDS = ("status", "state", "error_count")


class Pinger(Protocol):
    async def ping(self) -> bool: ...


class HealthContext(Protocol):
    db_ok: bool  # the last answer of the database, kept for /metrics and /ws/health/

    @property
    def store(self) -> Pinger: ...
    @property
    def web_root(self) -> Path | None: ...
    @property
    def hub(self) -> Hub: ...
    @property
    def fanout(self) -> FanOut: ...
    @property
    def counters(self) -> Counters: ...
    @property
    def discovery(self) -> DiscoveryHealth | None: ...
    @property
    def auth(self) -> Auth | None: ...

    def uptime_s(self) -> float: ...


class HealthController(ApiController):
    path = "/"

    @get("/api/health")
    async def health(
        self, request: Request[Any, Any, Any], ctx: Injected[HealthContext]
    ) -> dict[str, Any]:
        ctx.db_ok = await ctx.store.ping()
        body = health_body(ctx)
        if session_of(request) is None:
            body["system_api"] = [
                redact_api_frame(API_HEALTH_KEY + str(h.get("endpoint")), h)
                for h in body["system_api"]
            ]
        pin = ctx.auth is not None and (await ctx.auth.credentials()).pin_required
        if can_view(request, pin):
            return body
        slim = redact_health(body)
        slim["system_api"] = [{k: h.get(k) for k in SLIM_API_FIELDS} for h in body["system_api"]]
        return slim

    @get("/healthz", include_in_schema=False)
    async def healthz(self) -> Response[str]:
        return Response("ok", media_type="text/plain")


def health_body(ctx: HealthContext) -> dict[str, Any]:
    """Everything `/api/health` says, for a client that may see it all."""
    hub, fanout, counters = ctx.hub, ctx.fanout, ctx.counters
    dashboard_ok = ctx.web_root is not None
    return {
        "status": "ok" if ctx.db_ok and dashboard_ok else "degraded",
        "version": __version__,
        "uptime_s": ctx.uptime_s(),
        "db_ok": ctx.db_ok,
        # False: the package carries no dashboard files (the daemon's log says where it
        # looked); the API works, / answers 503.
        "dashboard_ok": dashboard_ok,
        "sources": {
            "receivers": len(hub.receivers),
            "receivers_online": hub.online_count(),
            "by_state": _count_states(hub),
        },
        "devices": len(hub.devices),
        "discovery": ctx.discovery.health() if ctx.discovery is not None else None,
        "clients": {
            "devices": len(fanout.devices),
            "connections": len(fanout.connections),
            "health": len(fanout.health),
        },
        "ws": {
            "frames_sent": counters.ws_frames_sent,
            "bytes_sent": counters.ws_bytes_sent,
            "client_errors": counters.ws_client_errors,
            "frames_waited": counters.ws_frames_waited,
        },
        # Bugs caught on the event loop (loop_errors.py): 0 on a healthy daemon.
        "event_loop": {
            "implementation": loop_implementation(),
            "exceptions": sum(counters.loop_exceptions.values()),
            "exceptions_by_kind": dict(sorted(counters.loop_exceptions.items())),
        },
        # The Shure System API's health, as on /ws/health/ (never its key).
        "system_api": list(fanout.latest_api_health.values()),
    }


def _count_states(hub: Hub) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rx in hub.receivers.values():
        counts[rx.state.value] = counts.get(rx.state.value, 0) + 1
    return counts
