"""REST API: read views of the hub, health. Mutating routes arrive with their features."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler

from .. import __version__
from .context import AppContext


def api_handlers(ctx: AppContext) -> list[HTTPRouteHandler]:
    hub = ctx.hub

    @get("/api/health")
    async def health() -> dict[str, Any]:
        ctx.db_ok = await ctx.store.ping()
        return {
            "status": "ok" if ctx.db_ok else "degraded",
            "version": __version__,
            "uptime_s": ctx.uptime_s(),
            "db_ok": ctx.db_ok,
            "sources": {
                "receivers": len(hub.receivers),
                "receivers_online": hub.online_count(),
                "by_state": _count_states(ctx),
            },
            "devices": len(hub.devices),
            "clients": {
                "devices": len(ctx.fanout.devices),
                "connections": len(ctx.fanout.connections),
                "health": len(ctx.fanout.health),
            },
            "ws": {
                "frames_sent": ctx.counters.ws_frames_sent,
                "bytes_sent": ctx.counters.ws_bytes_sent,
                "client_errors": ctx.counters.ws_client_errors,
            },
        }

    @get("/api/devices")
    async def devices() -> list[dict[str, Any]]:
        return hub.device_list()

    @get("/api/devices/{device_id:str}")
    async def device(device_id: str) -> dict[str, Any]:
        dev = hub.devices.get(device_id)
        if dev is None:
            raise NotFoundException(f"no device {device_id!r}")
        return dev

    @get("/api/receivers")
    async def receivers() -> list[dict[str, Any]]:
        return hub.receiver_list()

    @get("/api/connections")
    async def connections() -> list[dict[str, Any]]:
        return hub.connections()

    @get("/healthz", include_in_schema=False)
    async def healthz() -> Response[str]:
        return Response("ok", media_type="text/plain")

    return [health, devices, device, receivers, connections, healthz]


def _count_states(ctx: AppContext) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rx in ctx.hub.receivers.values():
        counts[rx.state.value] = counts.get(rx.state.value, 0) + 1
    return counts
