"""Fixtures for simulator tests: receivers and clients that are always cleaned up.

Receivers made here split their writes inside frames by default (real receivers let frames
straddle TCP segments), so every test also exercises stream reassembly.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from micboardd.sim import SimReceiver

from .wireclient import TcpClient, UdpClient

# A loopback subnet of its own, so these tests never meet other suites' listeners.
_HOSTS = (f"127.61.{i // 250}.{i % 250 + 2}" for i in itertools.count())

RxFactory = Callable[..., Awaitable[SimReceiver]]
TcpFactory = Callable[[SimReceiver], Awaitable[TcpClient]]
UdpFactory = Callable[[SimReceiver], Awaitable[UdpClient]]


def next_host() -> str:
    return next(_HOSTS)


@pytest.fixture
async def make_rx() -> AsyncIterator[RxFactory]:
    """Start SimReceivers on fresh loopback addresses (ephemeral ports); closed at teardown."""
    started: list[SimReceiver] = []

    async def factory(model: str = "AD4Q", **options: Any) -> SimReceiver:
        options.setdefault("split_writes", True)
        options.setdefault("flash_seconds", 0.1)
        rx = SimReceiver(model, options.pop("host", next_host()), 0, **options)
        started.append(rx)
        await rx.start()
        return rx

    yield factory
    for rx in started:
        await rx.close()


@pytest.fixture
async def tcp() -> AsyncIterator[TcpFactory]:
    """Connect TCP clients to a receiver; closed at teardown."""
    clients: list[TcpClient] = []

    async def factory(rx: SimReceiver) -> TcpClient:
        client = await TcpClient.connect(rx.host, rx.port)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
async def udp() -> AsyncIterator[UdpFactory]:
    clients: list[UdpClient] = []

    async def factory(rx: SimReceiver) -> UdpClient:
        client = await UdpClient.connect(rx.host, rx.port)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()
