"""REST: groups and performer names persist; bad bodies get clear 4xx answers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import websockets

from micboardd.sim.receiver import SimReceiver
from tests.conftest import DaemonFactory
from tests.helpers import async_wait_for
from tests.security.admin import admin_client


async def test_groups_crud_and_validation(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    async with admin_client(d) as c:
        assert (await c.get("/api/groups")).json() == []
        r = await c.post("/api/groups", json={"title": "Band", "slots": ["a:1", None, "a:2"]})
        assert r.status_code == 201, r.text
        band = r.json()
        assert band["id"] == 1 and band["slots"] == ["a:1", None, "a:2"]
        r = await c.put("/api/groups/5", json={"title": "Choir", "slots": [], "position": 3})
        assert r.status_code == 200 and r.json()["position"] == 3
        bads: list[dict[str, Any]] = [
            {"title": ""},
            {"title": "x" * 41},
            {"title": "ok", "slots": [1, 2]},
            {"title": "ok", "colour": "red"},
            {"slots": []},
        ]
        for bad in bads:
            r = await c.post("/api/groups", json=bad)
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["detail"]
        r = await c.post(
            "/api/groups", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400
        assert (await c.delete("/api/groups/99")).status_code == 404
        assert (await c.delete("/api/groups/5")).status_code == 204
    d.stop()
    d.start()
    async with httpx.AsyncClient(base_url=d.url, timeout=5) as c:
        groups = (await c.get("/api/groups")).json()
        assert [g["title"] for g in groups] == ["Band"]


async def test_performer_and_group_reach_devices_and_survive_restart(
    make_daemon: DaemonFactory,
) -> None:
    async with SimReceiver(model="SLXD4D", host="127.0.0.1", port=0) as rx:
        d = make_daemon("--receiver", rx.address, wait=False)
        await d.async_wait_listening()
        dev1, dev2 = f"{rx.address}:1", f"{rx.address}:2"

        async def has_devices() -> bool:
            return len(await d.async_get("/api/devices")) == 2

        await async_wait_for(has_devices, 15, "devices")
        async with admin_client(d) as c:
            r = await c.put(f"/api/devices/{dev1}/performer", json={"performer": "  Anna  "})
            assert r.status_code == 200 and r.json()["performer"] == "Anna"
            r = await c.put(f"/api/devices/{dev1}/performer", json={"performer": "x" * 65})
            assert r.status_code == 400
            r = await c.post("/api/groups", json={"title": "Stage", "slots": [dev2]})
            assert r.status_code == 201
            gid = r.json()["id"]
            dev = (await c.get(f"/api/devices/{dev1}")).json()
            assert dev["performer"] == "Anna"
            assert (await c.get(f"/api/devices/{dev2}")).json()["group"] == "Stage"

            # A group subscription only carries that group's devices.
            async with websockets.connect(d.ws_url + "/ws/devices/") as ws:
                await ws.recv()
                await ws.send(json.dumps({"type": "subscribe", "group": str(gid)}))
                init = json.loads(await ws.recv())
                assert [x["device_id"] for x in init["devices"]] == [dev2]
                rx.front_panel_rename(1, "Other")
                rx.front_panel_rename(2, "Mine")
                update = json.loads(await ws.recv())
                assert update["device_id"] == dev2 and update["name"] == "Mine"
                await ws.send(json.dumps({"type": "subscribe", "group": "nope"}))
                err = json.loads(await ws.recv())
                while err["type"] != "error":
                    err = json.loads(await ws.recv())
                assert "no group" in err["error"]
        d.stop()
        d.start(wait=False)
        await d.async_wait_listening()
        await async_wait_for(has_devices, 15, "devices after restart")
        dev = await d.async_get(f"/api/devices/{dev1}")
        assert dev["performer"] == "Anna"
        assert (await d.async_get(f"/api/devices/{dev2}"))["group"] == "Stage"


async def test_compact_subscription_sends_meters_frames(make_daemon: DaemonFactory) -> None:
    async with SimReceiver(model="AD4D", host="127.0.0.1", port=0) as rx:
        d = make_daemon("--receiver", rx.address, wait=False)
        await d.async_wait_listening()
        async with websockets.connect(d.ws_url + "/ws/devices/") as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "format": "compact"}))
            seen_meters = False
            for _ in range(200):
                rx.set_meters(1, rf_dbm=[-50.0 - (_ % 20)])
                frame = json.loads(await ws.recv())
                if frame["type"] == "meters":
                    assert all(len(v) == 3 for v in frame["d"].values())
                    seen_meters = True
                    break
                if frame["type"] == "device_update":
                    # Compact updates never repeat meters: those travel in `meters` frames.
                    assert "rf_signal" not in frame and "audio_level" not in frame
            assert seen_meters


async def test_meter_rate_setting_reaches_receivers_and_persists(
    make_daemon: DaemonFactory,
) -> None:
    async with SimReceiver(model="AD4D", host="127.0.0.1", port=0) as rx:
        d = make_daemon("--receiver", rx.address, wait=False)
        await d.async_wait_listening()
        await rx.wait_for_command("SET 0 METER_RATE 00100", 15)
        async with admin_client(d) as c:
            assert (await c.get("/api/settings")).json()["meter_rate_ms"] == 100
            r = await c.put("/api/settings", json={"meter_rate_ms": 50})
            assert r.status_code == 400
            r = await c.put("/api/settings", json={"meter_rate_ms": 500})
            assert r.status_code == 200 and r.json()["meter_rate_ms"] == 500
        await rx.wait_for_command("SET 0 METER_RATE 00500", 5)
        d.stop()
        rx.received.clear()
        d.start(wait=False)
        await d.async_wait_listening()
        await rx.wait_for_command("SET 0 METER_RATE 00500", 15)


async def test_one_receiver_meters_at_its_own_rate(make_daemon: DaemonFactory) -> None:
    async with (
        SimReceiver(model="SLXD4", host="127.0.0.1", port=0) as a,
        SimReceiver(model="SLXD4", host="127.0.0.1", port=0) as b,
    ):
        d = make_daemon("--receiver", a.address, "--receiver", b.address, wait=False)
        await d.async_wait_listening()
        await a.wait_for_command("SET 0 METER_RATE 00100", 15)
        await b.wait_for_command("SET 0 METER_RATE 00100", 15)
        async with admin_client(d) as c:
            r = await c.put(f"/api/receivers/{a.address}", json={"meter_rate_ms": 1000})
            assert r.status_code == 200, r.text
            assert r.json()["meter_rate_ms"] == 1000
            assert (
                await c.put(f"/api/receivers/{a.address}", json={"meter_rate_ms": 10})
            ).status_code == 400
            assert (
                await c.put("/api/receivers/nope", json={"meter_rate_ms": 500})
            ).status_code == 404
        await a.wait_for_command("SET 0 METER_RATE 01000", 5)
        assert not any("01000" in f for f in b.received), "only that receiver changes"
        d.stop()
        a.received.clear()
        d.start(wait=False)
        await d.async_wait_listening()
        await a.wait_for_command("SET 0 METER_RATE 01000", 15)  # kept across a restart
