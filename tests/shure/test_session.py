"""ReceiverSession against a simulated receiver on loopback: the watchdog and heartbeat timing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from micboardd.hub import Hub
from micboardd.model import Family, SourceState
from micboardd.shure import session as session_mod
from micboardd.shure.families import FAMILIES
from micboardd.shure.link import Link, open_link
from micboardd.shure.session import ReceiverSession
from micboardd.sim.receiver import SimReceiver

from ..helpers import async_wait_for

pytestmark = pytest.mark.both_loops  # the session's watchdog and heartbeat timers


def ulxd_session(rx: SimReceiver) -> tuple[Hub, ReceiverSession]:
    """A session to a simulated 4-channel ULX-D metering every 100 ms, and its hub."""
    hub = Hub()
    hub.upsert_receiver("rx", address="127.0.0.1", family=Family.ULXD, channels=4)
    session = ReceiverSession(
        hub, "rx", rx.host, rx.port, FAMILIES[Family.ULXD], channels=4, meter_rate_ms=100
    )
    return hub, session


async def test_a_metering_receiver_stays_online_across_many_watchdog_periods(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Short periods so the test sees many of them: the watchdog's scope is renewed while data
    # flows, and heartbeats still go out on time between reads.
    monkeypatch.setattr(session_mod, "SILENCE_MIN_S", 0.3)
    monkeypatch.setattr(session_mod, "HEARTBEAT_S", 0.4)
    async with SimReceiver("ULXD4Q") as rx:
        hub, s = ulxd_session(rx)
        await s.start()
        try:
            await async_wait_for(lambda: s.state is SourceState.ONLINE, what="online")
            heartbeat = "GET 1 METER_RATE"
            sent_before = sum(heartbeat in f for f in rx.received)
            await async_wait_for(
                lambda: sum(heartbeat in f for f in rx.received) >= sent_before + 4,
                timeout=5,
                what="four more heartbeats",
            )
            # Over at least five watchdog periods: never dropped, never reconnected.
            assert s.connects == 1 and s.state is SourceState.ONLINE
            assert hub.receivers["rx"].latency_ms is not None
        finally:
            await s.stop()


class SwallowingLink:
    """A real link whose heartbeat send, once armed, swallows a cancellation the way Python
    3.11's wait_for did when its inner await finished in the same loop pass."""

    def __init__(self, inner: Link) -> None:
        self.inner = inner
        self.armed = False
        self.in_send = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def send(self, data: bytes) -> None:
        await self.inner.send(data)
        if self.armed and b"METER_RATE" in data:
            self.armed = False
            self.in_send.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass  # what the library did: return as if nothing happened


async def test_stop_ends_a_session_even_when_a_cancellation_was_swallowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_mod, "HEARTBEAT_S", 0.2)  # a heartbeat soon after arming
    links: list[SwallowingLink] = []

    async def swallowing_open_link(*args: Any, **kw: Any) -> SwallowingLink:
        links.append(SwallowingLink(await open_link(*args, **kw)))
        return links[-1]

    monkeypatch.setattr(session_mod, "open_link", swallowing_open_link)
    async with SimReceiver("ULXD4Q") as rx:
        _, s = ulxd_session(rx)
        await s.start()
        await async_wait_for(lambda: s.state is SourceState.ONLINE, what="online")
        links[0].armed = True
        async with asyncio.timeout(5):
            await links[0].in_send.wait()
        try:
            async with asyncio.timeout(5):  # before the fix: never, the session kept metering
                await s.stop()
        finally:
            links[0].inner.deliver_to(lambda _data: None)
            await links[0].inner.close()
        assert s.state is SourceState.DISCONNECTED and s.connects == 1
        meters_off = [f for f in rx.received if "METER_RATE 00000" in f]
        assert meters_off, "the receiver was told to stop metering"
