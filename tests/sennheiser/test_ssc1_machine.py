"""The EW-DX (SSC v1) session against the simulated receiver over real loopback sockets:
connect, sync, metering, subscription renewal and expiry, transmitter off/on, loss and
return, garbage, and never OK before the receiver has answered this connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from micboardd.model import SourceState
from micboardd.sennheiser import ssc1_machine
from micboardd.sennheiser.ssc1_machine import Ssc1Machine
from micboardd.sim.ewdx import SimEwdx
from micboardd.sim.sennheiser import SennheiserSim
from micboardd.sources.ports import ProbeResult
from micboardd.state.hub import Hub

from ..helpers import async_wait_for
from ..sim.sennclients import senn_host

pytestmark = pytest.mark.both_loops  # the session's watchdog, renewals and backoff timers


def machine_for(rx: SennheiserSim, hub: Hub) -> Ssc1Machine:
    hub.upsert_receiver("rx", address=rx.host, port=rx.port)

    async def identified(result: ProbeResult) -> None:
        hub.upsert_receiver(
            "rx",
            address=rx.host,
            port=rx.port,
            family=result.family,
            model=result.model,
            channels=result.channels,
        )

    return Ssc1Machine(hub, "rx", rx.host, rx.port, meter_rate_ms=100, on_identified=identified)


@pytest.fixture
async def ewdx() -> AsyncIterator[SimEwdx]:
    async with SimEwdx("EWDX-EM2", senn_host(), 0, names=["LEAD", "BVOX"]) as rx:
        yield rx


@pytest.fixture
async def running(ewdx: SimEwdx) -> AsyncIterator[tuple[Hub, Ssc1Machine]]:
    hub = Hub()
    machine = machine_for(ewdx, hub)
    machine.start()
    try:
        await async_wait_for(lambda: machine.state is SourceState.ONLINE, what="online")
        yield hub, machine
    finally:
        await machine.stop()


async def test_connect_and_sync_show_a_sennheiser_receiver(
    ewdx: SimEwdx, running: tuple[Hub, Ssc1Machine]
) -> None:
    hub, _machine = running
    rx = hub.receivers["rx"]
    assert (rx.family.value, rx.model, rx.channels) == ("ewdx", "EW-DX EM 2", 2)
    assert rx.as_dict()["manufacturer"] == "sennheiser"
    ewdx.battery_drain(1, percent=80, minutes=400)
    dev = hub.devices["rx:1"]
    await async_wait_for(lambda: dev.battery_minutes == 400, what="the battery read")
    assert dev.manufacturer == "sennheiser"
    assert (dev.name, dev.battery_level, dev.status) == ("LEAD", 80, "good")
    assert dev.frequency_mhz == 650.425
    assert dev.tx_model == "EW_DX_SKM"
    # Meters come by subscription only, and RSQI is the quality grade.
    await async_wait_for(lambda: dev.rf_signal is not None, what="an RSSI meter")
    assert dev.antenna in ("A", "B")
    assert dev.rf_quality == "excellent"
    assert hub.devices["rx:2"].name == "BVOX"
    assert rx.latency_ms is not None


async def test_meters_follow_the_receiver_and_rsqi_grades_the_link(
    ewdx: SimEwdx, running: tuple[Hub, Ssc1Machine]
) -> None:
    hub, _ = running
    ewdx.set_meters(2, rf_dbm=[-72.0], af_dbfs=-12.0, rsqi=40)
    dev = hub.devices["rx:2"]
    await async_wait_for(lambda: dev.rf_signal == -72.0, what="the RSSI")
    await async_wait_for(lambda: dev.audio_level == -12.0, what="the AF meter")
    # dBm alone would say "good" (-72 dBm); the receiver's RSQI of 40 % says fair.
    await async_wait_for(lambda: dev.rf_quality == "fair", what="the RSQI grade")


async def test_warnings_become_our_statuses(
    ewdx: SimEwdx, running: tuple[Hub, Ssc1Machine]
) -> None:
    hub, _ = running
    dev = hub.devices["rx:1"]
    ewdx.interference(1)
    await async_wait_for(lambda: dev.status == "interference", what="RfPeak -> interference")
    ewdx.interference(1, False)
    ewdx.encryption_error(1)
    await async_wait_for(lambda: dev.encryption_error is True, what="Aes256Error")
    ewdx.mute(1, transmitter=True)
    await async_wait_for(lambda: dev.mute_status is True, what="the pack's mute")


async def test_transmitter_off_then_on(ewdx: SimEwdx, running: tuple[Hub, Ssc1Machine]) -> None:
    hub, _ = running
    dev = hub.devices["rx:1"]
    await async_wait_for(lambda: dev.status == "good", what="good")
    ewdx.tx_off(1)  # NoLink, and 424 at every transmitter leaf
    await async_wait_for(lambda: dev.status == "prev_good", what="transmitter off")
    assert dev.battery_level is None and dev.rf_quality == "none"
    ewdx.tx_on(1)
    await async_wait_for(lambda: dev.status == "good", what="transmitter back")
    assert dev.battery_level is not None


async def test_a_transmitter_off_at_connect_is_tx_off_never_good() -> None:
    async with SimEwdx("EWDX-EM2", senn_host(), 0, tx_on=False) as rx:
        hub = Hub()
        machine = machine_for(rx, hub)
        machine.start()
        try:
            await async_wait_for(lambda: machine.state is SourceState.ONLINE, what="online")
            dev = hub.devices["rx:1"]
            await async_wait_for(lambda: dev.status == "tx_off", what="tx_off")
            assert dev.battery_level is None
        finally:
            await machine.stop()


async def test_subscriptions_are_renewed_before_they_end(
    monkeypatch: pytest.MonkeyPatch, ewdx: SimEwdx
) -> None:
    monkeypatch.setattr(ssc1_machine, "LIFETIME_S", 1)  # granted 1 s: renewed every 0.5 s
    hub = Hub()
    machine = machine_for(ewdx, hub)
    machine.start()
    try:
        await async_wait_for(lambda: machine.state is SourceState.ONLINE, what="online")

        def subscribes() -> int:
            return sum(b'"subscribe"' in r and b'"lifetime":1' in r for r in ewdx.received)

        first = subscribes()
        await async_wait_for(lambda: subscribes() >= first + 8, timeout=10, what="renewals")
        # Never expired: no 310 was needed, one connection all along, meters still live.
        assert machine.connects == 1 and machine.state is SourceState.ONLINE
        assert len(ewdx.subscribed()) == 2 * (4 + 7) + 2 * 4
    finally:
        await machine.stop()
    await async_wait_for(lambda: not ewdx.subscriptions, what="subscriptions cancelled")


async def test_an_ended_subscription_is_taken_up_again_at_once(
    monkeypatch: pytest.MonkeyPatch, ewdx: SimEwdx
) -> None:
    # Asked for 1 s, renewed only after 50: the receiver ends it (310 per leaf), and the
    # session subscribes again at once instead of waiting.
    monkeypatch.setattr(ssc1_machine, "LIFETIME_S", 1)
    monkeypatch.setattr(ssc1_machine, "RENEW_FRACTION", 50.0)
    hub = Hub()
    machine = machine_for(ewdx, hub)
    machine.start()
    try:
        await async_wait_for(lambda: machine.state is SourceState.ONLINE, what="online")
        subscribed = len([r for r in ewdx.received if b'"subscribe"' in r])
        await async_wait_for(
            lambda: len([r for r in ewdx.received if b'"subscribe"' in r]) >= subscribed + 4,
            timeout=10,
            what="two rounds of expiry and re-subscription",
        )
        ewdx.set_meters(1, rf_dbm=[-66.0])
        dev = hub.devices["rx:1"]
        await async_wait_for(lambda: dev.rf_signal == -66.0, what="meters after re-subscribing")
        assert machine.connects == 1
    finally:
        await machine.stop()


async def test_receiver_loss_and_return(ewdx: SimEwdx, running: tuple[Hub, Ssc1Machine]) -> None:
    hub, machine = running
    dev = hub.devices["rx:1"]
    await ewdx.power_loss()
    await async_wait_for(lambda: dev.status == "rx_offline", timeout=5, what="rx_offline")
    assert dev.rf_signal is None  # no stale meters for a receiver we cannot hear
    await ewdx.power_restore()
    await async_wait_for(lambda: dev.status == "good", timeout=10, what="back")
    assert machine.connects >= 2


async def test_a_hung_receiver_is_noticed_and_never_ok(
    ewdx: SimEwdx, running: tuple[Hub, Ssc1Machine]
) -> None:
    hub, machine = running
    dev = hub.devices["rx:1"]
    ewdx.hang()
    await async_wait_for(lambda: dev.status == "rx_offline", timeout=5, what="silence noticed")
    assert "no data" in (hub.receivers["rx"].error or "") or machine.phase.value != "online"
    ewdx.hang(False)
    await async_wait_for(lambda: dev.status == "good", timeout=10, what="answering again")


async def test_garbage_is_counted_and_changes_nothing(
    ewdx: SimEwdx, running: tuple[Hub, Ssc1Machine]
) -> None:
    _hub, machine = running
    ewdx.send_garbage(b"\x00\xffnot json{{")
    ewdx.send_garbage(b'{"m":{"rx1":{"rssi":"loud"}}')
    await async_wait_for(lambda: machine.garbage >= 2, what="garbage counted")
    assert machine.state is SourceState.ONLINE and machine.connects == 1


async def test_a_host_that_is_no_ewdx_is_rejected_with_the_reason() -> None:
    from micboardd.sim.g4 import SimG4

    async with SimG4("EM300-500G4", senn_host(), 0, client_port=None) as rx:
        hub = Hub()
        machine = machine_for(rx, hub)  # the wrong protocol on purpose
        machine.start()
        try:
            await async_wait_for(lambda: machine.state is SourceState.ERROR, what="rejected")
            assert "not a supported Sennheiser EW-DX receiver" in (machine.error or "")
        finally:
            await machine.stop()
