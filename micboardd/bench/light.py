"""A WebSocket client that only counts: the benchmark's many phones.

A hundred clients of the websockets library in one process cost more than the daemon they
measure (inflating and decoding every message): the bench process fell behind and the
daemon's writes to it slowed down, which flattered the daemon. These clients negotiate
permessage-deflate as a browser does, then count the bytes and frames that arrive, walking
frame headers only to answer pings; past their first few messages (until the snapshot of
their subscription has come, which the benchmark waits for) they never inflate or parse a
payload.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import zlib
from typing import Any
from urllib.parse import urlsplit

# A WebSocket handshake on loopback: generous for a loaded machine.
HANDSHAKE_S = 20.0
_PING, _PONG = 0x9, 0xA
# What permessage-deflate strips from the end of every compressed message (RFC 7692 7.2.2).
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (RFC 6455: clients mask)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


class _Counter(asyncio.Protocol):
    def __init__(self, probe: Any, snapshots: int) -> None:
        self.probe = probe
        # Until the probe is live (the subscription's snapshot and a frame after it): the
        # initial_data frames still to come, and an inflater to recognise them. Only the
        # first few messages are inflated; the context is dropped once live.
        self.snapshots = snapshots
        self.inflater: Any = zlib.decompressobj(-15)
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.handshake.done():
            self.buf += data
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.handshake.set_exception(ConnectionError(bytes(self.buf[:80]).decode()))
                return
            rest = bytes(self.buf[end + 4 :])
            self.buf.clear()
            self.handshake.set_result(None)
            if rest:
                self.data_received(rest)
            return
        self.probe.wire_bytes += len(data)
        self.buf += data
        self._frames()

    def _frames(self) -> None:
        buf, at = self.buf, 0
        while len(buf) - at >= 2:
            opcode, n = buf[at] & 0x0F, buf[at + 1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) - at < 4:
                    break
                n, head = struct.unpack_from("!H", buf, at + 2)[0], 4
            elif n == 127:
                if len(buf) - at < 10:
                    break
                n, head = struct.unpack_from("!Q", buf, at + 2)[0], 10
            if len(buf) - at < head + n:
                break
            if opcode == _PING and self.transport is not None:
                self.transport.write(_masked(_PONG, bytes(buf[at + head : at + head + n])))
            elif opcode in (0x1, 0x2):
                self.probe.frames += 1
                if not self.probe.live:
                    self._until_live(buf[at], bytes(buf[at + head : at + head + n]))
            at += head + n
        del buf[:at]

    def _until_live(self, first: int, payload: bytes) -> None:
        if first & 0x0F == 0x1:  # text: inflated (RSV1) to tell initial_data from the rest
            if first & 0x40:
                payload = self.inflater.decompress(payload + _DEFLATE_TAIL)
            if b'"initial_data"' in payload[:40]:
                self.snapshots -= 1
                return
        if self.snapshots <= 0:
            self.probe.live = True
            self.inflater = None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionError("closed in the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)


async def light_client(
    url: str, subscribe: dict[str, Any] | None, probe: Any, stop: asyncio.Event
) -> None:
    """Connect to `url` (ws://host:port/path), subscribe, count until `stop`."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    snapshots = 1 if subscribe is None else 2  # the socket's own, and the subscription's
    transport, proto = await loop.create_connection(
        lambda: _Counter(probe, snapshots), parts.hostname or "127.0.0.1", parts.port or 80
    )
    key = base64.b64encode(os.urandom(16)).decode()
    transport.write(
        (
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        ).encode()
    )
    try:
        async with asyncio.timeout(HANDSHAKE_S):
            await proto.handshake
        if subscribe is not None:
            message = json.dumps({"type": "subscribe", **subscribe}).encode()
            transport.write(_masked(0x1, message))
        stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        closed: asyncio.Future[Any] = proto.closed
        await asyncio.wait({stopped, closed}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
    finally:
        if not transport.is_closing():
            transport.write(_masked(0x8, struct.pack("!H", 1000)))
        transport.close()
