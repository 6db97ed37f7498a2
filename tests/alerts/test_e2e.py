"""A simulated evening against the daemon as a real process: a battery drains, a transmitter
is switched off, a dropout, interference, a receiver loses power. Each gives exactly one alert
with the right severity, live as `system_alert` frames on `/ws/health/` and in `/api/alerts`,
each cleared after recovery; afterwards the history of a channel shows when it happened."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from micboardd.sim.receiver import SimReceiver

from ..conftest import DaemonFactory
from ..helpers import DaemonProcess, async_wait_for
from ..security.admin import admin_client


class HealthStream:
    """Every frame of one `/ws/health/` client, read in the background."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async with websockets.connect(self.url) as ws:
            async for text in ws:
                self.frames.append(json.loads(text))

    async def __aenter__(self) -> HealthStream:
        self._task = asyncio.create_task(self._read())
        await async_wait_for(lambda: self.frames, 10, "initial_data on /ws/health/")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    def alerts(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "system_alert"]


@pytest.fixture
async def rig() -> AsyncIterator[tuple[SimReceiver, SimReceiver]]:
    stage = SimReceiver("AD4Q", "127.0.0.1", 0, names=["Vox", "Gtr", "Sax", "Keys"], seed=3)
    spare = SimReceiver("ULXD4D", "127.0.0.1", 0, seed=4)
    async with stage, spare:
        yield stage, spare


async def open_alerts(d: DaemonProcess, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    alerts: list[dict[str, Any]] = await d.async_get("/api/alerts" + (f"?{query}" if query else ""))
    return alerts


async def until_alert(d: DaemonProcess, what: str, **match: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def probe() -> bool:
        for alert in await open_alerts(d):
            if all(alert.get(k) == v for k, v in match.items()):
                found.update(alert)
                return True
        return False

    await async_wait_for(probe, 20, what)
    return found


async def test_a_simulated_evening(
    make_daemon: DaemonFactory, rig: tuple[SimReceiver, SimReceiver]
) -> None:
    stage, spare = rig
    d = make_daemon("--receiver", stage.address, "--receiver", spare.address, wait=False)
    await d.async_wait_listening()
    vox, gtr, sax, keys = (f"{stage.address}:{ch}" for ch in range(1, 5))

    async def all_online() -> bool:
        devs = await d.async_get("/api/devices")
        return len(devs) == 6 and all(x["status"] not in ("rx_offline", "unknown") for x in devs)

    await async_wait_for(all_online, 20, "six channels online")

    async with HealthStream(d.ws_url + "/ws/health/") as health:
        assert health.frames[0]["type"] == "initial_data" and health.frames[0]["alerts"] == []

        # The evening.
        stage.battery_drain(1, bars=2)
        stage.tx_off(2)
        stage.rf_dropout(3, 1.0)
        stage.interference(4)
        await spare.power_loss()

        battery = await until_alert(d, "battery low", device_id=vox, kind="battery")
        assert battery["severity"] == "warning" and "Vox" in battery["message"]
        stage.battery_drain(1, bars=1)
        await until_alert(d, "battery critical", id=battery["id"], severity="critical")
        off = await until_alert(d, "transmitter off", device_id=gtr, kind="tx_off")
        assert off["severity"] == "warning"
        lost = await until_alert(d, "dropout", device_id=sax, kind="rf_lost")
        assert lost["severity"] == "critical" and "dropout" in lost["message"]
        noise = await until_alert(d, "interference", device_id=keys, kind="interference")
        assert noise["severity"] == "warning"
        offline = await until_alert(d, "receiver offline", receiver_id=spare.address)
        assert offline["kind"] == "rx_offline" and offline["severity"] == "critical"
        assert offline["device_id"] is None

        devices = {x["device_id"]: x for x in await d.async_get("/api/devices")}
        assert devices[vox]["alert_count"] == 1

        # Acknowledged by the engineer on duty: silenced, still open.
        async with admin_client(d) as admin:
            r = await admin.post(f"/api/alerts/{off['id']}/ack")
            assert r.status_code == 200, r.text
            assert r.json()["acked"] is True and r.json()["active"] is True

        # Recovery: fresh pack, transmitter back on, interference gone, power back.
        stage.battery_drain(1, bars=5)
        stage.tx_on(2)
        stage.interference(4, on=False)
        await spare.power_restore()

        async def all_cleared() -> bool:
            return not await open_alerts(d, active="true")

        await async_wait_for(all_cleared, 30, "every alert cleared")

        # Exactly one alert per incident, each raised and cleared once.
        log = await open_alerts(d)
        kinds = sorted((a["kind"], a["device_id"] or a["receiver_id"]) for a in log)
        assert kinds == sorted(
            [
                ("battery", vox),
                ("tx_off", gtr),
                ("rf_lost", sax),
                ("interference", keys),
                ("rx_offline", spare.address),
            ]
        ), log
        by_kind = {a["kind"]: a for a in log}
        assert by_kind["battery"]["severity"] == "critical"
        assert by_kind["tx_off"]["acked"] is True
        assert all(a["cleared_at"] and not a["active"] for a in log)

        # The same alerts went out live on /ws/health/, and each one's end too.
        await async_wait_for(
            lambda: (
                {f["id"] for f in health.alerts() if f["state"] == "cleared"}
                == {a["id"] for a in log}
            ),
            10,
            "cleared frames",
        )
        frames = health.alerts()
        assert {f["id"] for f in frames} == {a["id"] for a in log}
        assert any(f["id"] == off["id"] and f["state"] == "acked" for f in frames)
        for f in frames:
            assert f["type"] == "system_alert" and f["timestamp"].endswith("Z")
            assert f["severity"] in ("info", "warning", "critical")

    # Afterwards: when did the saxophone drop out?
    history = await d.async_get(f"/api/history?device_id={sax}")
    assert [a["kind"] for a in history["alerts"]] == ["rf_lost"]
    statuses = [e["value"] for e in history["events"] if e["kind"] == "status"]
    assert "prev_good" in statuses and statuses[-1] == "good"
    assert history["series"]["t"] and history["step"] >= 1
    async with httpx.AsyncClient(base_url=d.url, timeout=5) as client:
        csv = await client.get("/api/history.csv", params={"device_id": sax})
    assert csv.status_code == 200 and csv.text.startswith("time,device_id,")
