"""Per-client feeds: latest-wins coalescing, rate limits, formats, subscriptions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from micboardd.feed import fanout
from micboardd.feed.device import MAX_QUEUED, Emitted
from micboardd.feed.fanout import DeviceFeed, FanOut, KeyedFeed, Stream, Subscription
from micboardd.model import Family, Reading, SourceState
from micboardd.sources.ports import DeviceChanged, HubEvent
from micboardd.state.hub import Hub
from tests.helpers import async_wait_for

pytestmark = pytest.mark.both_loops  # the fan-out's timers: on asyncio's loop and on uvloop


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


def unlimit(fan: FanOut) -> None:
    """Forget when each device was last sent: the next change goes out at once."""
    for stream in fan.streams.values():
        stream.buckets.clear()


def take(feed: DeviceFeed | KeyedFeed) -> list[dict[str, Any]]:
    return [json.loads(data) for data in feed.take_due()]


def test_latest_wins_and_memory_bounded_by_devices() -> None:
    hub, _, feed = setup()
    for i in range(1000):
        hub.apply("rx", [Reading(1 + i % 4, {"rf_signal": -50 - (i % 40), "tx_on": True})])
    assert len(feed.pending) == 4, "one pending entry per device, never a queue"
    frames = take(feed)
    assert [f["type"] for f in frames] == ["device_update"] * 4
    by_id = {f["device_id"]: f for f in frames}
    assert by_id["rx:1"]["rf_signal"] == hub.devices["rx:1"].rf_signal
    assert "rf_signal" in by_id["rx:1"]["changes"]
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4


def test_full_format_carries_whole_device() -> None:
    hub, _, feed = setup()
    hub.apply("rx", [Reading(2, {"battery_bars": 3, "tx_on": True})])
    frames = take(feed)
    (frame,) = frames
    for key in ("battery_level", "rf_quality", "rf_signal", "audio_level", "name", "status"):
        assert key in frame
    assert frame["changes"] and frame["timestamp"]


def test_max_hz_allows_a_burst_of_two_then_defers_and_sends_latest() -> None:
    stream = Stream(max_hz=2)
    for now in (10.0, 10.1):  # a burst of two goes at once
        stream.merge({"rx:1": frozenset({"rf_signal"})})
        emitted, _ = stream.release(now)
        assert emitted is not None and set(emitted.changes) == {"rx:1"}
    stream.merge({"rx:1": frozenset({"rf_signal"})})
    stream.merge({"rx:1": frozenset({"name"})})
    emitted, wait = stream.release(now=10.2)
    # 0.2 tokens left after the burst, 2 a second: the next whole one 0.3 s later, and with
    # no change of its own by then the device waits HOLD_INTERVALS (0.75 s) more for one.
    assert emitted is None and wait is not None and abs(wait - (0.3 + 0.75)) < 1e-9
    emitted, wait = stream.release(now=10.5)  # another device's flush: still held
    assert emitted is None and wait is not None and abs(wait - 0.75) < 1e-9
    emitted, wait = stream.release(now=11.25)
    assert emitted is not None and emitted.changes == {"rx:1": {"rf_signal", "name"}}
    assert wait is None


def test_a_held_device_goes_out_with_its_next_change_once_its_token_is_whole() -> None:
    stream = Stream(max_hz=2)
    for now in (10.0, 10.1, 10.2):  # the burst, then one held back
        stream.merge({"rx:1": frozenset({"rf_signal"})})
        emitted, _ = stream.release(now)
    assert emitted is None
    stream.merge({"rx:1": frozenset({"audio_level"})})
    emitted, wait = stream.release(now=10.45)  # its own change, but no whole token yet
    assert emitted is None and wait is not None
    stream.merge({"rx:1": frozenset({"rf_signal"})})
    emitted, wait = stream.release(now=10.55)
    assert emitted is not None and emitted.changes == {"rx:1": {"rf_signal", "audio_level"}}
    assert wait is None and stream.held == {}


def test_a_stream_at_max_hz_is_not_held_back_for_good_after_a_stall() -> None:
    # Receivers meter at 10 Hz and phones ask for 10 Hz. A stall (a busy or throttled
    # process) delivers a few samples of a device in quick succession and empties its
    # bucket; the samples after it come at exactly the rate the bucket refills, so the
    # limit never catches up. Sending a device whenever another device's flush finds its
    # token whole held every later sample back by most of an interval, for good.
    stream = Stream(max_hz=10)
    held_back: list[int] = []
    now = 100.0
    for i in range(100):
        now = 100.0 + i * 0.1 - (0.001 if i % 2 else 0.0)  # on time, then a hair early
        if i == 10:  # the stall: three samples read one after another
            for k in range(3):
                stream.merge({"rx:1": frozenset({"rf_signal"})})
                stream.release(now + k * 0.0001)
            continue
        stream.merge({"rx:1": frozenset({"rf_signal"})})
        emitted, _ = stream.release(now)
        if emitted is None:
            held_back.append(i)
        for k in range(1, 25):  # other devices' flushes between two samples
            stream.release(now + k * 0.004)
    assert len(held_back) <= 2 and all(i <= 13 for i in held_back), held_back


def test_a_steady_stream_with_jitter_is_never_held_back() -> None:
    stream = Stream(max_hz=10)
    now = 100.0
    for i in range(200):  # meters every 100 ms on average: 130 ms late, then 70 ms early
        now += 0.13 if i % 2 else 0.07
        stream.merge({"rx:1": frozenset({"rf_signal"})})
        emitted, wait = stream.release(now)
        assert emitted is not None and wait is None, f"held back at sample {i}"


def test_a_faster_input_is_limited_to_max_hz_on_average() -> None:
    stream = Stream(max_hz=10)
    sent = 0
    for i in range(200):  # every 10 ms for 2 s
        stream.merge({"rx:1": frozenset({"rf_signal"})})
        emitted, _ = stream.release(100.0 + i * 0.01)
        sent += emitted is not None
    assert 20 <= sent <= 22, sent  # 10 a second, plus the burst


async def test_deferred_device_is_sent_by_the_streams_timer() -> None:
    hub, fan, feed = setup()
    fan.subscribe(feed, Subscription(max_hz=20))  # a token every 50 ms, two in the bucket
    for rf in (-50, -60):
        hub.apply("rx", [Reading(1, {"rf_signal": rf})])
        await asyncio.sleep(0)
        assert take(feed)[0]["rf_signal"] == rf, "the burst goes at once"
    hub.apply("rx", [Reading(1, {"rf_signal": -70})])
    await asyncio.sleep(0)
    assert take(feed) == [], "held back by the rate limit"
    await asyncio.wait_for(feed.wait(), 1.0)
    assert take(feed)[0]["rf_signal"] == -70


async def test_a_stream_keeps_one_timer_for_its_earliest_deferred_device() -> None:
    hub, fan, feed = setup()
    fan.subscribe(feed, Subscription(max_hz=2))  # a token every 500 ms
    for rf in (-50, -51, -52):  # the third is deferred
        hub.apply("rx", [Reading(1, {"rf_signal": rf})])
        await asyncio.sleep(0)
    (stream,) = fan.streams.values()
    first = stream.timer
    assert first is not None
    hub.apply("rx", [Reading(1, {"rf_signal": -53})])  # deferred again, due no sooner
    await asyncio.sleep(0)
    assert stream.timer is first and not first.cancelled(), "no second timer"
    take(feed)  # what went out at once
    await asyncio.wait_for(feed.wait(), 2.0)
    (frame,) = take(feed)
    assert (frame["device_id"], frame["rf_signal"]) == ("rx:1", -53), "the timer sends the latest"
    fan.stop()


async def test_a_timer_due_within_a_millisecond_survives_a_flush_before_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # uvloop's call_at returns a plain Handle (no when()) for a time less than a millisecond
    # ahead. A stream whose timer fires and re-arms that close while a flush is pending met
    # that Handle in the flush: AttributeError, and the streams after it were not released.
    # Without the hold a held-back device waits (fanout.HOLD_INTERVALS): its timer is then
    # due when its token is whole, here a tenth of a microsecond ahead.
    monkeypatch.setattr(fanout, "HOLD_INTERVALS", 0.0)
    hub, fan, feed = setup()
    slow = fan.new_device_feed()
    slow.initial_frame()
    fan.subscribe(slow, Subscription(max_hz=5))  # a second stream, after the first
    now = 100.0
    fan.clock = lambda: now  # held still: rx:1's token stays a hair short of whole
    first = fan.streams[feed.sub.max_hz]
    first.buckets["rx:1"] = (1.0 - 1e-6, now)
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        hub.apply("rx", [Reading(1, {"rf_signal": -50})])
        await asyncio.sleep(0)  # the flush defers rx:1 by a tenth of a microsecond
        assert first.timer is not None and not first.timer.cancelled()
        take(slow)
        hub.apply("rx", [Reading(2, {"rf_signal": -60})])  # a flush while the timer is armed
        for _ in range(3):
            await asyncio.sleep(0)
        assert errors == []
        assert [f["device_id"] for f in take(slow)] == ["rx:2"], "the second stream released"
        now = 101.0  # time moves on: the timer sends rx:1 and is not armed again
        await async_wait_for(lambda: first.timer is None, what="the timer to run out")
        assert {f["device_id"] for f in take(feed)} >= {"rx:1", "rx:2"}
        assert errors == []
    finally:
        loop.set_exception_handler(None)
        fan.stop()


def test_compact_format_splits_meters_from_fields() -> None:
    hub, fan, feed = setup()
    fan.subscribe(feed, Subscription(format="compact"))
    hub.apply("rx", [Reading(2, {"rf_signal": -52})])
    take(feed)
    unlimit(fan)
    hub.apply("rx", [Reading(1, {"rf_signal": -50, "audio_level": -20, "name": "Vox"})])
    hub.apply("rx", [Reading(2, {"rf_signal": -55})])  # same rf_quality band: a pure meter move
    frames = take(feed)
    kinds = [f["type"] for f in frames]
    assert kinds == ["device_update", "meters"]
    update = frames[0]
    assert update["device_id"] == "rx:1" and update["name"] == "Vox"
    assert "rf_signal" not in update and "battery_level" not in update
    assert frames[1]["d"] == {"rx:1": [-50, -20, None], "rx:2": [-55, None, None]}


def test_subscription_filters_devices() -> None:
    hub, fan, feed = setup()
    fan.subscribe(feed, Subscription(devices=frozenset({"rx:3"})))
    hub.apply("rx", [Reading(1, {"name": "A"}), Reading(3, {"name": "C"})])
    frames = take(feed)
    assert [f["device_id"] for f in frames] == ["rx:3"]
    assert [d.device_id for d in feed.initial_frame()["devices"]] == ["rx:3"]


def test_batch_when_asked() -> None:
    hub, fan, feed = setup()
    fan.subscribe(feed, Subscription(batch=True))
    hub.apply("rx", [Reading(1, {"name": "A"}), Reading(2, {"name": "B"})])
    frames = take(feed)
    assert [f["type"] for f in frames] == ["batch_update"]
    assert {u["device_id"] for u in frames[0]["updates"]} == {"rx:1", "rx:2"}


def test_connection_feed_coalesces_per_source() -> None:
    hub, fan, _ = setup()
    conn: KeyedFeed = fan.new_connection_feed()
    conn.initial_frame()
    for state in (SourceState.DISCONNECTED, SourceState.CONNECTING, SourceState.ONLINE):
        hub.set_source_state("rx", state)
    frames = take(conn)
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
    offers: list[int] = []
    original = feed.offer

    def counting(emitted: Emitted) -> None:
        offers.append(len(emitted.changes))
        original(emitted)

    feed.offer = counting  # type: ignore[method-assign,assignment]
    unlimit(fan)
    hub.apply("rx", [Reading(1, {"name": "A"}), Reading(2, {"name": "B"})])
    hub.apply("rx", [Reading(1, {"rf_signal": -50})])
    assert feed.pending == {} and not feed.wake.is_set(), "delivered after this iteration"
    await asyncio.sleep(0)
    assert offers == [2], "both devices, one hand-over"
    assert feed.pending["rx:1"] >= {"name", "rf_signal"}
    assert set(other.pending) == {"rx:1", "rx:2"}
    assert feed.wake.is_set()


def test_clients_with_one_subscription_share_encoded_frames() -> None:
    hub, fan, feed = setup()
    other = fan.new_device_feed()
    other.initial_frame()
    other.next_seq()  # the two clients' sequence numbers differ
    hub.apply("rx", [Reading(1, {"name": "A", "rf_signal": -50})])
    (emitted,) = feed.queue
    assert other.queue == [emitted], "one hand-over object for both clients"
    mine, theirs = take(feed), take(other)
    assert len(emitted.frames) == 1, "built and encoded once for the shared subscription"
    assert mine[0]["seq"] + 1 == theirs[0]["seq"]
    assert {k: v for k, v in mine[0].items() if k != "seq"} == {
        k: v for k, v in theirs[0].items() if k != "seq"
    }


def test_a_client_that_falls_behind_folds_into_one_entry_per_device() -> None:
    hub, fan, feed = setup()
    reader = fan.new_device_feed()
    reader.initial_frame()
    for i in range(50):
        unlimit(fan)  # as if each change came a meter interval after the last
        hub.apply("rx", [Reading(1 + i % 4, {"rf_signal": -50 - i % 30, "tx_on": True})])
        take(reader)
    assert len(feed.queue) <= MAX_QUEUED, "never a queue"
    assert set(feed.backlog) <= {"rx:1", "rx:2", "rx:3", "rx:4"}
    frames = take(feed)
    by_id = {f["device_id"]: f for f in frames}
    assert set(by_id) == {"rx:1", "rx:2", "rx:3", "rx:4"}
    assert by_id["rx:2"]["rf_signal"] == hub.devices["rx:2"].rf_signal, "latest wins"
    assert take(feed) == []


def test_group_client_is_not_woken_by_other_devices_and_streams_are_dropped() -> None:
    hub, fan, feed = setup()
    fan.subscribe(feed, Subscription(devices=frozenset({"rx:3"}), max_hz=5))
    assert set(fan.streams) == {5.0}, "the default-rate stream went with its last client"
    feed.wake.clear()
    hub.apply("rx", [Reading(1, {"name": "A"})])
    assert not feed.wake.is_set() and feed.queue == []
    hub.apply("rx", [Reading(3, {"name": "C"})])
    assert feed.wake.is_set()
    fan.drop(feed)
    assert fan.streams == {}


class SpiedFanOut(FanOut):
    """The fan-out, recording the device changes the hub hands it."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.told: list[frozenset[str]] = []

    def _on_event(self, event: HubEvent) -> None:
        if isinstance(event, DeviceChanged):
            self.told.append(event.changes)
        super()._on_event(event)


