"""Wiring: store, hub, fan-out, sources and the web server in one event loop.

Start order: open the database, bind the HTTP socket, start serving, tell systemd READY=1.
Stop order (SIGTERM/SIGINT): STOPPING=1, stop sources (meters off on every receiver), stop
the web server, close the database, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import uvicorn

from micboardd.aio import callable_name, report_to_loop
from micboardd.alerts.model import AlertConfig, Hold
from micboardd.alerts.service import Alerts
from micboardd.auth.passwords import ADMIN_HASH_KEY
from micboardd.config import Settings
from micboardd.daemon.loop_errors import LoopErrors
from micboardd.daemon.systemd import Notifier
from micboardd.errors import StoreError
from micboardd.feed.fanout import FanOut
from micboardd.history.service import History, HistoryConfig
from micboardd.model import Counters
from micboardd.state.groups import Groups
from micboardd.state.hub import Hub, UserFields
from micboardd.store.database import Store
from micboardd.tiles.photos import Photos
from micboardd.tiles.placeholders import Placeholders
from micboardd.web.app import create_app
from micboardd.web.context import AppContext
from micboardd.web.http_protocol import (
    KEEP_ALIVE_S,
    MAX_HEAD_BYTES,
    ConnectionLimits,
    http_protocol_class,
)
from micboardd.web.root import candidates as web_root_places
from micboardd.web.root import find_web_root, missing_message
from micboardd.web.ws_clients import SESSION_CHECK_S
from micboardd.web.ws_protocol import protocol_class

log = logging.getLogger(__name__)

SYSTEM_HEALTH_INTERVAL_S = 5.0  # contract: system_health every 5 s
HUB_TICK_S = 1.0  # time-based states (audio_peak hold, prev_* expiry) need 1 s resolution
# SIGTERM to exit must stay under 5 s: web server gets 2 s to close sockets, sources 2 s to
# send METER_RATE 00000 to every receiver.
WEB_SHUTDOWN_S = 2.0
SOURCES_SHUTDOWN_S = 2.0
# uvicorn's housekeeping tick (Date header, exit check); uvicorn's own is 0.1 s.
SERVER_TICK_S = 1.0
WS_MAX_MESSAGE_BYTES = 1024 * 1024  # frames above this are closed with 1009 by the server
WS_PING_INTERVAL_S = 20.0  # detect dead phones (Wi-Fi roam, screen off) within a minute
WS_PING_TIMEOUT_S = 20.0
# Kernel send buffer per client socket (Linux doubles it). Autotuning would let one phone that
# stopped reading park megabytes in the kernel before the send timeout notices; a dashboard
# needs a few KB/s, and this still covers a page load on slow Wi-Fi.
CLIENT_SNDBUF_BYTES = 128 * 1024
# Abort a connection whose sent data has gone unacknowledged this long (a phone that left the
# Wi-Fi, or a peer that closed its window and never reads): otherwise the kernel keeps
# retrying it for about 15 minutes, after we already closed our side.
CLIENT_USER_TIMEOUT_MS = 30_000


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


class Source(Protocol):
    """Something that feeds the hub: receiver sessions, discovery, the System API."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def _stop_within(source: Source, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        await source.stop()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the daemon owns SIGTERM, STACK-NOTES.md) and
    with a once-a-second housekeeping tick instead of ten: on a small box every wake-up of an
    idle process costs, and the tick only refreshes the Date header and checks for exit."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    def capture_signals(self) -> contextlib.nullcontext[None]:  # type: ignore[override]
        return contextlib.nullcontext()

    def request_exit(self) -> None:
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        # on_tick(0) each time: uvicorn refreshes its Date header on multiples of 10 ticks.
        while not await self.on_tick(0):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SERVER_TICK_S):
                    await self._exit.wait()


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    # Accepted sockets inherit these; asyncio sets TCP_NODELAY only on sockets it created
    # itself, and small WebSocket frames must not wait for Nagle's 40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CLIENT_SNDBUF_BYTES)
    if hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, CLIENT_USER_TIMEOUT_MS)
    sock.listen(128)
    sock.setblocking(False)
    return sock


