"""The shure tests' loopback TCP server: each accepted connection's writer, handed to the
test (tests of links, test_link.py and test_read_tick.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

Server = tuple[int, asyncio.Queue[asyncio.StreamWriter]]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """A TCP server on loopback that hands each accepted connection's writer to the test."""
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def on_client(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(writer)

    srv = await asyncio.start_server(on_client, "127.0.0.1", 0)
    async with srv:
        yield srv.sockets[0].getsockname()[1], accepted
