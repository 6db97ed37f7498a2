"""Two daemons, each with its own simulated receiver, sharing one real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import websockets
from redis.asyncio import Redis

from micboardd.cluster.bridge import INSTANCE_TTL_S
from micboardd.cluster.wire import snapshot_key
from micboardd.sim.receiver import SimReceiver

from ..conftest import DaemonFactory
from ..helpers import DaemonProcess, async_wait_for
from .conftest import RedisServer

SYNC_S = 15.0  # receivers probed, synced, and published through Redis
# Offline within the TTL after the last beat, plus the expiry check and one REST poll.
OFFLINE_WITHIN_S = INSTANCE_TTL_S + 3.0


async def devices(d: DaemonProcess) -> dict[str, dict[str, Any]]:
    listed: list[dict[str, Any]] = await d.async_get("/api/devices")
    return {dev["device_id"]: dev for dev in listed}


def of(devs: dict[str, dict[str, Any]], rx: SimReceiver) -> list[dict[str, Any]]:
    return [d for d in devs.values() if d["receiver_id"] == rx.address]


def start_stage(
    make_daemon: DaemonFactory, tmp_path: Path, name: str, rx: SimReceiver, redis_url: str
) -> DaemonProcess:
    """`micboardd run` for one stage; the caller waits for it to listen."""
    return make_daemon(
        "--receiver",
        rx.address,
        "--redis-url",
        redis_url,
        "--instance",
        name,
        state_dir=tmp_path / name,
        wait=False,
    )


async def test_two_instances_share_devices_and_a_killed_one_goes_offline(
    make_daemon: DaemonFactory, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with (
        SimReceiver("ULXD4D", names=["A-VOX1", "A-VOX2"]) as rx_a,
        SimReceiver("QLXD4", names=["B-GTR"]) as rx_b,
    ):
        a = start_stage(make_daemon, tmp_path, "stage-a", rx_a, redis_server.url)
        b = start_stage(make_daemon, tmp_path, "stage-b", rx_b, redis_server.url)
        await asyncio.gather(a.async_wait_listening(), b.async_wait_listening())

        async def everyone_everywhere() -> bool:
            for d in (a, b):
                devs = await devices(d)
                for rx, name, n in ((rx_a, "stage-a", 2), (rx_b, "stage-b", 1)):
                    mine = of(devs, rx)
                    if len(mine) != n or any(
                        x["instance"] != name or x["status"] == "rx_offline" or not x["name"]
                        for x in mine
                    ):
                        return False
            return True

        await async_wait_for(everyone_everywhere, SYNC_S, "each instance to show both stages")
        a_devs, b_devs = await devices(a), await devices(b)
        for dev in of(a_devs, rx_b):
            assert b_devs[dev["device_id"]]["name"] == dev["name"] == "B-GTR"
        assert a.get("/api/health").json()["status"] == "ok"

        # The dashboard stream of stage-a: stage-b's devices in initial_data, then live.
        frames: list[dict[str, Any]] = []
        async with websockets.connect(a.ws_url + "/ws/devices/") as ws:
            first = json.loads(await ws.recv())
            assert first["type"] == "initial_data"
            initial = {d["device_id"]: d for d in first["devices"]}
            (b_dev,) = of(initial, rx_b)
            assert b_dev["instance"] == "stage-b"
            b_id = b_dev["device_id"]

            async def collect() -> None:
                while True:
                    frame = json.loads(await ws.recv())
                    frames.extend(frame["updates"] if frame["type"] == "batch_update" else [frame])

            collector = asyncio.create_task(collect())
            try:
                rx_b.front_panel_rename(1, "B-BASS")
                await async_wait_for(
                    lambda: any(
                        f.get("device_id") == b_id and f.get("name") == "B-BASS" for f in frames
                    ),
                    SYNC_S,
                    "stage-b's rename on stage-a's WebSocket",
                )

                b.proc.kill()  # type: ignore[union-attr]  # kill -9: no goodbye, keys left
                b.wait_exit()

                async def b_offline_on_a() -> bool:
                    devs = await devices(a)
                    return all(
                        x["status"] == "rx_offline"
                        and x["rf_signal"] is None
                        and x["audio_level"] is None
                        for x in of(devs, rx_b)
                    ) and all(x["status"] != "rx_offline" for x in of(devs, rx_a))

                await async_wait_for(b_offline_on_a, OFFLINE_WITHIN_S, "stage-b offline on a")
                await async_wait_for(
                    lambda: any(
                        f.get("device_id") == b_id and f.get("status") == "rx_offline"
                        for f in frames
                    ),
                    2.0,
                    "rx_offline on stage-a's WebSocket",
                )
            finally:
                collector.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await collector
        assert "Traceback" not in a.log


async def test_redis_down_at_start_serves_own_devices_then_joins(
    make_daemon: DaemonFactory, stopped_redis: RedisServer, tmp_path: Path
) -> None:
    async with SimReceiver("ULXD4D", names=["SOLO1", "SOLO2"]) as rx:
        d = start_stage(make_daemon, tmp_path, "solo", rx, stopped_redis.url)
        await d.async_wait_listening()

        async def own_devices_live() -> bool:
            mine = of(await devices(d), rx)
            return len(mine) == 2 and all(
                x["status"] != "rx_offline" and x["instance"] == "solo" for x in mine
            )

        await async_wait_for(own_devices_live, SYNC_S, "own devices while Redis is down")
        warnings = [line for line in d.lines if "WARNING" in line and "Redis" in line]
        assert len(warnings) == 1, d.log
        assert (
            "unreachable" in warnings[0] and "showing this instance's devices only" in warnings[0]
        )

        stopped_redis.start_on_port()
        client = Redis.from_url(stopped_redis.url)
        try:

            async def published() -> bool:
                return len(await client.hgetall(snapshot_key("solo"))) == 2

            # The retry backoff is capped at 30 s; this early it is still a few seconds.
            await async_wait_for(published, 30.0, "the daemon to join Redis once it is up")
        finally:
            await client.aclose()
        assert len([line for line in d.lines if "WARNING" in line and "Redis" in line]) == 1
