"""ReceiverSession against a simulated receiver on loopback: the watchdog and heartbeat timing."""

from __future__ import annotations

import pytest

from micboardd.hub import Hub
from micboardd.model import Family, SourceState
from micboardd.shure import session as session_mod
from micboardd.shure.families import FAMILIES
from micboardd.shure.session import ReceiverSession
from micboardd.sim.receiver import SimReceiver

from ..helpers import async_wait_for


async def test_a_metering_receiver_stays_online_across_many_watchdog_periods(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Short periods so the test sees many of them: the watchdog's scope is renewed while data
    # flows, and heartbeats still go out on time between reads.
    monkeypatch.setattr(session_mod, "SILENCE_MIN_S", 0.3)
    monkeypatch.setattr(session_mod, "HEARTBEAT_S", 0.4)
    hub = Hub()
    hub.upsert_receiver("rx", address="127.0.0.1", family=Family.ULXD, channels=4)
    async with SimReceiver("ULXD4Q") as rx:
        s = ReceiverSession(
            hub, "rx", rx.host, rx.port, FAMILIES[Family.ULXD], channels=4, meter_rate_ms=100
        )
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
