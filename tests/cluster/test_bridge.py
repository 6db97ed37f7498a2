"""ClusterBridge against a real redis-server, with in-process hubs and fast timings."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from micboardd.cluster.bridge import ClusterBridge, Timing
from micboardd.cluster.wire import CHANNEL, REGISTRY_KEY, alive_key, snapshot_key
from micboardd.model import Reading
from micboardd.state.hub import Hub

from ..helpers import async_wait_for
from .conftest import RedisServer
from .stages import add_receiver

# Everything 20x faster than in production, so liveness tests take a second, not ten.
FAST = Timing(
    publish_interval_s=0.02,
    heartbeat_s=0.1,
    ttl_s=0.6,
    snapshot_ttl_s=60,
    expiry_check_s=0.05,
    backoff_first_s=0.05,
    backoff_max_s=0.2,
)
DEADLINE_S = 5.0

BridgeFactory = Callable[..., ClusterBridge[Hub]]


@pytest.fixture
async def make_bridge() -> AsyncIterator[BridgeFactory]:
    made: list[ClusterBridge[Hub]] = []

    def factory(url: str, instance: str, hub: Hub | None = None, **kw: Any) -> ClusterBridge[Hub]:
        bridge = ClusterBridge(hub or Hub(), url, instance, timing=kw.pop("timing", FAST))
        made.append(bridge)
        return bridge

    yield factory
    for bridge in made:
        await bridge.stop()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def remote_ids(hub: Hub, instance: str) -> set[str]:
    return {i for i, d in hub.devices.items() if d.instance == instance}


async def started(bridge: ClusterBridge[Hub]) -> ClusterBridge[Hub]:
    await bridge.start()
    await async_wait_for(lambda: bridge.connected, DEADLINE_S, f"{bridge.instance} to join")
    return bridge


async def test_instances_see_each_other_live(
    redis_server: RedisServer, make_bridge: BridgeFactory
) -> None:
    a = make_bridge(redis_server.url, "stage-a")
    b = make_bridge(redis_server.url, "stage-b")
    add_receiver(a.hub, "rxA", 2)
    add_receiver(b.hub, "rxB", 3)
    await started(a)
    await started(b)
    await async_wait_for(lambda: remote_ids(a.hub, "stage-b") == {"rxB:1", "rxB:2", "rxB:3"})
    await async_wait_for(lambda: remote_ids(b.hub, "stage-a") == {"rxA:1", "rxA:2"})
    assert b.hub.devices["rxA:1"] == a.hub.devices["rxA:1"]
    assert b.hub.devices["rxA:1"].status == "good"

    a.hub.apply("rxA", [Reading(1, {"name": "Lead"})])
    await async_wait_for(lambda: b.hub.devices["rxA:1"].name == "Lead", what="rename")
    a.hub.apply("rxA", [Reading(2, {"rf_signal": -75.0, "audio_level": -12.0})])
    await async_wait_for(lambda: b.hub.devices["rxA:2"] == a.hub.devices["rxA:2"], what="meters")
    assert b.hub.devices["rxA:2"].rf_quality == "fair"

    # Nothing loops back: each hub holds its own devices once, as local ones.
    assert remote_ids(a.hub, "stage-a") == {"rxA:1", "rxA:2"}
    assert a.status() == {
        "instance": "stage-a",
        "redis": "connected",
        "peers": {"stage-b": {"online": True, "devices": 3}},
    }

    a.hub.remove_receiver("rxA")
    await async_wait_for(lambda: not remote_ids(b.hub, "stage-a"), what="removal")


async def test_late_joiner_loads_snapshot_dead_instance_goes_offline_and_returns(
    redis_server: RedisServer, make_bridge: BridgeFactory, redis: Redis
) -> None:
    a = make_bridge(redis_server.url, "stage-a")
    add_receiver(a.hub, "rxA", 2)
    await started(a)
    snap = await redis.hgetall(snapshot_key("stage-a"))
    assert set(snap) == {b"rxA:1", b"rxA:2"}
    assert json.loads(snap[b"rxA:1"])["instance"] == "stage-a"
    assert 0 < await redis.pttl(alive_key("stage-a")) <= 600
    assert await redis.smembers(REGISTRY_KEY) == {b"stage-a"}

    b = await started(make_bridge(redis_server.url, "stage-b"))
    assert remote_ids(b.hub, "stage-a") == {"rxA:1", "rxA:2"}  # from the snapshot, at once
    assert b.hub.devices["rxA:1"].status == "good"

    began = time.monotonic()
    await a.stop()  # as good as dead: no more beats, keys left to expire
    await async_wait_for(
        lambda: all(b.hub.devices[f"rxA:{ch}"].status == "rx_offline" for ch in (1, 2)),
        DEADLINE_S,
        "stage-a's devices offline",
    )
    assert time.monotonic() - began >= FAST.ttl_s - FAST.heartbeat_s
    assert b.hub.devices["rxA:1"].rf_signal is None
    assert b.hub.devices["rxA:1"].audio_level is None
    await async_wait_for(lambda: _gone(redis, alive_key("stage-a")), DEADLINE_S, "alive key")

    # A restarted stage-a (new boot, same name) is live again on b.
    a2 = await started(make_bridge(redis_server.url, "stage-a", hub=a.hub))
    assert a2.boot != a.boot
    await async_wait_for(
        lambda: all(b.hub.devices[f"rxA:{ch}"].status == "good" for ch in (1, 2)),
        DEADLINE_S,
        "stage-a back",
    )


async def _gone(redis: Redis, key: str) -> bool:
    return not await redis.exists(key)


async def test_changes_are_coalesced_per_tick_and_meters_travel_alone(
    redis_server: RedisServer, make_bridge: BridgeFactory, redis: Redis
) -> None:
    timing = Timing(heartbeat_s=5.0)  # production publish tick (100 ms), no beats in the way
    a = make_bridge(redis_server.url, "stage-a", timing=timing)
    add_receiver(a.hub, "rxA", 4)
    await started(a)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)
    began = time.monotonic()
    samples = 60
    for i in range(samples):  # 4 channels metering every 5 ms: 240 visible changes
        a.hub.apply("rxA", [Reading(ch, {"audio_level": -60.0 + i}) for ch in range(1, 5)])
        await asyncio.sleep(0.005)
    elapsed = time.monotonic() - began
    messages: list[dict[str, Any]] = []

    async def final_levels_arrived() -> bool:
        raw = await pubsub.get_message(timeout=0.05)
        if raw is not None:
            messages.append(json.loads(raw["data"]))
        last = messages[-1].get("meters", {}) if messages else {}
        return bool(last) and all(
            last.get(f"rxA:{ch}", [None, None])[1] == -60.0 + samples - 1 for ch in range(1, 5)
        )

    await async_wait_for(final_levels_arrived, DEADLINE_S, "the last levels")
    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
    assert all(m["kind"] == "delta" and m["instance"] == "stage-a" for m in messages)
    assert len(messages) <= elapsed / timing.publish_interval_s + 2
    assert all("devices" not in m for m in messages)  # meters only: short entries
    assert all(set(m["meters"]) == {f"rxA:{ch}" for ch in range(1, 5)} for m in messages[1:])


async def test_redis_down_at_start_warns_once_then_joins(
    stopped_redis: RedisServer, make_bridge: BridgeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="micboardd.cluster")
    a = make_bridge(stopped_redis.url, "stage-a")
    add_receiver(a.hub, "rxA", 1)
    await a.start()

    def retries() -> int:
        return sum("still unreachable" in r.getMessage() for r in caplog.records)

    await async_wait_for(lambda: retries() >= 3, DEADLINE_S, "three retries")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"Redis at 127.0.0.1:{stopped_redis.port}/0 unreachable" in warnings[0].getMessage()
    assert "showing this instance's devices only" in warnings[0].getMessage()
    assert not a.connected and a.hub.devices["rxA:1"].status == "good"

    stopped_redis.start_on_port()
    await async_wait_for(lambda: a.connected, DEADLINE_S, "joining once Redis is up")
    assert any("is back" in r.getMessage() for r in caplog.records)
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1

    stopped_redis.stop()  # a new outage is a new warning
    await async_wait_for(
        lambda: sum(r.levelno == logging.WARNING for r in caplog.records) == 2, DEADLINE_S
    )


async def test_garbage_on_the_channel_is_ignored(
    redis_server: RedisServer, make_bridge: BridgeFactory, redis: Redis
) -> None:
    a = make_bridge(redis_server.url, "stage-a")
    add_receiver(a.hub, "rxA", 1)
    b = await started(make_bridge(redis_server.url, "stage-b"))
    await redis.publish(CHANNEL, b"\xff not json")
    await redis.publish(CHANNEL, b'{"v": 99, "instance": "future", "boot": "x", "kind": "full"}')
    await async_wait_for(lambda: b.remotes.bad_messages == 2, DEADLINE_S, "both refused")
    await started(a)
    await async_wait_for(lambda: "rxA:1" in b.hub.devices, DEADLINE_S, "real traffic still flows")
    assert b.connected and "future" not in b.remotes.peers
