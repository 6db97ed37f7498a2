"""Byte links to a receiver: TCP (most families) and UDP (UHF-R), one small interface.

Two ways to read: `recv()` (the discovery probe, a few answers) or `deliver_to(sink)`, which
hands every chunk to a synchronous callback (a receiver session: meters come about ten times
a second per receiver, and a task wake-up and a future per chunk were a measurable part of
reading them). A TCP link in delivery mode is read on the loop's read tick
(`micboardd.pacing`) with every other receiver, not as each write arrives, unless it is
made `prompt()` (while a round trip is timed). A link in delivery mode reports its end,
EOF, error or an exception of the sink, through `failed()`.

A link only moves bytes; framing, parsing and timing live in the codec and the session.
Every failure leaves here as `ConnectionFailed` (or `PeerTimeout`), chained to its cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from typing import Protocol, cast

from micboardd.errors import ConnectionFailed, PeerTimeout
from micboardd.pacing import ReadTick, read_tick

# A receiver on the same LAN accepts within milliseconds; 5 s covers a congested venue
# switch and a receiver still booting, yet lets a dead address fail fast.
CONNECT_TIMEOUT_S = 5.0
# Writes are tiny commands; a receiver that cannot take 64 bytes in 5 s is gone.
WRITE_TIMEOUT_S = 5.0
# Closing waits this long for the FIN to go out; a dead peer must not hold up a shutdown.
CLOSE_WAIT_S = 1.0
READ_CHUNK = 65536
# Reads of one socket per read tick, at most: a receiver that floods (or garbage on its
# port) costs at most 1 MB of work a tick; the kernel holds the rest and TCP slows the peer.
MAX_READS_PER_TICK = 16
# What recv() mode may buffer before pausing the socket (asyncio's default for streams).
READ_LIMIT = 64 * 1024
# TCP keepalive: notice a vanished receiver (power cut, cable pulled) in ~25 s even when the
# silence watchdog is off; QLX-D firmware is known to lock up on half-open connections.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
# UHF-R answers over UDP; datagrams waiting for the session beyond this are dropped (oldest
# first would need a deque; a full queue means the session is stuck, and fresh data wins).
UDP_QUEUE_DATAGRAMS = 1024


Sink = Callable[[bytes], None]


class Link(Protocol):
    @property
    def peer(self) -> str: ...
    async def send(self, data: bytes) -> None: ...
    async def recv(self) -> bytes: ...
    def deliver_to(self, sink: Sink) -> None: ...
    def prompt(self, on: bool) -> None: ...
    def read_now(self) -> None: ...
    async def failed(self) -> None: ...
    async def close(self) -> None: ...


class _Delivery:
    """Delivery mode of a link: the sink, and the first failure (raised by `failed()`)."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.sink: Sink | None = None
        self.failure: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_end: Callable[[], None] | None = None  # run once, when the link ends

    def deliver(self, data: bytes) -> None:
        assert self.sink is not None
        if self.failure.done():  # ended (closing, or the sink failed): nobody is listening
            return
        try:
            self.sink(data)
        except Exception as exc:  # the session's processing failed: end the link with it
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        if not self.failure.done():
            self.failure.set_exception(exc)
            self.failure.exception()  # nobody may ask (recv() mode): not "never retrieved"
            if self.on_end is not None:
                self.on_end()

    async def failed(self) -> None:
        """Wait for the link to end; raise why (ConnectionFailed, or the sink's exception)."""
        if self.sink is None:
            raise RuntimeError("failed() needs deliver_to() first")
        await asyncio.shield(self.failure)


class _SinkReader(asyncio.StreamReader):
    """A StreamReader that, once a sink is set, hands each chunk to it instead of buffering."""

    def __init__(self, delivery: _Delivery, limit: int) -> None:
        super().__init__(limit=limit)
        self.delivery = delivery

    def feed_data(self, data: bytes) -> None:  # type: ignore[override]  # asyncio passes bytes
        if self.delivery.sink is None:
            super().feed_data(data)
        else:
            self.delivery.deliver(data)

    def feed_eof(self) -> None:
        super().feed_eof()
        self.delivery.fail(
            ConnectionFailed(f"{self.delivery.peer}: connection closed by the receiver")
        )

    def set_exception(self, exc: Exception) -> None:
        super().set_exception(exc)
        failure = ConnectionFailed(f"{self.delivery.peer}: read failed: {exc}")
        failure.__cause__ = exc
        self.delivery.fail(failure)


