"""Everything the daemon is made of, built and started in one place: `wired()`.

Start order, as written below: the store; the hub with what the store keeps (performers,
photos, groups, placeholders); the fan-out to WebSocket clients (the hub's first listener);
alerts and history; the web app on its HTTP socket; the periodic tasks; the sources
(receivers, discovery, the System API, other instances through Redis).

Each part's stop goes on one `AsyncExitStack` as that part starts, so a failure half-way
stops exactly what had started, and leaving `wired()` stops everything in this order:

1. the periodic tasks;
2. the fan-out: clients go first, so a dashboard keeps its last picture across a restart
   instead of being told that every receiver went offline while we stopped metering;
3. the HTTP server;
4. history (its last minutes written), then alerts: before the sources, for the same
   reason, stopping is not the receivers going offline;
5. the sources: meters off on every receiver;
6. the store, flushed and closed.

Two parts stop elsewhere in the list than they start. The sources start last (the web server
answers first; alerts and history see every reading from the first one on) yet stop just
before the store: their stop is pushed right after the store's, on a set that is empty until
they start. The fan-out starts before alerts and history but stops before the HTTP server:
its stop (instant, idempotent) is pushed twice, when it starts and after the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from micboardd.aio import callable_name, cancel_and_wait, report_to_loop
from micboardd.alerts.model import AlertConfig, Hold
from micboardd.alerts.service import Alerts
from micboardd.auth.passwords import ADMIN_HASH_KEY
from micboardd.config import Settings
from micboardd.daemon.server import WebServer, bind_socket, uvicorn_config
from micboardd.errors import MicboardError, StoreError
from micboardd.feed.fanout import API_CONNECTION_KEY, FanOut
from micboardd.history.service import History, HistoryConfig
from micboardd.model import Counters
from micboardd.pacing import sleep_to_beat
from micboardd.sources.receivers import ReceiverManager
from micboardd.state.groups import Groups
from micboardd.state.hub import Hub, UserFields
from micboardd.store.database import Store
from micboardd.tiles.photos import Photos
from micboardd.tiles.placeholders import Placeholders
from micboardd.web.app import create_app
from micboardd.web.context import AppContext
from micboardd.web.http_protocol import ConnectionLimits
from micboardd.web.ws_clients import SESSION_CHECK_S

log = logging.getLogger(__name__)

SYSTEM_HEALTH_INTERVAL_S = 5.0  # contract: system_health every 5 s
HUB_TICK_S = 1.0  # time-based states (audio_peak hold, prev_* expiry) need 1 s resolution
# SIGTERM to exit must stay under 5 s: sources get 2 s to send METER_RATE 00000 to every
# receiver (the web server its own 2 s, server.py).
SOURCES_SHUTDOWN_S = 2.0
SECONDS_PER_DAY = 86400


class StartFailed(MicboardError):
    """A part of the daemon could not start; the message says which and why."""


class Source(Protocol):
    """Something that feeds the hub: receiver sessions, discovery, the System API."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


SourceFactory = Callable[[AppContext], list[Source]]


@dataclass
class Sources:
    """The sources of one daemon, stopped together, each within SOURCES_SHUTDOWN_S."""

    started: list[Source] = field(default_factory=list)
    failed: bool = False  # one raised in start(): the daemon stops with status 1

    async def start(self, sources: list[Source]) -> None:
        for source in sources:
            self.started.append(source)  # a half-started source is stopped too
            try:
                await source.start()
            except Exception:
                # Never hang half-started: the daemon takes its normal way out, so the
                # store's thread ends and the process exits (systemd restarts it).
                log.critical("a source failed to start; stopping", exc_info=True)
                self.failed = True
                return

    async def stop(self) -> None:
        results = await asyncio.gather(
            *(_stop_within(s, SOURCES_SHUTDOWN_S) for s in self.started),
            return_exceptions=True,
        )
        for source, result in zip(self.started, results, strict=True):
            if isinstance(result, BaseException):
                log.warning(
                    "source %s did not stop cleanly: %s: %s",
                    type(source).__name__,
                    type(result).__name__,
                    str(result)[:200],
                )
        self.started.clear()