SourceFactory = Callable[[AppContext], list[Source]]


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        source_factory: SourceFactory | None = None,
        web_root: Path | None = None,
    ) -> None:
        self.settings = settings
        self.notifier = Notifier()
        self.stop_event = asyncio.Event()
        self.source_factory = source_factory
        # The dashboard's files (web_root.py); None: the API runs without them, and says so.
        self.web_places = [web_root] if web_root is not None else web_root_places()
        self.web_root = find_web_root(self.web_places)
        self.sources: list[Source] = []
        self.ctx: AppContext | None = None
        self.port: int | None = None
        self.counters = Counters()

    def request_stop(self, why: str) -> None:
        if not self.stop_event.is_set():
            log.info("stopping (%s)", why)
            self.stop_event.set()

    async def run(self) -> int:
        # Our own exception handler from the first moment: one readable line per bug on the
        # loop, counted in /api/health and /metrics (loop_errors.py).
        loop_errors = LoopErrors(self.counters.loop_exceptions)
        loop_errors.install(asyncio.get_running_loop())
        try:
            return await self._run()
        finally:
            loop_errors.uninstall()

    async def _run(self) -> int:
        settings = self.settings
        if self.web_root is None:
            log.error("%s", missing_message(self.web_places))
        store = Store(settings.db_path)
        try:
            await store.open()
        except StoreError as exc:
            log.critical("%s", exc)
            return 1
        if await store.get_setting(ADMIN_HASH_KEY) is None:
            # Said here, to the operator: the web answers name no path of the box.
            log.warning(
                "no admin password is set: nothing can be changed from the dashboard until "
                "one is (micboardd passwd --state-dir %s)",
                settings.state_dir.resolve(),
            )
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
        history = History(
            hub, store, config=HistoryConfig(retention_s=settings.history_retention_days * 86400)
        )
        ctx = AppContext(
            settings=settings,
            hub=hub,
            fanout=fanout,
            store=store,
            web_root=self.web_root,
            groups=groups,
            alerts=alerts,
            history=history,
            placeholders=placeholders,
            photos=photos,
            counters=self.counters,
        )
        self.ctx = ctx
        fanout.system_health = ctx.system_health
        fanout.active_alerts = alerts.active_dicts
        fanout.start()

        try:
            sock = bind_socket(settings.host, settings.port)
        except OSError as exc:
            log.critical("cannot listen on %s:%d: %s", settings.host, settings.port, exc.strerror)
            await store.close()
            return 1
        self.port = sock.getsockname()[1]
        limits = ConnectionLimits.from_settings(
            settings.max_connections,
            settings.max_connections_per_address,
            settings.trusted_proxies,
            ctx.counters,
        )
        http_protocol = http_protocol_class(limits)
        config = uvicorn.Config(
            create_app(ctx),
            log_config=None,
            access_log=False,
            lifespan="off",
            http=http_protocol or "h11",
            # Only with h11 (no httptools): its own cap on a request's head.
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            timeout_keep_alive=KEEP_ALIVE_S,
            # X-Forwarded-For/-Proto only from the configured proxies; uvicorn's default
            # would believe loopback (a local process could pose as any address).
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=list(settings.trusted_proxies),
            ws=protocol_class(),
            ws_max_size=WS_MAX_MESSAGE_BYTES,
            ws_ping_interval=WS_PING_INTERVAL_S,
            ws_ping_timeout=WS_PING_TIMEOUT_S,
            timeout_graceful_shutdown=int(WEB_SHUTDOWN_S),
            server_header=False,
            # HTTPS when configured (both files are required together; config.py checks).
            ssl_certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
            ssl_keyfile=str(settings.tls_key_file) if settings.tls_key_file else None,
        )
        server = _Server(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)

        serve_task = asyncio.create_task(server.serve(sockets=[sock]), name="http")
        while not server.started and not serve_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # uvicorn exposes no event for "started"
        if serve_task.done():
            log.critical("web server failed to start")
            await store.close()
            return 1
        url_host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
        scheme = "https" if settings.tls_cert_file else "http"
        log.info("micboardd listening on %s://%s:%d", scheme, url_host, self.port)

        ctx.http_port = self.port
        # Before the sources: alerts and history see every reading from the first one on.
        await alerts.start()
        await history.start()
        exit_code = 0
        try:
            self.sources = self.source_factory(ctx) if self.source_factory else []
            for source in self.sources:
                await source.start()
        except Exception:
            # Never hang half-started: take the normal shutdown path so the store's thread
            # ends and the process exits (systemd restarts it).
            log.critical("a source failed to start; stopping", exc_info=True)
            exit_code = 1
            self.stop_event.set()
        background = [
            asyncio.create_task(self._every(HUB_TICK_S, hub.tick), name="hub-tick"),
            asyncio.create_task(self._every(SYSTEM_HEALTH_INTERVAL_S, self._health), name="health"),
            asyncio.create_task(self._every(SESSION_CHECK_S, self._sessions), name="sessions"),
        ]
        if self.notifier.watchdog_s:
            background.append(
                asyncio.create_task(
                    self._every(self.notifier.watchdog_s / 2, self.notifier.watchdog),
                    name="watchdog",
                )
            )
        if not exit_code:
            self.notifier.ready(f"serving on port {self.port}")

        stop_wait = asyncio.create_task(self.stop_event.wait())
        await asyncio.wait({stop_wait, serve_task}, return_when=asyncio.FIRST_COMPLETED)
        if serve_task.done() and not self.stop_event.is_set():
            log.critical("web server stopped unexpectedly")
        stop_wait.cancel()

        self.notifier.stopping()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        # Clients go first: a dashboard must keep its last picture across a restart instead
        # of being told that every receiver went offline while we stopped metering.
        fanout.stop()
        server.request_exit()
        try:
            async with asyncio.timeout(WEB_SHUTDOWN_S + 1):
                await serve_task
        except (TimeoutError, asyncio.CancelledError):
            log.warning("web server did not stop in time")
        except BaseException as exc:
            log.warning("web server stopped with %r", exc)
        # Before the sources, for the same reason: stopping is not the receivers going
        # offline. The last minutes of history are written here.
        await history.stop()
        await alerts.stop()
        await self._stop_sources()
        await store.close()
        self.notifier.close()
        log.info("stopped")
        return exit_code

    async def _stop_sources(self) -> None:
        if not self.sources:
            return
        results = await asyncio.gather(
            *(_stop_within(s, SOURCES_SHUTDOWN_S) for s in self.sources),
            return_exceptions=True,
        )
        for source, result in zip(self.sources, results, strict=True):
            if isinstance(result, BaseException):
                log.warning(
                    "source %s did not stop cleanly: %s: %s",
                    type(source).__name__,
                    type(result).__name__,
                    str(result)[:200],
                )

    async def _sessions(self) -> None:
        """Close the WebSockets of sessions that ended behind our back (`micboardd passwd`
        changed the password or PIN in the database, or a session expired)."""
        assert self.ctx is not None
        auth = self.ctx.auth
        if auth is None or not len(self.ctx.ws_clients):
            return
        await auth.credentials(fresh=True)
        self.ctx.ws_clients.sweep(auth)

    async def _health(self) -> None:
        assert self.ctx is not None
        self.ctx.sample()
        self.ctx.db_ok = await self.ctx.store.ping()
        self.ctx.fanout.publish_system_health()

    @staticmethod
    async def _every(interval: float, action: Callable[[], Awaitable[None] | None]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                result = action()
                if result is not None:
                    await result
            except Exception as exc:  # a bug: counted and logged once, the task goes on
                report_to_loop(exc, "periodic task " + callable_name(action))
