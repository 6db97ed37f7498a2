"""Minimal protocol clients for simulator tests: real sockets, frames decoded by the codec.

They only collect what arrives; tests wait on conditions with deadlines (`wait_for`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from micboardd.shure.codec import Frame, Framing, MessageKind
from micboardd.shure.decoder import StreamDecoder

DEADLINE_S = 3.0
POLL_S = 0.01

FramePred = Callable[[Frame], bool]


async def until(predicate: Callable[[], bool], timeout: float = DEADLINE_S, what: str = "") -> None:
    """Poll `predicate` until true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(POLL_S)


def rep(prop: str, channel: int | None = None, *args: str) -> FramePred:
    """Matches a REP/REPORT of `prop` (and channel / values when given)."""

    def pred(frame: Frame) -> bool:
        return (
            frame.kind in (MessageKind.REP, MessageKind.REPORT)
            and frame.prop == prop
            and (channel is None or frame.channel == channel)
            and (not args or frame.args == args)
        )

    return pred


def sample(channel: int | None = None) -> FramePred:
    def pred(frame: Frame) -> bool:
        return frame.kind is MessageKind.SAMPLE and (channel is None or frame.channel == channel)

    return pred


def is_err(frame: Frame) -> bool:
    return frame.kind is MessageKind.ERR


class _Collector:
    def __init__(self, framing: Framing) -> None:
        self.decoder = StreamDecoder(framing)
        self.frames: list[Frame] = []
        self.chunks: list[bytes] = []

    def _feed(self, data: bytes) -> None:
        self.chunks.append(data)
        self.frames.extend(self.decoder.feed(data))

    def matching(self, pred: FramePred, start: int = 0) -> list[Frame]:
        return [f for f in self.frames[start:] if pred(f)]

    def index_of(self, pred: FramePred, start: int = 0) -> int:
        """Position of the first frame from `start` that matches (frames compare by value)."""
        return next(i for i in range(start, len(self.frames)) if pred(self.frames[i]))

    async def wait_for(
        self, pred: FramePred, count: int = 1, *, start: int = 0, timeout: float = DEADLINE_S
    ) -> list[Frame]:
        """Wait until `count` frames from index `start` match; return them."""
        await until(lambda: len(self.matching(pred, start)) >= count, timeout, f"{count} frames")
        return self.matching(pred, start)


class TcpClient(_Collector):
    """A controller connected to a simulated receiver over TCP."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(Framing.ANGLE)
        self.reader = reader
        self.writer = writer
        self.closed = False
        self.reset = False
        self._task = asyncio.get_running_loop().create_task(self._pump())

    @classmethod
    async def connect(cls, host: str, port: int) -> TcpClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def _pump(self) -> None:
        try:
            while data := await self.reader.read(65536):
                self._feed(data)
        except ConnectionResetError:
            self.reset = True
        self.closed = True

    def send(self, *commands: str) -> None:
        self.writer.write("".join(commands).encode("ascii"))

    async def close(self) -> None:
        self._task.cancel()
        self.writer.close()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self.sink = sink

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sink(data)


class UdpClient(_Collector):
    """A controller talking to a simulated UHF-R receiver over UDP."""

    def __init__(self) -> None:
        super().__init__(Framing.STAR)
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def connect(cls, host: str, port: int) -> UdpClient:
        client = cls()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(client._feed), remote_addr=(host, port)
        )
        client.transport = transport
        return client

    def send(self, command: str) -> None:
        assert self.transport is not None
        self.transport.sendto(command.encode("ascii"))

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
