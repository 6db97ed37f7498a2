"""UDP clients for the Sennheiser simulators: real sockets, datagrams parsed by the codecs.

Every test gets fresh loopback addresses of its own (`senn_host()`), so a client can bind the
Media Control Protocol's fixed port 53212 without meeting another test's socket.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from types import EllipsisType
from typing import Any, cast

from micboardd.errors import ProtocolError
from micboardd.sennheiser import mcp, ssc1

from .wireclient import DEADLINE_S, until

# 127.19.x.y: issue 19's own corner of loopback; the third octet keeps concurrent runs apart.
_HOSTS = (f"127.19.{os.getpid() % 250}.{i % 250 + 2}" for i in itertools.count())


def senn_host() -> str:
    return next(_HOSTS)


class DatagramClient(asyncio.DatagramProtocol):
    """Sends datagrams to one address and collects every datagram that comes back."""

    def __init__(self, remote: tuple[str, int]) -> None:
        self.remote = remote
        self.datagrams: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, remote: tuple[str, int], local: tuple[str, int]) -> Any:
        loop = asyncio.get_running_loop()
        client = cls(remote)
        transport, _ = await loop.create_datagram_endpoint(lambda: client, local_addr=local)
        client.transport = transport
        return client

    @property
    def local(self) -> tuple[str, int]:
        assert self.transport is not None
        sockname: tuple[str, int] = self.transport.get_extra_info("sockname")
        return sockname

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's UDP transport is not a DatagramTransport subclass on Python 3.11.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams.append(data)

    def error_received(self, exc: Exception) -> None:
        pass  # port unreachable while a simulator is powered off

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data, self.remote)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def wait_count(self, count: int, timeout: float = DEADLINE_S) -> None:
        await until(lambda: len(self.datagrams) >= count, timeout, f"{count} datagrams")


class SscClient(DatagramClient):
    def messages(self, start: int = 0) -> list[ssc1.Message]:
        out: list[ssc1.Message] = []
        for data in self.datagrams[start:]:
            try:
                out += ssc1.parse_datagram(data)
            except ProtocolError:
                pass
        return out

    def matching(self, pred: Callable[[ssc1.Message], bool], start: int = 0) -> list[ssc1.Message]:
        return [m for m in self.messages(start) if pred(m)]

    async def wait_for(
        self,
        pred: Callable[[ssc1.Message], bool],
        count: int = 1,
        *,
        start: int = 0,
        timeout: float = DEADLINE_S,
    ) -> list[ssc1.Message]:
        await until(lambda: len(self.matching(pred, start)) >= count, timeout, f"{count} messages")
        return self.matching(pred, start)


class McpClient(DatagramClient):
    def messages(self, start: int = 0) -> list[mcp.McpMessage]:
        return [m for d in self.datagrams[start:] for m in mcp.parse_datagram(d)]

    def matching(self, pred: Callable[[mcp.McpMessage], bool], start: int = 0) -> list[Any]:
        return [m for m in self.messages(start) if pred(m)]

    async def wait_for(
        self,
        pred: Callable[[mcp.McpMessage], bool],
        count: int = 1,
        *,
        start: int = 0,
        timeout: float = DEADLINE_S,
    ) -> list[Any]:
        await until(lambda: len(self.matching(pred, start)) >= count, timeout, f"{count} messages")
        return self.matching(pred, start)


def is_value(where: ssc1.Path, value: Any = ...) -> Callable[[ssc1.Message], bool]:
    def pred(m: ssc1.Message) -> bool:
        return (
            isinstance(m, ssc1.Value | ssc1.Meter)
            and m.path == where
            and (value is ... or m.value == value)
        )

    return pred


def is_error(
    code: int, where: ssc1.Path | EllipsisType | None = ...
) -> Callable[[ssc1.Message], bool]:
    def pred(m: ssc1.Message) -> bool:
        return isinstance(m, ssc1.SscError) and m.code == code and (where is ... or m.path == where)

    return pred


def is_ack(m: ssc1.Message) -> bool:
    return isinstance(m, ssc1.SubscriptionAck)