async def _stop_within(source: Source, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        await source.stop()


@dataclass
class Wired:
    """The running parts `wired()` yields."""

    ctx: AppContext
    server: WebServer
    sources: Sources

    @property
    def port(self) -> int:
        return self.server.port


@contextlib.asynccontextmanager
async def wired(
    settings: Settings,
    *,
    counters: Counters,
    web_root: Path | None,
    source_factory: SourceFactory | None = None,
) -> AsyncIterator[Wired]:
    """Build and start every part in order; leaving stops them in reverse (module doc).
    Raises `StartFailed` (after stopping what had started) when a part cannot start."""
    async with contextlib.AsyncExitStack() as stack:
        store = await _open_store(settings)
        stack.push_async_callback(store.close)  # 6
        sources = Sources()
        stack.push_async_callback(sources.stop)  # 5
        ctx = await _build(settings, store, counters, web_root)
        alerts, history, fanout = ctx.alerts, ctx.history, ctx.fanout
        assert alerts is not None and history is not None
        # The hub's first listener: clients hear each change before alerts and history
        # react to it. Stopped here only if a later part fails; its place is 2 (below).
        fanout.start()
        stack.callback(fanout.stop)
        await alerts.start()
        stack.push_async_callback(alerts.stop)  # 4
        await history.start()
        stack.push_async_callback(history.stop)  # 4
        server = await _serve(stack, ctx)  # 3
        stack.callback(fanout.stop)  # 2
        ctx.http_port = server.port
        tasks = _periodic(ctx)
        stack.push_async_callback(cancel_and_wait, *tasks)  # 1
        await sources.start(source_factory(ctx) if source_factory is not None else [])
        yield Wired(ctx, server, sources)


async def _open_store(settings: Settings) -> Store:
    store = Store(settings.db_path)
    try:
        await store.open()
    except StoreError as exc:
        raise StartFailed(str(exc)) from exc
    if await store.get_setting(ADMIN_HASH_KEY) is None:
        # Said here, to the operator: the web answers name no path of the box.
        log.warning(
            "no admin password is set: nothing can be changed from the dashboard until "
            "one is (micboardd passwd --state-dir %s)",
            settings.state_dir.resolve(),
        )
    return store


def alert_config(settings: Settings) -> AlertConfig:
    """The operator's thresholds on top of the documented defaults."""
    weak = settings.alert_rf_weak_dbm
    return replace(
        AlertConfig(),
        battery_low_minutes=settings.alert_battery_low_minutes,
        battery_critical_minutes=settings.alert_battery_critical_minutes,
        rf_weak_dbm=float(weak),
        # keep the hysteresis band of the default (5 dB) above the threshold
        rf_weak_clear_dbm=float(weak) + 5.0,
        rf_weak=Hold(
            raise_s=float(settings.alert_rf_weak_hold_s), clear_s=AlertConfig().rf_weak.clear_s
        ),
    )


async def _build(
    settings: Settings, store: Store, counters: Counters, web_root: Path | None
) -> AppContext:
    """The hub with what the store keeps, and every part around it (nothing started)."""
    hub = Hub()
    for row in await store.channel_rows():
        hub.user[row["device_id"]] = UserFields(performer=row["performer"])
    fanout = FanOut(hub)
    photos = Photos(store, hub)
    await photos.load()
    groups = Groups(store, hub)
    await groups.load()
    placeholders = Placeholders(store, hub, groups, photos)
    await placeholders.load()
    alerts = Alerts(
        hub,
        store,
        fanout.publish_alert,
        on_count=hub.set_alert_count,
        config=alert_config(settings),
    )
    retention_s = settings.history_retention_days * SECONDS_PER_DAY
    history = History(hub, store, config=HistoryConfig(retention_s=retention_s))
    ctx = AppContext(
        settings=settings,
        hub=hub,
        fanout=fanout,
        store=store,
        web_root=web_root,
        groups=groups,
        alerts=alerts,
        history=history,
        placeholders=placeholders,
        photos=photos,
        counters=counters,
    )
    fanout.system_health = ctx.system_health
    fanout.active_alerts = alerts.active_dicts
    return ctx


async def _serve(stack: contextlib.AsyncExitStack, ctx: AppContext) -> WebServer:
    """The web app on its socket, serving; its stop pushed on `stack`."""
    settings = ctx.settings
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        where = f"{settings.host}:{settings.port}"
        raise StartFailed(f"cannot listen on {where}: {exc.strerror}") from exc
    stack.callback(sock.close)  # uvicorn closes it too; a second close is harmless
    limits = ConnectionLimits.from_settings(
        settings.max_connections,
        settings.max_connections_per_address,
        settings.trusted_proxies,
        ctx.counters,
    )
    server = WebServer(uvicorn_config(create_app(ctx), settings, limits), sock, limits)
    stack.push_async_callback(server.stop)
    if not await server.start():
        raise StartFailed("web server failed to start")
    url_host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
    scheme = "https" if settings.tls_cert_file else "http"
    log.info("micboardd listening on %s://%s:%d", scheme, url_host, server.port)
    return server


def _periodic(ctx: AppContext) -> list[asyncio.Task[None]]:
    async def health() -> None:
        ctx.sample()
        ctx.db_ok = await ctx.store.ping()
        ctx.fanout.publish_system_health()

    async def sessions() -> None:
        """Close the WebSockets of sessions that ended behind our back (`micboardd passwd`
        changed the password or PIN in the database, or a session expired)."""
        auth = ctx.auth
        if auth is None or not len(ctx.ws_clients):
            return
        await auth.credentials(fresh=True)
        ctx.ws_clients.sweep(auth)

    return [
        asyncio.create_task(every(HUB_TICK_S, ctx.hub.tick), name="hub-tick"),
        asyncio.create_task(every(SYSTEM_HEALTH_INTERVAL_S, health), name="health"),
        asyncio.create_task(every(SESSION_CHECK_S, sessions), name="sessions"),
    ]


async def every(interval: float, action: Callable[[], Awaitable[None] | None]) -> None:
    """Call `action` every `interval` seconds (on the beat, micboardd.pacing) until
    cancelled."""
    while True:
        await sleep_to_beat(interval)
        try:
            result = action()
            if result is not None:
                await result
        except Exception as exc:  # a bug: counted and logged once, the task goes on
            report_to_loop(exc, "periodic task " + callable_name(action))


# --- the sources of `micboardd run` ---


def make_sources(ctx: AppContext) -> list[Source]:
    """The receiver manager, discovery when on, the System API (always: the dashboard may
    turn it on), and the Redis bridge when configured; each also made known to `ctx`."""
    # The manager starts first: it registers known and ignored receivers with discovery
    # before the first announcement can arrive.
    manager = ReceiverManager(ctx.hub, ctx.store, ctx.settings)
    ctx.receivers = manager
    sources: list[Source] = [manager]
    if ctx.settings.discovery:
        from micboardd.discovery.probes import prober_for
        from micboardd.discovery.service import Discovery

        discovery = Discovery(
            ctx.settings.discovery_interfaces,
            manager.on_discovered,
            http_port=ctx.http_port,
            on_event=manager.on_discovery_event,
            # SSCv2 candidates are probed with the password their session would send.
            prober=prober_for(manager.needs.password_for),
        )
        manager.discovery = ctx.discovery = discovery
        sources.append(discovery)
    # After the manager: direct receivers are in the hub before the first inventory, so a
    # device monitored both ways is merged from the start (docs/system-api.md).
    sources.append(_system_api(ctx))
    if ctx.settings.redis_url:
        # Several instances, one picture (docs/several-stages.md). Made before any source
        # starts: it names this hub's devices with our instance name.
        from micboardd.cluster.bridge import ClusterBridge

        sources.append(ClusterBridge(ctx.hub, ctx.settings.redis_url, ctx.settings.instance))
    return sources


def _system_api(ctx: AppContext) -> Source:
    """The System API runtime, its health and connections published to the clients."""
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
    return runtime
