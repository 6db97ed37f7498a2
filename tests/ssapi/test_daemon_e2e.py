"""End to end: `micboardd run` as a real process with `--ssapi-url` at the fake System API and
a simulated receiver of one of its devices. Needs docs/patches/issue5-wiring.diff applied."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets

from micboardd.model import DEVICE_FIELDS
from micboardd.sim.fake_ssapi_devices import FakeChannel, FakeDevice, battery_body
from micboardd.sim.receiver import SimReceiver

from ..conftest import DaemonFactory
from ..helpers import DaemonProcess, async_wait_for
from .conftest import FakeFactory, write_key

RX_HOST = "127.77.0.2"  # the direct receiver's own loopback address: the merge key here
RX_SERIAL = "4AB12345678"
ADTQ = "ddb03a46-0000-11dd-a000-0000000000a1"
PACK = "ddb03a46-0000-11dd-a000-0000000000b2"
RX_IN_API = "ddb03a46-0000-11dd-a000-0000000000c3"
DEADLINE_S = 15.0  # the daemon starts, probes the receiver and reads the inventory
ALERT_HOLD_S = 10.0  # the ssapi_down rule raises and clears after 10 s (docs/alerts.md)


def venue() -> list[FakeDevice]:
    return [
        FakeDevice(
            ADTQ,
            "ADTQ",
            "2EK1",
            name="IEM",
            channels=[FakeChannel(f"Mix {n}") for n in (1, 2, 3, 4)],
        ),
        FakeDevice(
            PACK, "ULXD1", "3FD1", name="Pack", battery=battery_body(70, "DISCHARGING", 400)
        ),
        # The same receiver the daemon monitors directly (same address, same model).
        FakeDevice(
            RX_IN_API,
            "ULXD4",
            RX_SERIAL,
            RX_HOST,
            name="API name",
            battery=battery_body(55, "CHARGING", 30),
            health={"percentage": 91, "cycleCount": 120},
        ),
    ]


class Frames:
    """One WebSocket client of the daemon, collecting frames in the background."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                self.frames.append(json.loads(message))
        except websockets.ConnectionClosed:
            pass

    def find(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        return next((f for f in reversed(self.frames) if check(f)), None)

    async def close(self) -> None:
        await self.ws.close()
        await self.task


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[DaemonProcess, str], Any]]:
    opened: list[Frames] = []

    async def connect(d: DaemonProcess, path: str) -> Frames:
        frames = Frames(await websockets.connect(d.ws_url + path))
        opened.append(frames)
        return frames

    yield connect
    for frames in opened:
        await frames.close()


async def receivers(d: DaemonProcess) -> dict[str, dict[str, Any]]:
    return {r["receiver_id"]: r for r in await d.async_get("/api/receivers")}


async def devices(d: DaemonProcess) -> dict[str, dict[str, Any]]:
    return {x["device_id"]: x for x in await d.async_get("/api/devices")}


def api_health(frame: dict[str, Any]) -> dict[str, Any] | None:
    if frame.get("type") == "api_health":
        return frame
    if frame.get("type") == "initial_data" and frame.get("api_health"):
        return dict(frame["api_health"][0])
    return None


