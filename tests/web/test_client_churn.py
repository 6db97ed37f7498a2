"""Phones come and go all evening: what a closed WebSocket leaves behind in the running daemon.

The daemon runs in this process on a real loop; clients connect to the three endpoints over
loopback with the subscriptions the dashboard and integrations use, some leave with a close
frame, some just vanish. Afterwards every table is back to its size and, with the cyclic
garbage collector off, nothing of ours is left waiting for it: a closed connection used to
wait for a full collection (minutes apart) with its zlib contexts, and the RSS grew in steps
(issue 21).
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from litestar import WebSocket as LitestarWebSocket
from websockets.server import ServerProtocol

from micboardd.daemon.run import Daemon
from micboardd.feed.device import DeviceFeed
from micboardd.feed.fanout import KeyedFeed
from micboardd.model import Family, Reading, SourceState
from micboardd.web.ws import Connection
from tests.helpers import async_wait_for

pytestmark = pytest.mark.both_loops

CLIENTS = 12
SUBSCRIPTIONS: tuple[dict[str, Any] | None, ...] = (
    None,
    {"format": "compact", "max_hz": 10},
    {"format": "compact", "max_hz": 4},
    {"format": "full", "batch": True, "devices": ["rx:1", "rx:2"]},
)
ENDPOINTS = ("/ws/devices/", "/ws/connections/", "/ws/health/")


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """Only reference counting frees objects while the test runs."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# What one server-side connection is made of, ours and our libraries'. The protocols
# (the HTTP one that upgraded, the WebSocket one holding the zlib contexts) have classes
# built at run time: found by name.
PER_CONNECTION = (Connection, DeviceFeed, KeyedFeed, LitestarWebSocket, ServerProtocol)
BY_NAME = ("GuardedHttpToolsProtocol", "TunedProtocol")


def census() -> dict[str, int]:
    found = {cls.__qualname__: 0 for cls in PER_CONNECTION} | dict.fromkeys(BY_NAME, 0)
    for o in gc.get_objects():
        cls = type(o)
        if cls in PER_CONNECTION:
            found[cls.__qualname__] += 1
        else:
            name = cls.__qualname__.rpartition(".")[2]
            if name in found:
                found[name] += 1
    return found


def server_protocols() -> list[Any]:
    return [o for o in gc.get_objects() if type(o).__qualname__.endswith("TunedProtocol")]


async def visit(url: str, index: int, hub_change: Any) -> None:
    """One client: initial data, a subscription, a frame, then a close or a vanishing."""
    path = ENDPOINTS[index % len(ENDPOINTS)]
    async with websockets.connect(url + path, compression="deflate") as ws:
        json.loads(await ws.recv())  # initial_data
        subscribe = SUBSCRIPTIONS[index % len(SUBSCRIPTIONS)]
        if path == "/ws/devices/":
            if subscribe is not None:
                await ws.send(json.dumps({"type": "subscribe", **subscribe}))
                json.loads(await ws.recv())  # initial_data for the subscription
            hub_change(index)
            json.loads(await ws.recv())  # a device frame
        if index % 3 == 0:
            ws.transport.abort()  # the phone left the Wi-Fi: no close frame


async def test_clients_that_come_and_go_leave_nothing_behind(
    daemon_in_process: Daemon, no_cyclic_gc: None
) -> None:
    ctx = daemon_in_process.ctx
    assert ctx is not None
    hub, fan = ctx.hub, ctx.fanout
    hub.upsert_receiver("rx", address="127.0.0.9", family=Family.ULXD, channels=4)
    hub.set_source_state("rx", SourceState.ONLINE)
    url = f"ws://127.0.0.1:{daemon_in_process.port}"

    def hub_change(i: int) -> None:
        hub.apply("rx", [Reading(1 + i % 2, {"rf_signal": -40 - i, "tx_on": True})])

    await visit(url, 0, hub_change)  # one of each kind first: lazy imports, caches
    await async_wait_for(lambda: fan.client_count == 0, what="the first client gone")
    await async_wait_for(
        lambda: all(p.disconnected for p in server_protocols()), what="its socket closed"
    )
    before = census()
    streams = dict(fan.streams)

    for start in range(0, CLIENTS, 4):  # a few at a time, as phones overlap
        await asyncio.gather(*(visit(url, i, hub_change) for i in range(start, start + 4)))

    await async_wait_for(lambda: fan.client_count == 0, what="every client gone")
    assert (fan.devices, fan.connections, fan.health) == (set(), set(), set())
    assert fan.streams == streams, "a rate nobody uses holds no stream"
    assert (len(ctx.ws_clients), dict(ctx.ws_clients.per_address)) == (0, {})
    limits = daemon_in_process.connection_limits
    assert limits is not None
    await async_wait_for(
        lambda: (limits.owner, limits.by_address) == ({}, {}), what="every HTTP slot given back"
    )
    await async_wait_for(
        lambda: all(p.disconnected for p in server_protocols()), what="every socket closed"
    )
    await async_wait_for(
        lambda: census() == before,
        what=f"the connections freed by reference counting (before {before}, now {census()})",
    )
