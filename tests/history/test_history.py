"""Show history: correct aggregates for a known signal, one transaction per batch, retention
in small steps, and everything but the last batch survives a restart."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from micboardd.history.blob import HistoryRow, day_of, pack_minute, unpack_minute
from micboardd.history.service import History, rebucket, tick_parts
from micboardd.history.store import load_days
from micboardd.model import Reading
from micboardd.state.hub import Hub
from micboardd.store.database import Store
from tests.clocked_hub import ON_AIR, RX, T0, Clock, make_history, make_hub

DEV = f"{RX}:1"


async def open_store(path: Path) -> Store:
    store = Store(path)
    await store.open()
    return store


def read(hub: Hub, channel: int = 1, **fields: Any) -> None:
    hub.apply(RX, [Reading(channel, fields)])


def run(clock: Clock, history: History, seconds: float, step: float = 0.5) -> None:
    end = clock.t + seconds
    while clock.t < end - 1e-9:
        clock.t = min(end, clock.t + step)
        history.tick()


def known_signal(hub: Hub, clock: Clock, history: History) -> None:
    """Ten seconds from T0: RF -60 dBm for 5 s then -70 dBm; audio -30 then -20 dBFS for 2 s
    and -30 again; one peak at -3 dBFS; battery 80 %."""
    read(hub, **{**ON_AIR, "battery_level": 80, "battery_minutes": 400, "rf_signal": -60.0})
    run(clock, history, 3)
    read(hub, audio_level=-20.0, peak_level=-3.0)
    run(clock, history, 2)
    read(hub, rf_signal=-70.0, audio_level=-30.0, peak_level=-18.0)
    run(clock, history, 5)


async def test_known_signal_gives_correct_aggregates_and_survives_restart(
    tmp_path: Path, clock: Clock
) -> None:
    db = tmp_path / "micboardd.db"
    store = await open_store(db)
    hub = make_hub(clock)
    history = make_history(hub, store, clock)
    await history.start()
    known_signal(hub, clock, history)
    run(clock, history, 50)
    assert await history.flush() == 4 * 6  # the first minute of the four channels

    series = await history.series(DEV, T0, T0 + 20, 10)
    first, second = series.rows
    assert first.t == T0 and second.t == T0 + 10
    assert (first.rf_min, first.rf_max) == (-70.0, -60.0)
    assert first.rf_avg == pytest.approx(-65.0)
    assert (first.audio_min, first.audio_max) == (-30.0, -20.0)
    assert first.audio_avg == pytest.approx(-28.0)  # 8 s at -30, 2 s at -20
    assert first.peak_max == -3.0
    assert (first.battery_level, first.battery_minutes, first.status) == (80, 400, "good")
    assert (second.rf_min, second.rf_max, second.rf_avg) == (-70.0, -70.0, -70.0)

    # One-second detail from memory: min/max/last of each second.
    fine = await history.series(DEV, T0, T0 + 10, 1)
    assert fine.step == 1 and len(fine.rows) == 10
    assert [r.rf_max for r in fine.rows] == [-60.0] * 5 + [-70.0] * 5
    assert [r.audio_max for r in fine.rows][2:6] == [-30.0, -20.0, -20.0, -30.0]
    await history.stop()
    await store.close()

    # After a restart the ten-second rows come back from SQLite, and a coarser step merges them.
    store = await open_store(db)
    history = make_history(make_hub(clock), store, clock)
    await history.start()
    again = await history.series(DEV, T0, T0 + 20, 10)
    assert again.rows[:2] == series.rows
    merged = await history.series(DEV, T0, T0 + 20, 20)
    (row,) = merged.rows
    assert (row.rf_min, row.rf_max) == (-70.0, -60.0)
    assert row.rf_avg == pytest.approx(-67.5)
    # Memory is empty after a restart: a fine step falls back to ten seconds.
    assert (await history.series(DEV, T0, T0 + 20, 1)).step == 10
    events = await history.events(DEV, T0 - 1, T0 + 30)
    statuses = [(e.t, e.value, e.previous) for e in events if e.kind == "status"]
    # Online with nothing read yet is unknown; the first answer makes it good.
    assert statuses[:2] == [(T0, "unknown", None), (T0, "good", "unknown")]
    await history.stop()
    await store.close()


async def test_a_batch_is_one_transaction(store: Store, clock: Clock) -> None:
    hub = make_hub(clock)
    history = make_history(hub, store, clock)
    await history.start()
    for ch in range(1, 5):
        read(hub, ch, **ON_AIR)
    for i in range(600):  # a minute of meters at 10 Hz on four channels
        clock.t = T0 + (i + 1) / 10
        for ch in range(1, 5):
            read(hub, ch, rf_signal=-60.0 - (i % 7), audio_level=-30.0 + (i % 5))
        if i % 10 == 0:
            history.tick()
    statements: list[str] = []
    await store.db.set_trace_callback(statements.append)
    written = await history.flush()
    await store.db.set_trace_callback(None)  # type: ignore[arg-type]
    assert written == 4 * 6
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    assert history.batches_written == 1
    await history.stop()


async def test_retention_drops_whole_days_one_per_batch(store: Store, clock: Clock) -> None:
    day = 86400
    hub = make_hub(clock)
    history = make_history(hub, store, clock, retention_s=day)
    await history.start()
    d0 = day_of(T0)
    for ch in range(1, 5):
        read(hub, ch, **ON_AIR)

    async def show_on(day_index: int) -> None:
        clock.t = (d0 + day_index) * day + 3600.0
        run(clock, history, 120, step=1.0)
        await history.flush()

    await show_on(0)
    await show_on(1)
    assert await load_days(store) == {d0, d0 + 1}
    await show_on(2)  # day 0 is now entirely older than a day
    assert await load_days(store) == {d0 + 1, d0 + 2}
    clock.t = (d0 + 6) * day + 3600.0
    history.tick()
    await history.flush()  # days 1 and 2 expired: one step drops one
    assert await load_days(store) == {d0 + 2}
    await history.flush()
    assert await load_days(store) == set()
    old = await history.series(DEV, (d0 + 1) * day, (d0 + 3) * day, 3600)
    assert old.rows == []
    await show_on(6)
    recent = await history.series(DEV, (d0 + 6) * day, (d0 + 7) * day, 60)
    assert len(recent.rows) == 2
    await history.stop()


async def test_crash_loses_at_most_the_last_batch(tmp_path: Path, clock: Clock) -> None:
    db = tmp_path / "micboardd.db"
    store = await open_store(db)
    hub = make_hub(clock)
    history = make_history(hub, store, clock)
    await history.start()
    read(hub, **ON_AIR)
    run(clock, history, 60)
    await history.flush()
    run(clock, history, 50)  # not flushed: lost in the crash
    await store.close()  # no stop(): the process dies here

    store = await open_store(db)
    history = make_history(make_hub(clock), store, clock)
    await history.start()
    rows = (await history.series(DEV, T0, clock.t, 10)).rows
    assert [r.t for r in rows] == [T0 + 10 * i for i in range(6)]
    await store.close()


async def test_removed_channel_keeps_its_history(store: Store, clock: Clock) -> None:
    hub = make_hub(clock)
    history = make_history(hub, store, clock)
    await history.start()
    read(hub, **ON_AIR)
    run(clock, history, 15)
    hub.remove_receiver(RX)
    await history.flush()
    assert history.known(DEV)
    rows = (await history.series(DEV, T0, clock.t + 10, 10)).rows
    assert [r.t for r in rows] == [T0, T0 + 10]
    await history.stop()


def test_rebucket_merges_aligned_buckets() -> None:
    rows = [
        HistoryRow(t=100, device_id="d", rf_min=-70, rf_max=-60, rf_avg=-65, status="good"),
        HistoryRow(t=110, device_id="d", rf_min=-80, rf_max=-50, rf_avg=-55, status="tx_off"),
        HistoryRow(t=120, device_id="d", rf_min=None, rf_max=None, rf_avg=None, status=None),
    ]
    merged = rebucket(rows, 60)
    assert len(merged) == 2  # 60..119 and 120..179
    first = merged[0]
    assert (first.t, first.rf_min, first.rf_max, first.rf_avg) == (60, -80, -50, -60)
    assert first.status == "tx_off"
    assert merged[1].rf_min is None and merged[1].status is None


def test_minute_packing_round_trip() -> None:
    row = HistoryRow(
        t=int(T0) + 20,
        device_id="d",
        rf_min=-71.4,
        rf_max=-55.6,
        rf_avg=-63.25,
        audio_min=-40.0,
        audio_max=-2.0,
        audio_avg=-20.04,
        peak_max=-0.3,
        battery_level=45,
        battery_minutes=130,
        status="prev_replace",
    )
    blob = pack_minute([None, None, row, None, None, None])
    assert len(blob) == 78
    slots = unpack_minute(int(T0), "d", blob)
    assert slots[:2] == [None, None] and slots[3:] == [None] * 3
    back = slots[2]
    assert back is not None and back.t == T0 + 20
    assert (back.rf_min, back.rf_max, back.rf_avg) == (-71.0, -56.0, -63.2)
    assert (back.audio_avg, back.peak_max) == (-20.0, 0.0)
    assert (back.battery_level, back.battery_minutes, back.status) == (45, 130, "prev_replace")


async def test_restart_inside_a_minute_keeps_both_parts(tmp_path: Path, clock: Clock) -> None:
    db = tmp_path / "micboardd.db"
    store = await open_store(db)
    hub = make_hub(clock)
    history = make_history(hub, store, clock)
    await history.start()
    read(hub, **{**ON_AIR, "rf_signal": -60.0})
    run(clock, history, 25)
    await history.stop()  # a clean stop writes the unfinished minute too
    await store.close()

    store = await open_store(db)
    hub = make_hub(clock)
    history = make_history(hub, store, clock)
    await history.start()
    read(hub, **{**ON_AIR, "rf_signal": -70.0})
    run(clock, history, 40)
    await history.flush()
    rows = (await history.series(DEV, T0, T0 + 60, 10)).rows
    assert [r.t for r in rows] == [T0 + 10 * i for i in range(6)]
    assert [r.rf_max for r in rows] == [-60.0, -60.0, -60.0, -70.0, -70.0, -70.0]
    assert rows[2].rf_min == -70.0  # the bucket the restart split has both halves
    await history.stop()
    await store.close()


async def test_fresh_daemon_answers_fine_steps_from_memory(store: Store) -> None:
    """Started between two ten-second boundaries, with nothing stored before: a range that
    starts before the daemon did is still answered at one second (it used to come from the
    ten-second rows, because the ring's first, partial ten seconds count as a stored row)."""
    clock = Clock(T0 + 3.5)
    hub = make_hub(clock)
    history = make_history(hub, store, clock)
    await history.start()
    read(hub, **{**ON_AIR, "rf_signal": -60.0})
    run(clock, history, 30)
    read(hub, rf_signal=-70.0)
    run(clock, history, 40)  # T0 + 73.5: the first minute has ended
    assert await history.flush() > 0  # and is in SQLite now
    ring = history.channels[DEV].ring
    assert (ring.oldest, ring.newest) == (T0 + 3, T0 + 72)

    fine = await history.series(DEV, T0, clock.t, 1)
    assert fine.step == 1
    assert [r.t for r in fine.rows] == list(range(int(T0) + 3, int(T0) + 73))
    assert [r.rf_min for r in fine.rows] == [-60.0] * 30 + [-70.0] * 40  # changed at +33.5

    # What the timeline asks for first: the last hour, automatic step (5 s).
    hour = await history.series(DEV, clock.t - 3600, clock.t, 5)
    assert hour.step == 5
    assert [r.t for r in hour.rows] == list(range(int(T0), int(T0) + 73, 5))
    assert hour.rows[0].rf_max == -60.0 and hour.rows[-1].rf_max == -70.0

    # Fully inside memory: any step, memory's own buckets.
    inside = await history.series(DEV, T0 + 20, T0 + 41, 3)
    assert inside.step == 3
    assert [r.t for r in inside.rows] == list(range(int(T0) + 18, int(T0) + 40, 3))
    await history.stop()


async def test_range_before_memory_merges_stored_rows_and_memory(
    tmp_path: Path, clock: Clock
) -> None:
    """After a restart the older part of a range comes from SQLite (ten seconds), the newer
    part from memory at the requested step: every bucket once, none missing."""
    db = tmp_path / "micboardd.db"
    store = await open_store(db)
    try:
        history = make_history(make_hub(clock), store, clock)
        await history.start()
        read(history.hub, **{**ON_AIR, "rf_signal": -60.0})
        run(clock, history, 120)
        await history.stop()
    finally:
        await store.close()

    clock.t = T0 + 303.5  # back five minutes later, between two ten-second boundaries
    store = await open_store(db)
    try:
        await merged_after_restart(store, clock)
    finally:
        await store.close()


async def merged_after_restart(store: Store, clock: Clock) -> None:
    history = make_history(make_hub(clock), store, clock)
    await history.start()
    read(history.hub, **{**ON_AIR, "rf_signal": -70.0})
    run(clock, history, 40)  # memory: T0+303 .. T0+342
    t0 = int(T0)

    for step, fine in ((1, 1), (2, 2), (5, 5), (3, 5)):
        series = await history.series(DEV, T0, clock.t, step)
        assert series.step == fine, step
        ts = [r.t for r in series.rows]
        assert ts == sorted(set(ts)), step  # no bucket twice
        # The first run from SQLite, ten seconds each (its last, partial bucket included).
        assert ts[:13] == list(range(t0, t0 + 121, 10)), step
        assert {r.rf_max for r in series.rows[:12]} == {-60.0}
        # The ten seconds memory starts in: the stored bucket (memory lacks its start),
        # then memory at the fine step up to the last closed second.
        assert ts[13] == t0 + 300 and series.rows[13].rf_max == -70.0
        assert ts[14:] == list(range(t0 + 310, t0 + 343, fine)), step
        assert {r.rf_max for r in series.rows[14:]} == {-70.0}
        # So every second is in exactly one row: [t0, t0+130) in ten-second rows (nothing
        # was recorded between the runs), [t0+300, t0+310) in one, then `fine` seconds each.

    # A range memory does not reach: ten-second rows.
    old = await history.series(DEV, T0, T0 + 60, 1)
    assert old.step == 10 and [r.t for r in old.rows] == list(range(t0, t0 + 60, 10))
    # A range inside memory: memory only.
    recent = await history.series(DEV, T0 + 310, T0 + 320, 1)
    assert recent.step == 1 and [r.t for r in recent.rows] == list(range(t0 + 310, t0 + 320))
    await history.stop()


async def test_samples_through_the_hubs_meter_sink_keep_what_readings_keep(
    tmp_path: Path,
) -> None:
    # The same metering, once as the sample path's writes (they reach history through the
    # hub's meter sink, no event) and once as plain readings (events): the same seconds
    # and ten-second rows, a channel twice in a write and a clipping peak included.
    results = []
    for as_samples in (True, False):
        clock = Clock()
        hub = make_hub(clock, channels=2)
        store = await open_store(tmp_path / f"h{as_samples}.db")
        history = make_history(hub, store, clock)
        await history.start()
        hub.apply(RX, [Reading(ch, dict(ON_AIR)) for ch in (1, 2)])
        rng = random.Random(4)
        for step in range(600):  # a minute at 10 writes a second
            clock.t += 0.1
            write = []
            for channel in rng.choice([(1, 2), (1, 2), (2, 1, 1)]):
                audio = rng.randint(-50, -2)
                peak = audio if rng.random() < 0.97 else 0
                write.append((channel, "A", rng.randint(-95, -40), audio, peak))
            if as_samples:
                hub.apply_samples(RX, write)
            else:
                hub.apply(RX, [Reading(c, dict(zip(KEYS, v, strict=True))) for c, *v in write])
            if step % 10 == 9:
                history.tick()
        assert not as_samples or hub.meter_sinks[DEV] is history.channels[DEV].pending
        rows = [history.channels[d].ring.rows(d, 0, 2**40) for d in (DEV, f"{RX}:2")]
        await history.stop()
        assert DEV not in hub.meter_sinks, "a stopped history leaves no sink behind"
        results.append((rows, await history.series(DEV, T0, T0 + 70, 10)))
        await store.close()
    assert results[0] == results[1]
    assert len(results[0][0][0]) >= 55


KEYS = ("antenna", "rf_signal", "audio_level", "peak_level")


async def test_a_tick_in_parts_closes_each_channel_once_per_round(
    store: Store, clock: Clock
) -> None:
    # A big venue's tick closes a share of the channels at a time (a tenth every 100 ms for
    # 1000 channels): each share advances only its own channels, and a round of shares
    # closes what one whole tick closes.
    hub = make_hub(clock, channels=4)
    history = make_history(hub, store, clock)
    await history.start()
    read(hub, **ON_AIR)
    clock.t += 2.0

    def secs() -> list[int]:
        return [ch.sec for ch in history.channels.values()]

    before = secs()
    history.tick(1, 3)
    assert [s != b for s, b in zip(secs(), before, strict=True)] == [False, True, False, False]
    history.tick(0, 3)
    history.tick(2, 3)
    assert secs() == [math.floor(clock.t)] * 4


def test_a_small_venue_closes_every_channel_at_once_a_big_one_in_shares() -> None:
    assert [tick_parts(n) for n in (0, 1, 100, 101, 250, 1000, 5000)] == [1, 1, 1, 2, 3, 10, 10]