class _SinkProtocol(asyncio.StreamReaderProtocol):
    """The stream protocol, handing chunks straight to the sink once one is set (a
    metering receiver's every write: two calls fewer than through the reader)."""

    def __init__(self, reader: _SinkReader) -> None:
        super().__init__(reader)
        self._delivery = reader.delivery

    def data_received(self, data: bytes) -> None:
        delivery = self._delivery
        sink = delivery.sink
        if sink is None:
            super().data_received(data)
        elif not delivery.failure.done():  # `delivery.deliver(data)` written out
            try:
                sink(data)
            except Exception as exc:
                delivery.fail(exc)


def _keepalive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
    ):
        if hasattr(socket, opt):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class TcpLink:
    def __init__(self, reader: _SinkReader, writer: asyncio.StreamWriter, peer: str) -> None:
        self._reader = reader
        self._writer = writer
        self._peer = peer
        # Delivery mode reads this second descriptor of the socket on the read tick while
        # the transport's reading is paused: the transport may close its own descriptor
        # (a failed write) before anyone hears of it, and a number read after that could
        # be another connection's; this one stays ours until the link ends.
        self._polled: socket.socket | None = None
        self._tick: ReadTick | None = None
        self._prompt = False

    def deliver_to(self, sink: Sink) -> None:
        """Hand every chunk to `sink` from now on, read on the loop's read tick. Set it
        before sending the first command: bytes buffered for `recv()` until then are not
        replayed."""
        delivery = self._reader.delivery
        delivery.sink = sink
        sock = self._writer.get_extra_info("socket")
        if sock is None or delivery.failure.done() or self._polled is not None:
            return  # no socket to read (a test's transport): the transport delivers
        self._polled = socket.socket(fileno=os.dup(sock.fileno()))
        self._polled.setblocking(False)
        self._transport().pause_reading()
        self._tick = read_tick()
        self._tick.add(self._polled.fileno(), self._read_polled)
        delivery.on_end = self._stop_polling

    def prompt(self, on: bool) -> None:
        """Read each write as it arrives (on) or on the read tick (off): prompt while an
        answer is awaited whose round trip is reported, so the latency shown is the
        receiver's, not the tick's. The transport's own reading stays paused: switching it
        back and forth left its socket waking the loop when it was paused again (uvloop)."""
        sock = self._polled
        if sock is None or on == self._prompt:
            return
        loop = asyncio.get_running_loop()
        if on:
            self._read()  # what came before goes first, in order
            loop.add_reader(sock.fileno(), self._read)
        else:
            loop.remove_reader(sock.fileno())
        self._prompt = on

    def _transport(self) -> asyncio.Transport:
        # open_tcp's transport is a full one (it reads); StreamWriter types it write-only.
        return cast(asyncio.Transport, self._writer.transport)

    def read_now(self) -> None:
        """Deliver what is waiting now, without waiting for the tick (the silence watchdog
        reads before it decides a receiver went quiet)."""
        self._read()

    def _read_polled(self) -> None:
        if not self._prompt:  # a prompt link is read as its bytes come
            self._read()

    def _read(self) -> None:
        sock, delivery = self._polled, self._reader.delivery
        if sock is None:
            return
        for _ in range(MAX_READS_PER_TICK):
            try:
                data = sock.recv(READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                failure = ConnectionFailed(f"{self._peer}: read failed: {_reason(exc)}")
                failure.__cause__ = exc
                delivery.fail(failure)
                return
            if not data:
                delivery.fail(ConnectionFailed(f"{self._peer}: connection closed by the receiver"))
                return
            delivery.deliver(data)
            if len(data) < READ_CHUNK or delivery.failure.done():
                return

    def _stop_polling(self) -> None:
        sock, self._polled = self._polled, None
        if sock is not None:
            if self._prompt:
                self._prompt = False
                asyncio.get_running_loop().remove_reader(sock.fileno())
            if self._tick is not None:
                self._tick.discard(sock.fileno())
            sock.close()

    async def failed(self) -> None:
        await self._reader.delivery.failed()

    @property
    def peer(self) -> str:
        return self._peer

    async def send(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self._writer.drain()
        except TimeoutError as exc:
            raise PeerTimeout(f"{self._peer}: write timed out after {WRITE_TIMEOUT_S:g} s") from exc
        except (OSError, RuntimeError) as exc:
            raise ConnectionFailed(f"{self._peer}: write failed: {exc}") from exc

    async def recv(self) -> bytes:
        try:
            data = await self._reader.read(READ_CHUNK)
        except OSError as exc:
            raise ConnectionFailed(f"{self._peer}: read failed: {exc}") from exc
        if not data:
            raise ConnectionFailed(f"{self._peer}: connection closed by the receiver")
        return data

    async def close(self) -> None:
        self._reader.delivery.fail(ConnectionFailed(f"{self._peer}: link closed"))
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            async with asyncio.timeout(CLOSE_WAIT_S):
                await self._writer.wait_closed()


def _reason(exc: Exception) -> str:
    # asyncio words a refusal "Connect call failed (...)": the errno says what happened.
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return str(exc)


async def open_tcp(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> TcpLink:
    peer = f"{host}:{port}"
    loop = asyncio.get_running_loop()
    # asyncio.open_connection, with our reader: it can deliver without buffering.
    reader = _SinkReader(_Delivery(peer), READ_LIMIT)
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await loop.create_connection(
                lambda: _SinkProtocol(reader), host, port
            )
    except TimeoutError as exc:
        raise PeerTimeout(f"{peer}: no answer to connect within {timeout:g} s") from exc
    except (OSError, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode
        raise ConnectionFailed(f"{peer}: cannot connect: {_reason(exc)}") from exc
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            _keepalive(sock)
    return TcpLink(reader, writer, peer)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, peer: str) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue(UDP_QUEUE_DATAGRAMS)
        self.delivery = _Delivery(peer)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.delivery.sink is not None:
            self.delivery.deliver(data)
        elif not self.queue.full():
            self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable arrives here: the receiver is off or not a UHF-R.
        if self.delivery.sink is not None:
            failure = ConnectionFailed(f"{self.delivery.peer}: {exc}")
            failure.__cause__ = exc
            self.delivery.fail(failure)
        elif not self.queue.full():
            self.queue.put_nowait(exc)


class UdpLink:
    def __init__(
        self, transport: asyncio.DatagramTransport, proto: _UdpProtocol, peer: str
    ) -> None:
        self._transport = transport
        self._proto = proto
        self._peer = peer

    @property
    def peer(self) -> str:
        return self._peer

    async def send(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionFailed(f"{self._peer}: link closed")
        try:
            self._transport.sendto(data)
        except OSError as exc:
            raise ConnectionFailed(f"{self._peer}: send failed: {exc}") from exc

    async def recv(self) -> bytes:
        item = await self._proto.queue.get()
        if isinstance(item, Exception):
            raise ConnectionFailed(f"{self._peer}: {item}") from item
        return item

    def deliver_to(self, sink: Sink) -> None:
        """Hand every datagram to `sink` from now on (set it before the first command)."""
        self._proto.delivery.sink = sink

    # UHF-R (the only UDP family) is rare and slow-metering: read as datagrams arrive.
    def prompt(self, on: bool) -> None:
        pass

    def read_now(self) -> None:
        pass

    async def failed(self) -> None:
        await self._proto.delivery.failed()

    async def close(self) -> None:
        self._proto.delivery.fail(ConnectionFailed(f"{self._peer}: link closed"))
        self._transport.close()


async def open_udp(host: str, port: int) -> UdpLink:
    peer = f"{host}:{port}/udp"
    loop = asyncio.get_running_loop()
    try:
        transport, proto = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(peer), remote_addr=(host, port)
        )
    except (OSError, UnicodeError) as exc:
        raise ConnectionFailed(f"{peer}: cannot open: {_reason(exc)}") from exc
    return UdpLink(transport, proto, peer)


async def open_link(
    host: str, port: int, transport: str, timeout: float = CONNECT_TIMEOUT_S
) -> Link:
    if transport == "udp":
        return await open_udp(host, port)
    return await open_tcp(host, port, timeout)
