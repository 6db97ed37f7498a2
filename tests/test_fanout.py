"""Per-client feeds: latest-wins coalescing, rate limits, formats, subscriptions."""

from __future__ import annotations

import asyncio
from typing import Any

from micboardd.fanout import DeviceFeed, FanOut, KeyedFeed, Subscription
from micboardd.hub import Hub
from micboardd.model import Family, Reading, SourceState


def setup(channels: int = 4) -> tuple[Hub, FanOut, DeviceFeed]:
    hub = Hub()
    fan = FanOut(hub)
    fan.start()
    hub.upsert_receiver(
        "rx", address="10.0.0.5", family=Family.AXIENT, model="AD4Q", channels=channels
    )
    hub.set_source_state("rx", SourceState.ONLINE)
    feed = fan.new_device_feed()
    feed.initial_frame()
    return hub, fan, feed


def test_latest_wins_and_memory_bounded_by_devices() -> None:
    hub, _, feed = setup()
    for i in range(1000):
        hub.apply("rx", [Reading(1 + i % 4, {"rf_signal": -50 - (i % 40), "tx_on": True})])
    assert len(feed.pending) == 4, "one pending entry per device, never a queue"
    frames, _ = feed.take_due(now=100.0)
    assert [f["type"] for f in frames] == ["device_update"] * 4
    by_id = {f["device_id"]: f for f in frames}
    assert by_id["rx:1"]["rf_signal"] == hub.devices["rx:1"]["rf_signal"]
    assert "rf_signal" in by_id["rx:1"]["changes"]
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4


def test_full_format_carries_whole_device() -> None:
    hub, _, feed = setup()
    hub.apply("rx", [Reading(2, {"battery_bars": 3, "tx_on": True})])
    frames, _ = feed.take_due(now=100.0)
    (frame,) = frames
    for key in ("battery_level", "rf_quality", "rf_signal", "audio_level", "name", "status"):
        assert key in frame
    assert frame["changes"] and frame["timestamp"]


def test_max_hz_defers_then_sends_latest() -> None:
    hub, _, feed = setup()
    feed.subscribe(Subscription(max_hz=2))
    hub.apply("rx", [Reading(1, {"rf_signal": -50})])
    frames, _ = feed.take_due(now=10.0)
    assert len(frames) == 1
    hub.apply("rx", [Reading(1, {"rf_signal": -60})])
    hub.apply("rx", [Reading(1, {"rf_signal": -70})])
    frames, wait = feed.take_due(now=10.1)
    # 2 Hz with 20 % slack: due 0.4 s after the last send.
    assert frames == [] and wait is not None and 0.25 < wait < 0.31
    frames, _ = feed.take_due(now=10.4)
    assert len(frames) == 1 and frames[0]["rf_signal"] == -70


def test_compact_format_splits_meters_from_fields() -> None:
    hub, _, feed = setup()
    feed.subscribe(Subscription(format="compact"))
    hub.apply("rx", [Reading(2, {"rf_signal": -52})])
    feed.take_due(now=50.0)
    hub.apply("rx", [Reading(1, {"rf_signal": -50, "audio_level": -20, "name": "Vox"})])
    hub.apply("rx", [Reading(2, {"rf_signal": -55})])  # same rf_quality band: a pure meter move
    frames, _ = feed.take_due(now=100.0)
    kinds = [f["type"] for f in frames]
    assert kinds == ["device_update", "meters"]
    update = frames[0]
    assert update["device_id"] == "rx:1" and update["name"] == "Vox"
    assert "rf_signal" not in update and "battery_level" not in update
    assert frames[1]["d"] == {"rx:1": [-50, -20, None], "rx:2": [-55, None, None]}


def test_subscription_filters_devices() -> None:
    hub, _, feed = setup()
    feed.subscribe(Subscription(devices=frozenset({"rx:3"})))
    hub.apply("rx", [Reading(1, {"name": "A"}), Reading(3, {"name": "C"})])
    frames, _ = feed.take_due(now=100.0)
    assert [f["device_id"] for f in frames] == ["rx:3"]
    assert [d["device_id"] for d in feed.initial_frame()["devices"]] == ["rx:3"]


def test_batch_when_asked() -> None:
    hub, _, feed = setup()
    feed.subscribe(Subscription(batch=True))
    hub.apply("rx", [Reading(1, {"name": "A"}), Reading(2, {"name": "B"})])
    frames, _ = feed.take_due(now=100.0)
    assert [f["type"] for f in frames] == ["batch_update"]
    assert {u["device_id"] for u in frames[0]["updates"]} == {"rx:1", "rx:2"}


def test_connection_feed_coalesces_per_source() -> None:
    hub, fan, _ = setup()
    conn: KeyedFeed = fan.new_connection_feed()
    conn.initial_frame()
    for state in (SourceState.DISCONNECTED, SourceState.CONNECTING, SourceState.ONLINE):
        hub.set_source_state("rx", state)
    frames, _ = conn.take_due(now=0)
    assert len(frames) == 1 and frames[0]["status"] == "connected"
    assert frames[0]["type"] == "connection_update" and frames[0]["source"] == "receiver"


def test_dropped_feed_gets_no_events() -> None:
    hub, fan, feed = setup()
    fan.drop(feed)
    hub.apply("rx", [Reading(1, {"name": "A"})])
    assert feed.pending == {}


async def test_changes_of_one_loop_iteration_reach_clients_as_one_batch() -> None:
    hub, fan, feed = setup()
    other = fan.new_device_feed()
    await asyncio.sleep(0)  # the devices' creation is delivered first
    for f in (feed, other):
        f.initial_frame()
        f.wake.clear()
    merges: list[int] = []
    original = feed.merge

    def counting(changed: Any) -> None:
        merges.append(len(changed))
        original(changed)

    feed.merge = counting  # type: ignore[method-assign]
    hub.apply("rx", [Reading(1, {"name": "A"}), Reading(2, {"name": "B"})])
    hub.apply("rx", [Reading(1, {"rf_signal": -50})])
    assert feed.pending == {} and not feed.wake.is_set(), "delivered after this iteration"
    await asyncio.sleep(0)
    assert merges == [2], "both devices, one hand-over"
    assert feed.pending["rx:1"] >= {"name", "rf_signal"}
    assert set(other.pending) == {"rx:1", "rx:2"}
    assert feed.wake.is_set()
