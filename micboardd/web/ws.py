"""The three WebSocket endpoints: `/ws/devices/`, `/ws/connections/`, `/ws/health/`.

One handler shape for all three: accept (after the Origin check and the client limits of
web/ws_clients.py), send `initial_data`, then a writer loop that sends what the client's feed
says is due while a reader task answers client messages. Replies (pong, error) go through a
small bounded list the writer drains first, so only one task ever writes to the socket. A
snapshot a client asked for (`subscribe`, `resync`) is only noted there and built when the
writer sends it: a flood of requests costs one snapshot, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.connection.base import empty_receive, empty_send
from litestar.exceptions import WebSocketDisconnect
from litestar.handlers import WebsocketRouteHandler

from micboardd.feed import meterframe
from micboardd.feed.device import DEFAULT_MAX_HZ, MAX_MAX_HZ, DeviceFeed, Feed, Subscription, encode
from micboardd.feed.fanout import Redact
from micboardd.state.groups import Groups
from micboardd.web.context import AppContext
from micboardd.web.http_limits import peer_key
from micboardd.web.security import redact_api_frame, same_origin, session_of, ws_command_refusal
from micboardd.web.ws_clients import (
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN,
    WS_FLOOD_DROPS,
    WS_MESSAGE_RATE_HZ,
    MessageRate,
)
from micboardd.web.ws_tuning import direct_sender, frame_sender

log = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE = 64 * 1024  # client messages are tiny commands; anything bigger is abuse
# A client whose socket has not taken a frame for `ws_send_timeout_s` (default 10 s) is gone
# or on hopeless Wi-Fi: it is closed so it stops holding a slot (it reconnects and resyncs if
# it comes back).
MAX_PENDING_REPLIES = 32  # pongs/errors owed to a client that floods us; beyond, drop
MAX_SUBSCRIBE_DEVICES = 10_000

CLOSE_TOO_SLOW = 4001  # stopped reading
# The close frame to a client that stopped reading may never be taken; give up after 1 s.
CLOSE_TOO_SLOW_WAIT_S = 1.0
# A socket being closed by us (session ended, message flood) first gets what it is owed
# (the error frame saying why), within this.
CLOSE_FLUSH_S = 1.0
# Stands in the reply list for a snapshot (initial_data) owed to the client.
SNAPSHOT = None

_decoder = msgspec.json.Decoder()


class ClientError(Exception):
    """A client message we answer with an `error` frame."""


def origin_allowed(socket: WebSocket[Any, Any, Any], allowed: tuple[str, ...]) -> bool:
    """Same origin (scheme, host, port) as the request, or in the configured allow-list.

    Clients that send no Origin (scripts, curl, the websockets library) are not browsers and
    are not subject to cross-site attacks; they are allowed.
    """
    origin = socket.headers.get("origin")
    if not origin:
        return True
    scheme = "https" if socket.scope.get("scheme") in ("wss", "https") else "http"
    return same_origin(socket.headers, allowed, scheme)


def parse_subscription(msg: dict[str, Any], groups: Groups) -> Subscription:
    """A `subscribe` message; omitted keys take their defaults (ARCHITECTURE.md)."""
    fmt = msg.get("format", "full")
    if fmt not in ("full", "compact"):
        raise ClientError('format must be "full" or "compact"')
    devices = msg.get("devices")
    if devices is not None and (
        not isinstance(devices, list)
        or len(devices) > MAX_SUBSCRIBE_DEVICES
        or not all(isinstance(d, str) for d in devices)
    ):
        raise ClientError("devices must be a list of device ids")
    group = msg.get("group")
    if group is not None and not isinstance(group, str | int):
        raise ClientError("group must be a string")
    max_hz = msg.get("max_hz", DEFAULT_MAX_HZ)
    if (
        isinstance(max_hz, bool)
        or not isinstance(max_hz, int | float)
        or not 0 < max_hz <= MAX_MAX_HZ
    ):
        raise ClientError(f"max_hz must be a number above 0 and at most {MAX_MAX_HZ:g}")
    batch = msg.get("batch", False)
    if not isinstance(batch, bool):
        raise ClientError("batch must be true or false")
    binary = msg.get("binary", False)
    if not isinstance(binary, bool):
        raise ClientError("binary must be true or false")
    if binary and fmt != "compact":
        raise ClientError('binary meters need "format": "compact"')
    selected = frozenset(devices) if devices is not None else None
    if group is not None:
        found = groups.find(group)
        if found is None:
            raise ClientError(f"no group {str(group)[:40]!r}")
        selected = found.devices() if selected is None else selected & found.devices()
    return Subscription(
        format=fmt,
        devices=selected,
        group=str(group) if group is not None else None,
        max_hz=float(max_hz),
        batch=batch,
        binary=binary,
    )


class Connection:
    """One accepted socket and its feed."""

    def __init__(self, ctx: AppContext, socket: WebSocket[Any, Any, Any], feed: Feed) -> None:
        self.ctx = ctx
        self.socket = socket
        self.feed = feed
        # Frames owed to the client, oldest first; SNAPSHOT: initial_data, built when sent.
        self.replies: list[dict[str, Any] | None] = []
        self.session = session_of(socket)  # found by the access guard at the handshake
        self.rate = MessageRate()
        self.closing: tuple[int, str] | None = None  # (code, reason) once we end it
        self.send_timeout_s = float(ctx.settings.ws_send_timeout_s)
        self.address = _address(socket)
        self._send_now = direct_sender(socket.scope)
        self._idle = False  # the writer task sleeps: nothing is owed to this client
        self._unsent: list[bytes] = []  # frames an inline write could not hand to the socket
        if self._send_now is not None:
            feed.on_due = self._on_due
        self._frames = frame_sender(socket.scope)
        if self._frames is not None and isinstance(feed, DeviceFeed):
            feed.on_meters = self._on_meters

    def _on_meters(self, frame: bytes) -> bool:
        """A binary meter frame, the same bytes for every client of the subscription: written
        at once while the writer task sleeps and the socket takes data (False: not sent; the
        feed then owes this client its meters, sent by the writer task)."""
        if not self._idle or self.replies or self._unsent or self.closing or self._frames is None:
            return False
        if not self._frames[0](frame):
            return False
        self._count(frame)
        return True

    def _on_due(self) -> None:
        """Write what just became due at once while the writer task sleeps, else wake it.

        Runs inside the fan-out's hand-over: a hundred phones cost a hundred socket writes,
        not a hundred task wake-ups. Anything the socket will not take now (flow control,
        closing) is left to the writer task, which waits for it within the send timeout.
        """
        if not self._idle or self.replies or self._unsent or self.closing:
            self.feed.wake.set()
            return
        assert self._send_now is not None
        frames = self.feed.take_due()
        if not frames:
            return
        try:
            sent = self._send_now(frames)  # a hand-over's frames in one socket write
        except Exception:  # one client's socket must never break the hand-over loop
            log.exception("inline WebSocket write failed; the writer task takes over")
            sent = False
        if not sent:
            self._unsent = frames
            self.feed.wake.set()
            return
        for data in frames:
            self._count(data)

    def reply(self, frame: dict[str, Any]) -> None:
        if len(self.replies) < MAX_PENDING_REPLIES:
            self.replies.append(frame)
            self.feed.wake.set()

    def owe_snapshot(self) -> None:
        """Send initial_data (as of when it is sent); one owed already covers this request."""
        if SNAPSHOT not in self.replies and len(self.replies) < MAX_PENDING_REPLIES:
            self.replies.append(SNAPSHOT)
            self.feed.wake.set()

    def end(self, code: int, reason: str) -> None:
        """Close this socket: the writer sends what is owed, then the close frame."""
        if self.closing is None:
            self.closing = (code, reason)
            self.feed.wake.set()

    def _snapshot(self) -> bytes:
        self.ctx.counters.count("ws_snapshots")
        return encode(self.feed.initial_frame())

    def error(self, message: str) -> None:
        self.ctx.counters.ws_client_errors += 1
        self.reply({"type": "error", "error": message})

    async def send(self, data: bytes) -> None:
        # The hot path: written at once while the socket takes frames (web/ws_tuning.py);
        # only a paused or closing socket goes the ASGI way, which waits, within the timeout.
        send_now = self._send_now
        if send_now is None or not send_now((data,)):
            if send_now is not None:
                self.ctx.counters.ws_frames_waited += 1
            async with asyncio.timeout(self.send_timeout_s):
                await self.socket.send_data(data.decode(), mode="text")
        self._count(data)

    async def send_binary(self, payload: bytes) -> None:
        """A binary meter frame for this client alone (it missed some): the tuned protocol's
        raw write once the socket takes data, else the ASGI send."""
        async with asyncio.timeout(self.send_timeout_s):
            if self._frames is None:
                await self.socket.send_data(payload, mode="binary")
            else:
                send, wait = self._frames
                frame = meterframe.wire(payload)
                while not send(frame):
                    if not await wait():
                        raise ConnectionResetError("WebSocket closed")
                    self.ctx.counters.ws_frames_waited += 1
        self._count(payload)

    def _count(self, data: bytes) -> None:
        self.ctx.counters.ws_frames_sent += 1
        self.ctx.counters.ws_bytes_sent += len(data)

    def _flooding(self) -> bool:
        """A message over the rate was dropped: say so once, end the socket (True) after
        too many."""
        self.ctx.counters.count("ws_messages_dropped")
        if self.rate.dropped >= WS_FLOOD_DROPS:
            if self.ctx.ws_clients.log_refusal():
                log.warning(
                    "closing a WebSocket client from %s that keeps flooding messages "
                    "(logged once a minute)",
                    self.address,
                    extra={"REMOTE_ADDR": self.address},
                )
            self.end(CLOSE_POLICY, "too many messages")
            return True
        if not self.rate.warned:
            self.rate.warned = True
            self.error(
                f"too many messages: at most {WS_MESSAGE_RATE_HZ:g} a second; "
                "this one and the next ones are dropped until you slow down"
            )
        return False

    async def read_loop(self, on_message: Callable[[dict[str, Any]], None]) -> None:
        while True:
            event = await self.socket.receive()
            if event["type"] == "websocket.disconnect":
                return
            if not self.rate.allow():
                if self._flooding():
                    return
                continue
            text: str | None = event.get("text")  # type: ignore[assignment]
            if text is None:
                if event.get("bytes") is not None:
                    self.error("binary frames are not supported; send JSON text")
                continue
            if len(text) > MAX_CLIENT_MESSAGE:
                self.error(f"message too large ({len(text)} bytes; limit {MAX_CLIENT_MESSAGE})")
                continue
            try:
                msg = _decoder.decode(text)
            except msgspec.DecodeError:
                self.error("message is not valid JSON")
                continue
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                self.error('message must be a JSON object with a "type"')
                continue
            if msg["type"] == "ping":
                self.reply({"type": "pong"})
                continue
            # Commands that change state need an admin session (web/security.py).
            if (refusal := ws_command_refusal(self.session, msg["type"])) is not None:
                self.error(refusal)
                continue
            try:
                on_message(msg)
            except ClientError as exc:
                self.error(str(exc))

    async def write_loop(self) -> None:
        """Send what is due until the connection is ended by us (then return)."""
        feed = self.feed
        while True:
            while self._unsent:  # older than anything below: their seq comes first
                await self.send(self._unsent.pop(0))
            while self.replies:
                frame = self.replies.pop(0)
                await self.send(self._snapshot() if frame is SNAPSHOT else encode(frame))
            if self.closing is not None:
                return
            frames = feed.take_due()
            for data in frames:
                await self.send(data)
            meters = feed.take_meters() if isinstance(feed, DeviceFeed) else None
            if meters is not None:
                await self.send_binary(meters)
            if not frames and meters is None and not self.replies and not self._unsent:
                self._idle = True
                try:
                    await feed.wait()
                finally:
                    self._idle = False

    async def run(self, on_message: Callable[[dict[str, Any]], None]) -> None:
        await self.send(self._snapshot())
        reader = asyncio.create_task(self.read_loop(on_message))
        writer = asyncio.create_task(self.write_loop())
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            if self.closing is not None:
                if not writer.done():  # let it send what is owed (the error frame)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(CLOSE_FLUSH_S):
                            await asyncio.wait({writer})
                code, reason = self.closing
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(CLOSE_TOO_SLOW_WAIT_S):
                        await self.socket.close(code, reason)
                return
            for task in done:
                exc = task.exception()
                if isinstance(exc, TimeoutError):
                    log.info(
                        "closing a WebSocket client that stopped reading for %.0f s",
                        self.send_timeout_s,
                    )
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(CLOSE_TOO_SLOW_WAIT_S):
                            await self.socket.close(CLOSE_TOO_SLOW, "too slow")
                elif exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
                    log.error("WebSocket handler failed", exc_info=exc)
        finally:
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
            # The feed points back at us (on_due): without this the pair, the socket and the
            # protocol behind it wait for a full garbage collection (web/ws_tuned.py).
            self.feed.on_due = None
            if isinstance(self.feed, DeviceFeed):
                self.feed.on_meters = None
            self._send_now = None
            self._frames = None


def _address(socket: WebSocket[Any, Any, Any]) -> str:
    return peer_key(socket.client.host) if socket.client else "unknown"


async def _admit(ctx: AppContext, socket: WebSocket[Any, Any, Any]) -> bool:
    if not origin_allowed(socket, ctx.settings.allowed_origins):
        log.warning("refused a WebSocket from origin %s", socket.headers.get("origin"))
        await socket.close(CLOSE_POLICY, "origin not allowed")
        return False
    await socket.accept()
    address = _address(socket)
    refused = ctx.ws_clients.refusal(
        address,
        session_of(socket),
        ctx.settings.max_clients,
        ctx.settings.max_clients_per_address,
    )
    if refused is not None:
        reason, why = refused
        ctx.counters.count("ws_clients_refused")
        if ctx.ws_clients.log_refusal():
            log.warning(
                "refused a WebSocket client from %s: %s (logged once a minute)",
                address,
                why,
                extra={"REMOTE_ADDR": address},
            )
        await socket.close(CLOSE_TRY_AGAIN, reason)
        return False
    return True


async def _serve(
    ctx: AppContext,
    socket: WebSocket[Any, Any, Any],
    feed: Feed,
    on_message: Callable[[Connection, dict[str, Any]], None],
) -> None:
    """Run one admitted client until it goes; its slot and feed are given back after."""
    conn = Connection(ctx, socket, feed)
    ctx.ws_clients.add(conn, conn.address)
    try:
        await conn.run(lambda msg: on_message(conn, msg))
    finally:
        ctx.ws_clients.remove(conn)
        ctx.fanout.drop(feed)


def let_go(socket: WebSocket[Any, Any, Any]) -> None:
    """The handler is done with this socket: break the cycles Litestar's WebSocket keeps
    with its send and receive wrappers (closures over the WebSocket itself).

    Only a full garbage collection frees such a cycle, minutes apart under steady load, and
    through the WebSocket's send and receive it keeps uvicorn's protocol for the connection,
    with everything it holds (web/ws_tuned.py releases the rest). Nothing reads from
    the socket after its handler returned, nor writes to it.
    """
    socket.receive = empty_receive
    socket.send = empty_send


def websocket_handlers(ctx: AppContext) -> list[WebsocketRouteHandler]:
    fan = ctx.fanout

    async def serve_devices(socket: WebSocket[Any, Any, Any]) -> None:
        if not await _admit(ctx, socket):
            return
        feed: DeviceFeed = fan.new_device_feed()

        def on_message(conn: Connection, msg: dict[str, Any]) -> None:
            kind = msg["type"]
            if kind == "subscribe":
                fan.subscribe(feed, parse_subscription(msg, ctx.groups))
                conn.owe_snapshot()
            elif kind == "resync":
                conn.owe_snapshot()
            else:
                raise ClientError(f"unknown message type {kind[:40]!r}")

        await _serve(ctx, socket, feed, on_message)

    @websocket("/ws/devices/")
    async def devices(socket: WebSocket[Any, Any, Any]) -> None:
        try:
            await serve_devices(socket)
        finally:
            let_go(socket)

    def keyed(path: str, make: Callable[[Redact | None], Any]) -> WebsocketRouteHandler:
        async def serve(socket: WebSocket[Any, Any, Any]) -> None:
            if not await _admit(ctx, socket):
                return
            # Without a session the System API is only "the System API" (security.py).
            feed = make(None if session_of(socket) is not None else redact_api_frame)

            def on_message(conn: Connection, msg: dict[str, Any]) -> None:
                if msg["type"] == "resync":
                    conn.owe_snapshot()
                else:
                    raise ClientError(f"unknown message type {msg['type'][:40]!r}")

            await _serve(ctx, socket, feed, on_message)

        @websocket(path)
        async def handler(socket: WebSocket[Any, Any, Any]) -> None:
            try:
                await serve(socket)
            finally:
                let_go(socket)

        return handler

    return [
        devices,
        keyed("/ws/connections/", fan.new_connection_feed),
        keyed("/ws/health/", fan.new_health_feed),
    ]
