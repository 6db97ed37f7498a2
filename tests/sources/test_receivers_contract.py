"""One contract suite for every receiver family: the daemon as a real process talking to
simulated receivers that speak the real wire protocol on loopback."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect

from micboardd.sim.receiver import SimReceiver
from micboardd.sim.venue import Venue
from tests.conftest import DaemonFactory
from tests.helpers import DaemonProcess, async_wait_for
from tests.security.admin import admin_client

MODELS = ["ULXD4", "ULXD4Q", "QLXD4", "SLXD4D", "SLXD4Q+", "AD4D", "AD4Q", "UR4D", "P10T"]
# Families whose transmitter reports battery over the command strings.
HAS_BATTERY = {"ULXD4", "ULXD4Q", "QLXD4", "SLXD4D", "SLXD4Q+", "AD4D", "AD4Q", "UR4D"}
# UHF-R meter calibration is unverified [U] (PROTOCOLS.md 1.3.4): only the range is checked.
RF_CALIBRATED = HAS_BATTERY - {"UR4D"}
# Silence watchdog (2 s at 100 ms metering) plus the first reconnect (1 s +-25 %) and slack.
OFFLINE_WITHIN_S = 6.0
ONLINE_WITHIN_S = 8.0


async def start(make_daemon: DaemonFactory, *receivers: SimReceiver) -> DaemonProcess:
    args: list[str] = []
    for rx in receivers:
        args += ["--receiver", rx.address]
    d = make_daemon(*args, wait=False)
    await d.async_wait_listening()
    return d


async def devices_of(d: DaemonProcess, rx: SimReceiver) -> list[dict[str, Any]]:
    devs: list[dict[str, Any]] = await d.async_get("/api/devices")
    return sorted((x for x in devs if x["receiver_id"] == rx.address), key=lambda x: x["channel"])


async def until(
    d: DaemonProcess,
    rx: SimReceiver,
    check: Callable[[list[dict[str, Any]]], bool],
    what: str,
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []

    async def probe() -> bool:
        nonlocal result
        result = await devices_of(d, rx)
        return bool(result) and check(result)

    await async_wait_for(probe, timeout, what)
    return result


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[SimReceiver]:
    rx = SimReceiver(model=request.param, host="127.0.0.1", port=0, split_writes=True, seed=7)
    await rx.start()
    try:
        yield rx
    finally:
        await rx.close()


@pytest.mark.parametrize("sim", MODELS, indirect=True)
async def test_family_contract(make_daemon: DaemonFactory, sim: SimReceiver) -> None:
    rx = sim
    model = rx.model
    d = await start(make_daemon, rx)
    n = len(rx.channels)
    # Synced: every field the dump carries. A receiver's answer comes in several writes
    # (split_writes), read on the daemon's read tick: name and frequency may be in while
    # the battery is a tick away.
    devs = await until(
        d,
        rx,
        lambda ds: (
            len(ds) == n
            and all(
                x["status"] != "rx_offline"
                and x["name"]
                and x["frequency_mhz"]
                and (model not in HAS_BATTERY or x["battery_bars"] is not None)
                for x in ds
            )
        ),
        "online and synced",
        15,
    )
    receivers = await d.async_get("/api/receivers")
    (info,) = [r for r in receivers if r["receiver_id"] == rx.address]
    assert info["family"] == rx.family.value
    assert info["channels"] == n
    assert info["status"] == "online"

    # Values in engineering units, sentinels never leaking through.
    for dev, ch in zip(devs, rx.channels, strict=True):
        assert dev["name"] == ch.name
        assert dev["frequency_mhz"] == pytest.approx(ch.frequency_khz / 1000, abs=0.001)
        if model in HAS_BATTERY:
            assert dev["battery_bars"] == ch.battery_bars
            assert dev["battery_status"] == "good"
            assert dev["status"] in {"good", "audio_peak"}
        for key in ("rf_signal", "audio_level", "peak_level"):
            value = dev[key]
            assert value is None or -130 <= value <= 0, (key, value)
    # Meters flow: move them in the simulator and see them arrive (sent only in SAMPLEs).
    if model in RF_CALIBRATED:
        assert devs[0]["rf_signal"] == pytest.approx(max(rx.channels[0].heard_rf_dbm()), abs=1.5)
        rx.set_meters(1, rf_dbm=[-81.0], rms_dbfs=-40.0)
        await until(d, rx, lambda ds: ds[0]["rf_signal"] == pytest.approx(-81, abs=1.5), "rf moves")
    else:
        rx.set_meters(1, rms_dbfs=-40.0, peak_dbfs=-35.0)
        before = devs[0]["audio_level"]
        await until(d, rx, lambda ds: ds[0]["audio_level"] != before, "audio moves")

    # Unsolicited REP: a front-panel rename shows up without polling.
    rx.front_panel_rename(1, "FOH 1")
    await until(d, rx, lambda ds: ds[0]["name"] == "FOH 1", "front-panel rename")

    if model in HAS_BATTERY:
        rx.battery_drain(1, bars=1)
        await until(d, rx, lambda ds: ds[0]["status"] == "critical", "battery critical")
        rx.tx_off(1)
        await until(d, rx, lambda ds: ds[0]["status"] == "prev_critical", "transmitter off")

    # Power loss -> rx_offline; power back -> online again.
    await rx.power_loss()
    await until(
        d, rx, lambda ds: all(x["status"] == "rx_offline" for x in ds), "offline", OFFLINE_WITHIN_S
    )
    await rx.power_restore()
    await until(
        d,
        rx,
        lambda ds: all(x["status"] != "rx_offline" for x in ds),
        "back online",
        ONLINE_WITHIN_S,
    )

    # Meters off on shutdown (QLX-D lock-up workaround).
    rx.received.clear()
    d.signal(signal.SIGTERM)
    await async_wait_for(lambda: d.proc is not None and d.proc.poll() is not None, 10, "exit")
    assert d.proc is not None and d.proc.returncode == 0
    # UHF-R and PSM1000 are switched per channel, as public code run against real units does.
    if model.startswith("UR4"):
        stops = [f"METER {ch} ALL STOP" for ch in range(1, n + 1)]
    elif model == "P10T":
        stops = [f"SET {ch} METER_RATE 00000" for ch in range(1, n + 1)]
    else:
        stops = ["SET 0 METER_RATE 00000"]
    for stop in stops:
        assert any(stop in frame for frame in rx.received), (stop, rx.received[-5:])


@pytest.mark.parametrize("sim", ["AD4Q", "ULXD4Q"], indirect=True)
async def test_silence_watchdog_detects_a_frozen_receiver(
    make_daemon: DaemonFactory, sim: SimReceiver
) -> None:
    d = await start(make_daemon, sim)
    await until(d, sim, lambda ds: all(x["status"] != "rx_offline" for x in ds), "online", 15)
    sim.freeze(True)  # TCP stays open, nothing is answered: only the watchdog can notice
    await until(
        d,
        sim,
        lambda ds: all(x["status"] == "rx_offline" for x in ds),
        "watchdog",
        OFFLINE_WITHIN_S,
    )
    sim.freeze(False)
    await until(
        d,
        sim,
        lambda ds: all(x["status"] != "rx_offline" for x in ds),
        "recovered",
        ONLINE_WITHIN_S,
    )


@pytest.mark.parametrize("sim", ["ULXD4Q"], indirect=True)
async def test_a_hung_receiver_raises_its_offline_alert_once_and_clears_it_once(
    make_daemon: DaemonFactory, sim: SimReceiver
) -> None:
    d = await start(make_daemon, sim)
    await until(d, sim, lambda ds: all(x["status"] != "rx_offline" for x in ds), "online", 15)

    async def offline_alerts() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await d.async_get("/api/alerts")
        return [a for a in rows if a["kind"] == "rx_offline" and a["receiver_id"] == sim.address]

    sim.hang(True)  # every reconnect is accepted, nothing is ever answered
    await until(d, sim, lambda ds: all(x["status"] == "rx_offline" for x in ds), "offline", 10)
    # What /ws/connections/ says from now on: never "connected" (a phone's connection list).
    said: list[str] = []

    async def listen() -> None:
        async with connect(d.ws_url + "/ws/connections/") as ws:
            async for text in ws:
                msg = json.loads(text)
                if msg.get("type") == "connection_update" and msg.get("id") == sim.address:
                    said.append(msg["status"])

    listener = asyncio.create_task(listen())
    try:
        await async_wait_for(offline_alerts, 20, "the offline alert")
        accepted = sim.accepted
        # Three more accepted-and-silent connections: none may clear or re-raise the alert.
        await async_wait_for(lambda: sim.accepted >= accepted + 3, 30, "three more reconnects")
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    assert said and "connected" not in said, said
    (alert,) = await offline_alerts()
    assert alert["active"] and alert["count"] == 1, alert
    statuses = {x["status"] for x in await devices_of(d, sim)}
    assert statuses == {"rx_offline"}
    sim.hang(False)

    async def cleared() -> bool:
        rows = await offline_alerts()
        return len(rows) == 1 and not rows[0]["active"]

    await async_wait_for(cleared, 30, "the alert cleared once")
    assert len(await offline_alerts()) == 1


@pytest.mark.parametrize("sim", ["SLXD4D"], indirect=True)
async def test_garbage_from_receiver_is_survived(
    make_daemon: DaemonFactory, sim: SimReceiver
) -> None:
    d = await start(make_daemon, sim)
    await until(d, sim, lambda ds: all(x["status"] != "rx_offline" for x in ds), "online", 15)
    sim.send_garbage(b"\x00\xff garbage >>> < NOT A FRAME" + b"Z" * 3000 + b" >")
    sim.front_panel_rename(2, "After")
    await until(d, sim, lambda ds: ds[1]["name"] == "After", "frames after garbage")
    assert "malformed" in d.log


@pytest.mark.parametrize("sim", ["ULXD4D"], indirect=True)
async def test_rename_and_identify_through_rest(
    make_daemon: DaemonFactory, sim: SimReceiver
) -> None:
    d = await start(make_daemon, sim)
    await until(d, sim, lambda ds: all(x["status"] != "rx_offline" for x in ds), "online", 15)
    device_id = f"{sim.address}:2"
    async with admin_client(d) as client:
        r = await client.post(f"/api/devices/{device_id}/rename", json={"name": "Pastor"})
        assert r.status_code == 204, r.text
        await until(d, sim, lambda ds: ds[1]["name"] == "Pastor", "rename on the receiver")
        assert sim.channels[1].name == "Pastor"
        r = await client.post(f"/api/devices/{device_id}/rename", json={"name": "far too long"})
        assert r.status_code == 422 and "1-8" in r.json()["detail"]
        r = await client.post(f"/api/devices/{device_id}/rename", json={"name": "Ünïcode"})
        assert r.status_code == 422
        r = await client.post(f"/api/devices/{device_id}/identify")
        assert r.status_code == 204
        await sim.wait_for_command(lambda f: "FLASH" in f, 5)
        r = await client.post("/api/devices/nope:1/rename", json={"name": "x"})
        assert r.status_code == 404
        await sim.power_loss()
        await until(d, sim, lambda ds: ds[1]["status"] == "rx_offline", "offline", 15)
        r = await client.post(f"/api/devices/{device_id}/identify")
        assert r.status_code == 503 and "not connected" in r.json()["detail"], r.text
        await sim.power_restore()


async def test_manual_receivers_via_rest_persist(make_daemon: DaemonFactory) -> None:
    async with SimReceiver(model="QLXD4", host="127.0.0.1", port=0) as rx:
        d = make_daemon(wait=False)
        await d.async_wait_listening()
        async with admin_client(d) as client:
            r = await client.post("/api/receivers", json={"address": rx.address})
            assert r.status_code == 201, r.text
            assert r.json()["receiver_id"] == rx.address
            bad = await client.post("/api/receivers", json={"address": "host:notaport"})
            assert bad.status_code == 400
            missing = await client.post("/api/receivers", json={})
            assert missing.status_code == 400
        await until(d, rx, lambda ds: ds[0]["status"] != "rx_offline", "online", 15)
        d.stop()
        # Restarted on the same state: the receiver is still monitored.
        d.start(wait=False)
        await d.async_wait_listening()
        await until(d, rx, lambda ds: ds[0]["status"] != "rx_offline", "online after restart", 15)
        async with admin_client(d) as client:
            r = await client.delete(f"/api/receivers/{rx.address}")
            assert r.status_code == 204
            assert (await client.get("/api/receivers")).json() == []
            assert (await client.delete(f"/api/receivers/{rx.address}")).status_code == 404


async def test_not_a_receiver_is_rejected_with_reason(make_daemon: DaemonFactory) -> None:
    import asyncio

    async def http_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http_like, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        d = make_daemon("--receiver", f"127.0.0.1:{port}", wait=False)
        await d.async_wait_listening()

        async def rejected() -> bool:
            rxs = await d.async_get("/api/receivers")
            return (
                bool(rxs)
                and rxs[0]["status"] == "error"
                and "not a supported" in (rxs[0]["error"] or "")
            )

        await async_wait_for(rejected, 10, "rejection")
    finally:
        server.close()
        await server.wait_closed()


async def test_one_hundred_receivers(make_daemon: DaemonFactory) -> None:
    venue = Venue.many(100, "ULXD4D", base_host="127.0.0.1", port=0, lively=False)
    async with venue:
        args: list[str] = []
        for rx in venue.receivers:
            args += ["--receiver", rx.address]
        d = make_daemon(*args, wait=False)
        await d.async_wait_listening()

        async def all_online() -> bool:
            devs = await d.async_get("/api/devices")
            return len(devs) == 200 and all(x["status"] != "rx_offline" for x in devs)

        await async_wait_for(all_online, 40, "200 channels online")
        health = await d.async_get("/api/health")
        assert health["sources"]["receivers_online"] == 100
