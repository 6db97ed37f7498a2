"""Which sources feed the hub for a given configuration."""

from __future__ import annotations

from typing import Any

from micboardd.daemon.run import Source
from micboardd.feed.fanout import API_CONNECTION_KEY
from micboardd.sources.receivers import ReceiverManager
from micboardd.web.context import AppContext


def make_sources(ctx: AppContext) -> list[Source]:
    # The manager starts first: it registers known and ignored receivers with discovery
    # before the first announcement can arrive.
    manager = ReceiverManager(ctx.hub, ctx.store, ctx.settings)
    ctx.receivers = manager
    sources: list[Source] = [manager]
    if ctx.settings.discovery:
        from micboardd.discovery.service import Discovery

        discovery = Discovery(
            ctx.settings.discovery_interfaces,
            manager.on_discovered,
            http_port=ctx.http_port,
            on_event=manager.on_discovery_event,
        )
        manager.discovery = ctx.discovery = discovery
        sources.append(discovery)
    # Always, even when off: the dashboard may turn the System API on (ssapi/runtime.py).
    # After the manager: direct receivers are in the hub before the first inventory, so a
    # device monitored both ways is merged from the start (docs/system-api.md).
    from micboardd.ssapi.runtime import SystemApiRuntime

    fanout = ctx.fanout

    def publish_connection(body: dict[str, Any]) -> None:
        frame = {"type": "connection_update", **body}
        for feed in fanout.connections:
            feed.push(API_CONNECTION_KEY + str(body["id"]), frame)

    def publish_api_health(endpoint: str, body: dict[str, Any]) -> None:
        fanout.publish_api_health(endpoint, body)
        if ctx.alerts is not None:  # "System API down" is an alert rule (alerts.py)
            status = str(body.get("status"))
            message = body.get("message") if status in ("down", "degraded") else None
            ctx.alerts.system_api_health(endpoint, status, message)

    def retire_endpoint(endpoint: str) -> None:
        # Turned off or replaced: no longer in /api/health, /metrics or a new health snapshot.
        fanout.latest_api_health.pop(endpoint, None)

    runtime = SystemApiRuntime(
        ctx.hub,
        ctx.store,
        ctx.settings,
        publish_api_health,
        publish_connection=publish_connection,
        retire_endpoint=retire_endpoint,
    )
    ctx.ssapi = runtime
    sources.append(runtime)
    if ctx.settings.redis_url:
        # Several instances, one picture (docs/several-stages.md). Made before any source
        # starts: it names this hub's devices with our instance name.
        from micboardd.cluster.bridge import ClusterBridge

        sources.append(ClusterBridge(ctx.hub, ctx.settings.redis_url, ctx.settings.instance))
    return sources