def test_meters_reach_the_fan_out_only_while_a_client_watches() -> None:
    hub = Hub()
    fan = SpiedFanOut(hub)
    fan.start()
    hub.upsert_receiver("rx", address="10.0.0.5", family=Family.AXIENT, channels=1)
    hub.set_source_state("rx", SourceState.ONLINE)
    feed = fan.new_device_feed()
    feed.initial_frame()
    hub.apply("rx", [Reading(1, {"tx_on": True})])
    hub.apply("rx", [Reading(1, {"rf_signal": -50})])
    assert fan.told[-1] >= {"rf_signal"}  # a client watches: every meter change
    fan.drop(feed)
    fan.told.clear()
    for rf in (-60, -70, -80):
        hub.apply("rx", [Reading(1, {"rf_signal": rf, "audio_level": rf / 2})])
    hub.apply("rx", [Reading(1, {"name": "Vox"})])
    assert fan.told == [frozenset({"name"})], "nobody watches: meters alone are not handed over"
    again = fan.new_device_feed()
    first = again.initial_frame()  # a new client starts from the snapshot ...
    assert [d.rf_signal for d in first["devices"] if d.device_id == "rx:1"] == [-80]
    hub.apply("rx", [Reading(1, {"rf_signal": -50})])  # ... and gets meters from then on
    assert fan.told[-1] >= {"rf_signal"}
    assert [f["rf_signal"] for f in take(again) if f.get("device_id") == "rx:1"] == [-50]
