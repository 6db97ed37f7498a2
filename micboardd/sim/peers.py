"""The clients of a simulated receiver: one per TCP connection or UHF-R source address.

Each peer has its own meter subscriptions and writer; a TCP peer queues output (bounded, as a
receiver with a full socket buffer drops it) and coalesces what is pending into one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import zlib
from collections.abc import Coroutine, Sequence
from typing import Any

from micboardd.shure.codec import Framing
from micboardd.shure.decoder import StreamDecoder
from micboardd.sim.host import PeerHost

log = logging.getLogger(__name__)

# Pause between the two halves of a split write, so they leave as separate TCP segments.
SPLIT_WRITE_PAUSE_S = 0.001
# Pause after each byte in slow-drip mode: one byte per segment, like a congested link.
SLOW_DRIP_BYTE_S = 0.002
# Chunks queued for a client that does not read; beyond this new output is dropped, as a
# receiver with a full socket buffer would, instead of growing without bound.
MAX_PENDING_WRITES = 4096
# An unterminated line kept while waiting for its CRLF (PSM1000); longer is garbage.
MAX_LINE_BYTES = 1024


def last_sampling_instant(now: float, period: float, address: str) -> float:
    """The latest instant at or before `now` at which a receiver metering every `period`
    seconds takes a sample.

    A receiver samples on its own clock, whoever asks: its instants fall on a phase of the
    period fixed by its address, the same for every client (two daemons side by side in a
    benchmark see the same timing), and spread over the period across receivers, as
    independent boxes are (25 receivers are not in step: each write is its own wake-up).
    """
    phase = zlib.crc32(address.encode()) % 1000 / 1000 * period
    return now - (now - phase) % period


class Peer:
    """One client of the receiver: a TCP connection or a UHF-R source address."""

    def __init__(self, rx: PeerHost, label: str) -> None:
        self.rx = rx
        self.label = label
        self.decoder = StreamDecoder(Framing.STAR if rx.wire.start == "*" else Framing.ANGLE)
        self.meters: dict[int, int] = {}  # channel -> interval in ms
        self._line = b""  # an unfinished CRLF line (PSM1000 acts only on whole lines)
        self._meter_tasks: dict[int, asyncio.Task[None]] = {}  # interval -> task
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def whole_lines(self, data: bytes) -> bytes:
        """The CRLF-terminated lines completed by `data` that hold exactly one command
        (a P10T ignores run-on strings); the rest waits for its CRLF or is dropped."""
        self._line += data
        *lines, self._line = self._line.split(b"\r\n")
        self._line = self._line[-MAX_LINE_BYTES:]
        ok = [line for line in lines if line.count(b">") == 1 and line.strip().endswith(b">")]
        return b"".join(ok)

    def send(self, frames: Sequence[str]) -> None:
        if frames and not self.rx.frozen:
            self.send_raw("".join(frames).encode("ascii", errors="replace"))

    def send_raw(self, data: bytes) -> None:
        raise NotImplementedError

    def meter_rate(self, channel: int) -> int:
        return self.meters.get(channel, 0)

    def set_meters(self, channels: Sequence[int], interval_ms: int) -> None:
        """Start (or, with 0, stop) metering `channels` every `interval_ms` for this client."""
        for number in channels:
            if interval_ms:
                self.meters[number] = interval_ms
            else:
                self.meters.pop(number, None)
        wanted = set(self.meters.values())
        for interval, task in list(self._meter_tasks.items()):
            if interval not in wanted:
                task.cancel()
                del self._meter_tasks[interval]
        for interval in wanted - self._meter_tasks.keys():
            self._meter_tasks[interval] = self.spawn(self._meter_loop(interval))

    async def _meter_loop(self, interval_ms: int) -> None:
        loop = asyncio.get_running_loop()
        period = interval_ms / 1000
        due = last_sampling_instant(loop.time(), period, self.rx.address)
        while True:
            due += period
            await asyncio.sleep(max(0.0, due - loop.time()))
            late = loop.time() - due
            if late > period:  # fell behind (slow client, busy loop): no catch-up burst
                due += late // period * period
            channels = sorted(n for n, ms in self.meters.items() if ms == interval_ms)
            self.send([f for n in channels for f in self.rx.meter_frames(n)])

    async def close(self) -> None:
        """Stop this client's background tasks."""
        self.meters.clear()
        self._meter_tasks.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class TcpPeer(Peer):
    def __init__(self, rx: PeerHost, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        super().__init__(rx, f"{peer[0]}:{peer[1]}" if peer else "?")
        self.writer = writer
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(MAX_PENDING_WRITES)
        self.dropped = 0
        self.spawn(self._write_loop())

    def send_raw(self, data: bytes) -> None:
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped += 1

    async def _write_loop(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                chunks = [await self._queue.get()]
                while not self._queue.empty():  # coalesce all pending frames, as receivers do
                    chunks.append(self._queue.get_nowait())
                await self._write(b"".join(chunks))

    async def _write(self, data: bytes) -> None:
        writer = self.writer
        if self.rx.dripping:
            for i in range(len(data)):
                writer.write(data[i : i + 1])
                await writer.drain()
                await asyncio.sleep(SLOW_DRIP_BYTE_S)
            return
        if self.rx.split_writes and len(data) > 1:
            cut = self.rx.rng.randint(1, len(data) - 1)
            writer.write(data[:cut])
            await writer.drain()
            await asyncio.sleep(SPLIT_WRITE_PAUSE_S)
            data = data[cut:]
        writer.write(data)
        await writer.drain()

    def abort(self) -> None:
        """Drop the connection at once (RST), as a receiver losing power mid-stream."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def close(self) -> None:
        await super().close()
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


class UdpPeer(Peer):
    def __init__(self, rx: PeerHost, addr: tuple[str, int]) -> None:
        super().__init__(rx, f"{addr[0]}:{addr[1]}")
        self.addr = addr

    def send(self, frames: Sequence[str]) -> None:
        # One datagram per frame: a UDP receiver never splits or coalesces.
        for frame in frames:
            if not self.rx.frozen:
                self.send_raw(frame.encode("ascii", errors="replace"))

    def send_raw(self, data: bytes) -> None:
        transport = self.rx.udp_transport
        if transport is not None and not transport.is_closing():
            transport.sendto(data, self.addr)


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, rx: PeerHost) -> None:
        self.rx = rx

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.rx.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("%s: UDP error %s", self.rx.address, exc)
