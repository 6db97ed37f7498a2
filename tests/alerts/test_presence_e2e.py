"""A transmitter's presence and its RF arrive separately, and not always in that order: an
AD4Q says a transmitter is there in a REP (`TX_MODEL`) and its RF only in the next meter
sample, and after a reconnect it meters before it has answered `GET 0 ALL`. A slow box (a
Raspberry Pi's single core under load) or slow meters stretch those gaps from milliseconds to
seconds. Neither gap may raise an alert: one alert per incident, and no CRITICAL for a
transmitter that is simply being switched on. Against the daemon as a real process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from micboardd.sim.receiver import SimReceiver

from ..conftest import DaemonFactory
from ..helpers import DaemonProcess, async_wait_for


@pytest.fixture
async def stage() -> AsyncIterator[SimReceiver]:
    async with SimReceiver("AD4Q", "127.0.0.1", 0, names=["Vox", "Gtr", "Sax", "Keys"]) as rx:
        yield rx


async def alerts_of(d: DaemonProcess, device_id: str, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    alerts: list[dict[str, Any]] = await d.async_get("/api/alerts" + (f"?{query}" if query else ""))
    return [a for a in alerts if a["device_id"] == device_id]


async def switched_off(d: DaemonProcess, stage: SimReceiver, channel: int) -> dict[str, Any]:
    """Wait until every channel is on air, switch `channel` off; its tx_off alert."""

    async def on_air() -> bool:
        devs = await d.async_get("/api/devices")
        return len(devs) == 4 and all(x["status"] == "good" for x in devs)

    await async_wait_for(on_air, 20, "four channels on air")
    stage.tx_off(channel)
    device_id = f"{stage.address}:{channel}"

    async def raised() -> list[dict[str, Any]]:
        return [a for a in await alerts_of(d, device_id) if a["kind"] == "tx_off"]

    found: list[dict[str, Any]] = await async_wait_for(raised, 20, "the tx_off alert")
    (off,) = found
    return off


async def test_switched_on_before_its_rf_is_measured(
    make_daemon: DaemonFactory, stage: SimReceiver
) -> None:
    d = make_daemon("--receiver", stage.address, wait=False)
    await d.async_wait_listening()
    gtr = f"{stage.address}:2"
    off = await switched_off(d, stage, 2)

    # Another controller switches the meters off: the last RF the daemon read for channel 2
    # is the noise floor of the absent transmitter, and no sample will say otherwise soon.
    # (With meters on, the same gap is the wait for the next sample.)
    stage.other_controller(0)
    stage.tx_on(2)

    async def tx_off_cleared() -> bool:
        return not [a for a in await alerts_of(d, gtr, active="true") if a["kind"] == "tx_off"]

    await async_wait_for(tx_off_cleared, 20, "the tx_off alert cleared")
    alerts = await alerts_of(d, gtr)
    assert [(a["id"], a["kind"]) for a in alerts] == [(off["id"], "tx_off")], alerts


async def test_reconnect_that_meters_before_it_says_who_is_on_air(
    make_daemon: DaemonFactory, stage: SimReceiver
) -> None:
    d = make_daemon("--receiver", stage.address, wait=False)
    await d.async_wait_listening()
    vox, gtr = f"{stage.address}:1", f"{stage.address}:2"
    off = await switched_off(d, stage, 2)

    # The connection drops and comes back; on the new one the receiver meters (channel 2 at
    # the noise floor) but has not yet said whether a transmitter is there.
    stage.refused = frozenset({"TX_MODEL"})
    accepted, commands = stage.accepted, len(stage.received)
    await stage.power_cycle(0)
    await async_wait_for(
        lambda: stage.accepted > accepted and stage.metering, 20, "the daemon back, metering"
    )
    await stage.wait_for_command("GET 0 ALL", 20, start=commands)

    # A yardstick in the daemon's own time: a battery alert takes 5 s to raise, longer than
    # either wrong alert would have taken (rf_lost 0.3 s, clearing tx_off 2 s).
    stage.battery_drain(1, bars=2)

    async def battery_raised() -> bool:
        return any(a["kind"] == "battery" for a in await alerts_of(d, vox))

    await async_wait_for(battery_raised, 20, "the battery alert")
    alerts = await alerts_of(d, gtr)
    seen = [(a["id"], a["kind"], a["active"]) for a in alerts]
    assert seen == [(off["id"], "tx_off", True)], alerts