async def test_system_api_through_the_daemon(
    make_daemon: DaemonFactory,
    make_fake: FakeFactory,
    tmp_path: Path,
    clients: Callable[[DaemonProcess, str], Any],
) -> None:
    api = await make_fake(venue())
    key = write_key(tmp_path / "sharedkey.txt", api.api_key)
    async with SimReceiver("ULXD4", RX_HOST, 0) as rx:
        d = make_daemon(
            "--receiver", rx.address, "--ssapi-url", api.url, "--ssapi-key-file", str(key),
            wait=False,
        )  # fmt: skip
        await d.async_wait_listening()

        async def merged() -> bool:
            rxs = await receivers(d)
            devs = await devices(d)
            one = devs.get(f"{rx.address}:1", {})
            return (
                rxs.get(rx.address, {}).get("status") == "online"
                and ADTQ in rxs
                and PACK in rxs
                and one.get("charging") is True
                and one.get("rf_signal") is not None
            )

        await async_wait_for(merged, DEADLINE_S, "direct receiver merged, API devices listed")
        rxs = await receivers(d)
        assert RX_IN_API not in rxs  # one receiver per physical device
        assert rxs[rx.address]["source"] == "receiver"
        assert rxs[ADTQ]["source"] == rxs[PACK]["source"] == "system_api"
        assert rxs[ADTQ]["channels"] == 4
        devs = await devices(d)
        direct = devs[f"{rx.address}:1"]
        assert direct["name"] == rx.channels[0].name  # the session's name, not "API name"
        assert direct["battery_bars"] == rx.channels[0].battery_bars  # the session's battery
        assert "battery_health" in DEVICE_FIELDS
        assert (direct["battery_health"], direct["battery_cycles"]) == (91, 120)
        assert direct["battery_time_to_full_minutes"] == 30
        assert devs[f"{ADTQ}:3"]["name"] == "Mix 3"
        assert devs[f"{PACK}:1"]["battery_level"] == 70

        health = await clients(d, "/ws/health/")
        await async_wait_for(
            lambda: health.find(lambda f: (api_health(f) or {}).get("status") == "healthy"),
            DEADLINE_S,
            "api_health healthy",
        )
        conns = await clients(d, "/ws/connections/")
        live = await clients(d, "/ws/devices/")
        await async_wait_for(lambda: live.frames, DEADLINE_S, "initial data")

        # A battery change streams live (subscription), to /ws/devices/.
        api.set_battery(PACK, 33)
        await async_wait_for(
            lambda: live.find(
                lambda f: f.get("device_id") == f"{PACK}:1" and f.get("battery_level") == 33
            ),
            5,
            "battery change on /ws/devices/",
        )

        # Failure: 500s -> /ws/health/ says so; receivers of its own turn error; back -> healthy.
        api.drop_subscriptions()
        api.fail_with(500)
        await async_wait_for(
            lambda: health.find(lambda f: (api_health(f) or {}).get("status") == "down"),
            DEADLINE_S,
            "api_health down",
        )
        await async_wait_for(
            lambda: conns.find(
                lambda f: f.get("source") == "system_api" and f.get("status") == "error"
            ),
            DEADLINE_S,
            "connection_update error for a system_api source",
        )
        report = await d.async_get("/api/health")
        assert report["system_api"][0]["status"] == "down"
        assert (await devices(d))[f"{rx.address}:1"]["status"] != "rx_offline"  # unharmed
        # Down for longer than the rule's hold: the "System API down" alert, live and logged.
        down_alert = await async_wait_for(
            lambda: health.find(
                lambda f: f.get("type") == "system_alert" and f.get("kind") == "ssapi_down"
            ),
            ALERT_HOLD_S + DEADLINE_S,
            "a System API down alert",
        )
        assert down_alert["state"] == "raised" and down_alert["severity"] == "warning"
        assert api.url.removesuffix("/") in down_alert["message"]
        active = await d.async_get("/api/alerts?active=true")
        assert "ssapi_down" in [a["kind"] for a in active]  # (its receivers are offline too)
        api.heal()
        health.frames.clear()
        await async_wait_for(
            lambda: health.find(lambda f: (api_health(f) or {}).get("status") == "healthy"),
            DEADLINE_S,
            "api_health healthy again",
        )
        await async_wait_for(
            lambda: health.find(
                lambda f: f.get("id") == down_alert["id"] and f.get("state") == "cleared"
            ),
            ALERT_HOLD_S + DEADLINE_S,
            "the System API alert cleared",
        )
        assert api.api_key not in d.log
        assert api.api_key not in json.dumps(await d.async_get("/api/health"))


async def test_poll_command(make_fake: FakeFactory, tmp_path: Path) -> None:
    api = await make_fake()
    key = write_key(tmp_path / "sharedkey.txt", api.api_key)
    config = tmp_path / "empty.toml"
    config.write_text("")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "micboardd", "poll", "--manufacturer", "shure", "--json",
        "--config", str(config), "--state-dir", str(tmp_path / "state"),
        "--ssapi-url", api.url, "--ssapi-key-file", str(key),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["system_api"]["health"]["status"] == "healthy"
    assert len(report["system_api"]["devices"]) == 4
