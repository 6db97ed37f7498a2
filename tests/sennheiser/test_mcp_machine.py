"""The ew G3/G4 (Media Control Protocol) session against the simulated receiver over real
loopback sockets, from port 53212 as real units demand: connect, sync, the cyclic block,
Push renewal and expiry, the Config counter, transmitter off/on, loss and return, garbage."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from micboardd.model import SourceState
from micboardd.sennheiser import mcp_machine
from micboardd.sennheiser.mcp_machine import McpMachine
from micboardd.sim.g4 import SimG4
from micboardd.sources.ports import ProbeResult
from micboardd.state.hub import Hub

from ..helpers import async_wait_for
from ..sim.sennclients import senn_host

pytestmark = pytest.mark.both_loops


def machine_for(rx: SimG4, hub: Hub) -> McpMachine:
    hub.upsert_receiver("g4", address=rx.host, port=rx.port)

    async def identified(result: ProbeResult) -> None:
        hub.upsert_receiver(
            "g4",
            address=rx.host,
            port=rx.port,
            family=result.family,
            model=result.model,
            channels=result.channels,
        )

    return McpMachine(hub, "g4", rx.host, rx.port, meter_rate_ms=100, on_identified=identified)


@pytest.fixture
async def g4() -> AsyncIterator[SimG4]:
    async with SimG4("EM300-500G4", senn_host(), names=["VOX 4"]) as rx:
        yield rx


@pytest.fixture
async def running(g4: SimG4) -> AsyncIterator[tuple[Hub, McpMachine]]:
    hub = Hub()
    machine = machine_for(g4, hub)
    machine.start()
    try:
        await async_wait_for(lambda: machine.state is SourceState.ONLINE, what="online")
        yield hub, machine
    finally:
        await machine.stop()


async def test_connect_sync_and_the_cyclic_block(
    g4: SimG4, running: tuple[Hub, McpMachine]
) -> None:
    hub, _machine = running
    rx = hub.receivers["g4"]
    assert (rx.family.value, rx.channels, rx.firmware) == ("ew", 1, "1.8.0")
    assert rx.as_dict()["manufacturer"] == "sennheiser"
    dev = hub.devices["g4:1"]
    await async_wait_for(lambda: dev.battery_level is not None, what="the battery step")
    assert (dev.name, dev.frequency_mhz, dev.manufacturer) == ("VOX 4", 626.3, "sennheiser")
    assert dev.status == "good" and dev.rf_signal is not None and dev.antenna in ("A", "B")
    assert dev.rf_antennas is not None and len(dev.rf_antennas) == 2
    assert g4.wrong_port == 0  # every command came from port 53212
    assert rx.latency_ms is not None
    g4.set_meters(1, rf_dbm=[-77.0, -90.0], af_dbfs=-20.0)
    await async_wait_for(lambda: dev.rf_signal == -77.0, what="RF in dBm")
    await async_wait_for(lambda: dev.audio_level == -20.0, what="AF in dBFS")


async def test_the_push_is_renewed_before_it_runs_out(
    monkeypatch: pytest.MonkeyPatch, g4: SimG4
) -> None:
    monkeypatch.setattr(mcp_machine, "PUSH_TIMEOUT_S", 1)  # renewed every 0.5 s
    hub = Hub()
    machine = machine_for(g4, hub)
    machine.start()
    try:
        await async_wait_for(lambda: machine.state is SourceState.ONLINE, what="online")
        pushes = sum(r.startswith(b"Push 1 ") for r in g4.received)
        await async_wait_for(
            lambda: sum(r.startswith(b"Push 1 ") for r in g4.received) >= pushes + 6,
            timeout=10,
            what="renewals",
        )
        assert machine.connects == 1 and machine.state is SourceState.ONLINE
    finally:
        await machine.stop()
    await async_wait_for(lambda: not g4.pushes, what="Push 0 0 0 on close")


async def test_a_push_that_runs_out_is_silence(monkeypatch: pytest.MonkeyPatch, g4: SimG4) -> None:
    # Renewed only after 50 s while it lasts 1 s: the blocks stop, the watchdog notices and
    # the next connection pushes again.
    monkeypatch.setattr(mcp_machine, "PUSH_TIMEOUT_S", 1)
    monkeypatch.setattr(mcp_machine, "RENEW_FRACTION", 50.0)
    hub = Hub()
    machine = machine_for(g4, hub)
    machine.start()
    try:
        await async_wait_for(lambda: machine.state is SourceState.ONLINE, what="online")
        await async_wait_for(lambda: machine.connects >= 2, timeout=10, what="a new session")
        await async_wait_for(lambda: machine.state is SourceState.ONLINE, what="online again")
    finally:
        await machine.stop()


async def test_a_config_change_is_read_again(g4: SimG4, running: tuple[Hub, McpMachine]) -> None:
    hub, _ = running
    dev = hub.devices["g4:1"]
    reads = g4.received.count(b"Frequency\r")
    g4.front_panel_rename(1, "LEAD")
    await async_wait_for(lambda: dev.name == "LEAD", what="the new name")
    await async_wait_for(
        lambda: g4.received.count(b"Frequency\r") > reads, what="the configuration re-read"
    )


async def test_transmitter_off_then_on(g4: SimG4, running: tuple[Hub, McpMachine]) -> None:
    hub, _ = running
    dev = hub.devices["g4:1"]
    await async_wait_for(lambda: dev.status == "good", what="good")
    g4.tx_off(1)  # Bat ?
    await async_wait_for(lambda: dev.status in ("tx_off", "prev_good"), what="transmitter off")
    assert dev.rf_quality == "none"
    g4.tx_on(1)
    await async_wait_for(lambda: dev.status == "good", what="transmitter back")


async def test_receiver_loss_and_return(g4: SimG4, running: tuple[Hub, McpMachine]) -> None:
    hub, machine = running
    dev = hub.devices["g4:1"]
    await g4.power_loss()
    await async_wait_for(lambda: dev.status == "rx_offline", timeout=5, what="rx_offline")
    await g4.power_restore()
    await async_wait_for(lambda: dev.status == "good", timeout=10, what="back")
    assert machine.connects >= 2


async def test_garbage_and_errors_change_nothing(
    g4: SimG4, running: tuple[Hub, McpMachine]
) -> None:
    _hub, machine = running
    g4.send_garbage(b"\x00\x01\x02\xff\r")
    await async_wait_for(lambda: machine.garbage >= 1, what="garbage counted")
    await machine.send(b"Bogus 1\r")  # 1000: Invalid command, logged once
    await async_wait_for(lambda: g4.errors_sent >= 1, what="the receiver's error")
    assert machine.state is SourceState.ONLINE and machine.connects == 1


async def test_an_in_ear_transmitter_is_rejected_with_the_reason() -> None:
    from micboardd.sennheiser import mcp
    from micboardd.sennheiser.mcp_machine import identify_mcp

    messages = mcp.parse_datagram(b"Name VOX 1   \rSensitivity -24\rMode 1\r")
    with pytest.raises(Exception, match="in-ear"):
        identify_mcp(messages)
