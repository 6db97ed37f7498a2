"""The HTTP server: uvicorn serving the web app on a socket the daemon binds itself.

The daemon owns SIGTERM (STACK-NOTES.md), so uvicorn's own signal handling is off; the
socket carries the options every accepted connection inherits (no Nagle, a small send
buffer, a user timeout for peers that vanished).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn
from litestar import Litestar

from micboardd.config import Settings
from micboardd.pacing import beat_after
from micboardd.web.http_protocol import (
    KEEP_ALIVE_S,
    MAX_HEAD_BYTES,
    ConnectionLimits,
    http_protocol_class,
)
from micboardd.web.ws_protocol import protocol_class

log = logging.getLogger(__name__)

# SIGTERM to exit must stay under 5 s: the web server gets 2 s to close its sockets.
WEB_SHUTDOWN_S = 2.0
# uvicorn's housekeeping tick (Date header, exit check); uvicorn's own is 0.1 s.
SERVER_TICK_S = 1.0
STARTED_CHECK_S = 0.01  # uvicorn exposes no event for "started": asked this often
WS_MAX_MESSAGE_BYTES = 1024 * 1024  # frames above this are closed with 1009 by the server
WS_PING_INTERVAL_S = 20.0  # detect dead phones (Wi-Fi roam, screen off) within a minute
WS_PING_TIMEOUT_S = 20.0
LISTEN_BACKLOG = 128
# Kernel send buffer per client socket (Linux doubles it). Autotuning would let one phone that
# stopped reading park megabytes in the kernel before the send timeout notices; a dashboard
# needs a few KB/s, and this still covers a page load on slow Wi-Fi.
CLIENT_SNDBUF_BYTES = 128 * 1024
# Abort a connection whose sent data has gone unacknowledged this long (a phone that left the
# Wi-Fi, or a peer that closed its window and never reads): otherwise the kernel keeps
# retrying it for about 15 minutes, after we already closed our side.
CLIENT_USER_TIMEOUT_MS = 30_000


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
                async with asyncio.timeout_at(beat_after(SERVER_TICK_S)):
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
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def uvicorn_config(app: Litestar, settings: Settings, limits: ConnectionLimits) -> uvicorn.Config:
    http_protocol = http_protocol_class(limits)
    return uvicorn.Config(
        app,
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


class WebServer:
    """uvicorn on `sock`, as one task: `start()` returns once it serves, `stop()` ends it."""

    def __init__(
        self, config: uvicorn.Config, sock: socket.socket, limits: ConnectionLimits
    ) -> None:
        self.server = _Server(config)
        self.sock = sock
        self.limits = limits  # the caps its connections share (`uvicorn_config`)
        self.task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        port: int = self.sock.getsockname()[1]
        return port

    async def start(self) -> bool:
        """Serve; False when uvicorn gave up before it started (it logged why)."""
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]), name="http")
        while not self.server.started and not self.task.done():  # noqa: ASYNC110
            await asyncio.sleep(STARTED_CHECK_S)
        return not self.task.done()

    async def stop(self) -> None:
        if self.task is None:
            return
        self.server.request_exit()
        try:
            async with asyncio.timeout(WEB_SHUTDOWN_S + 1):
                await self.task
        except (TimeoutError, asyncio.CancelledError):
            log.warning("web server did not stop in time")
        except BaseException as exc:
            log.warning("web server stopped with %s: %s", type(exc).__name__, str(exc)[:200])
