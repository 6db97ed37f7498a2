"""Byte links to a receiver: TCP (most families) and UDP (UHF-R), one small interface.

A link only moves bytes; framing, parsing and timing live in the codec and the session.
Every failure leaves here as `ConnectionFailed` (or `PeerTimeout`), chained to its cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Protocol

from micboardd.errors import ConnectionFailed, PeerTimeout

# A receiver on the same LAN accepts within milliseconds; 5 s covers a congested venue
# switch and a receiver still booting, yet lets a dead address fail fast.
CONNECT_TIMEOUT_S = 5.0
# Writes are tiny commands; a receiver that cannot take 64 bytes in 5 s is gone.
WRITE_TIMEOUT_S = 5.0
READ_CHUNK = 65536
# TCP keepalive: notice a vanished receiver (power cut, cable pulled) in ~25 s even when the
# silence watchdog is off; QLX-D firmware is known to lock up on half-open connections.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
# UHF-R answers over UDP; datagrams waiting for the session beyond this are dropped (oldest
# first would need a deque; a full queue means the session is stuck, and fresh data wins).
UDP_QUEUE_DATAGRAMS = 1024


class Link(Protocol):
    @property
    def peer(self) -> str: ...
    async def send(self, data: bytes) -> None: ...
    async def recv(self) -> bytes: ...
    async def close(self) -> None: ...


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
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._peer = peer

    @property
    def peer(self) -> str:
        return self._peer

    async def send(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), WRITE_TIMEOUT_S)
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
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)


async def open_tcp(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> TcpLink:
    peer = f"{host}:{port}"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError as exc:
        raise PeerTimeout(f"{peer}: no answer to connect within {timeout:g} s") from exc
    except OSError as exc:
        raise ConnectionFailed(f"{peer}: cannot connect: {exc.strerror or exc}") from exc
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            _keepalive(sock)
    return TcpLink(reader, writer, peer)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue(UDP_QUEUE_DATAGRAMS)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if not self.queue.full():
            self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable arrives here: the receiver is off or not a UHF-R.
        if not self.queue.full():
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

    async def close(self) -> None:
        self._transport.close()


async def open_udp(host: str, port: int) -> UdpLink:
    peer = f"{host}:{port}/udp"
    loop = asyncio.get_running_loop()
    try:
        transport, proto = await loop.create_datagram_endpoint(
            _UdpProtocol, remote_addr=(host, port)
        )
    except OSError as exc:
        raise ConnectionFailed(f"{peer}: cannot open: {exc.strerror or exc}") from exc
    return UdpLink(transport, proto, peer)


async def open_link(
    host: str, port: int, transport: str, timeout: float = CONNECT_TIMEOUT_S
) -> Link:
    if transport == "udp":
        return await open_udp(host, port)
    return await open_tcp(host, port, timeout)
