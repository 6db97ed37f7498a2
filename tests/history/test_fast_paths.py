"""The meter path of history written for speed agrees exactly with the plain formulation."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest

from micboardd.history.blob import HistoryRow
from micboardd.history.ring import (
    NONE_BYTE,
    RING_FIELDS,
    ChannelHistory,
    Meter,
    SecondRing,
    _byte,
    _slot,
)
from micboardd.model import Device
from micboardd.state.hub import METER_CHANGE_KEYS

# Every change set of meters alone: what reaches a channel through its meter sink.
METER_SETS = [
    frozenset(keys)
    for n in range(1, len(METER_CHANGE_KEYS) + 1)
    for keys in itertools.combinations(sorted(METER_CHANGE_KEYS), n)
]


class PlainMeter:
    """Meter as first written: min()/max() and a separate hold step."""

    def __init__(self, now: float) -> None:
        self.value: float | None = None
        self.since = now
        self.lo, self.hi, self.area, self.covered = math.inf, -math.inf, 0.0, 0.0
        self.x_lo, self.x_hi, self.x_area, self.x_covered = math.inf, -math.inf, 0.0, 0.0

    def _hold(self, until: float) -> None:
        if self.value is not None and until > self.since:
            dt = until - self.since
            self.area += self.value * dt
            self.covered += dt
            self.lo = min(self.lo, self.value)
            self.hi = max(self.hi, self.value)
        self.since = max(self.since, until)

    def set(self, now: float, reading: Any) -> None:
        ok = isinstance(reading, int | float) and not isinstance(reading, bool)
        value = float(reading) if ok else None
        self._hold(now)
        self.value = value
        if value is not None:
            self.lo = min(self.lo, value)
            self.hi = max(self.hi, value)

    def close_second(self, end: float) -> tuple[float | None, float | None]:
        self._hold(end)
        lo, hi = self.lo, self.hi
        self.x_lo, self.x_hi = min(self.x_lo, lo), max(self.x_hi, hi)
        self.x_area += self.area
        self.x_covered += self.covered
        self.lo, self.hi, self.area, self.covered = math.inf, -math.inf, 0.0, 0.0
        return (None if lo == math.inf else lo), (None if hi == -math.inf else hi)


def _state(m: Meter | PlainMeter) -> tuple[Any, ...]:
    return (m.value, m.since, m.lo, m.hi, m.area, m.covered, m.x_lo, m.x_hi, m.x_area)


@pytest.mark.parametrize("seed", range(5))
def test_meter_matches_the_plain_formulation(seed: int) -> None:
    rng = random.Random(seed)
    fast, plain = Meter(100.0), PlainMeter(100.0)
    now, second = 100.0, 100
    readings: list[Any] = [-60, -61.5, 0, -0.0, None, True, "x", -100, 3.25, 127, -200]
    for _ in range(2000):
        # Same instant, a little later, or exactly on the next second boundary.
        now += rng.choice([0.0, 0.01, 0.3, 0.7])
        while now >= second + 1:
            second += 1
            assert fast.close_second(second) == plain.close_second(second)
        if rng.random() < 0.1:
            now = float(second + 1)
        reading = rng.choice(readings)
        fast.set(now, reading)
        plain.set(now, reading)
        assert _state(fast) == _state(plain)


@pytest.mark.parametrize("seed", range(5))
def test_folding_a_second_is_setting_each_reading_then_closing_it(seed: int) -> None:
    rng = random.Random(seed)
    keys = ((2, "rf_signal"), (3, "audio_level"), (4, "peak_level"))
    meters = {key: (Meter(100.0), Meter(100.0)) for _, key in keys}  # folded, stepped
    values: list[Any] = [-60, -61.5, 0, None, -100, 3.25, 127, "x"]
    now, second = 100.0, 100
    for _ in range(300):
        readings = []
        for _ in range(rng.randint(0, 12)):
            # Mostly forward, now and then the same instant or a clock stepped back.
            now += rng.choice([0.0, 0.05, 0.1, 0.1, -0.2])
            changes = rng.choice(METER_SETS)
            readings.append((now, changes, *(rng.choice(values) for _ in range(3))))
        second += 1
        now = max(now, float(second - 1))
        for index, key in keys:
            folded, stepped = meters[key]
            for reading in readings:  # one `set` each, as the readings came
                if key in reading[1]:
                    stepped.set(reading[0], reading[index])
            closed = stepped.close_second(second)
            assert folded.fold_second(readings, index, key, second) == closed
            assert _state(folded) == _state(stepped)


def test_slot_is_byte_of_every_reading() -> None:
    values: list[float | None] = [None, -60.0, 0.0, -0.0, 127.0, -127.0, 126.5, 127.5]
    values += [-127.5, -128.0, 200.0, -300.0, 0.5, 1.5, -0.4, 99.9]
    rng = random.Random(1)
    for _ in range(500):
        readings = tuple(rng.choice(values) for _ in range(8))
        assert _slot(readings, "good") == (*map(_byte, readings), 1)
    assert _slot((None,) * 8, None) == (NONE_BYTE,) * 8 + (0,)
    with pytest.raises(ValueError):  # as _byte(): a NaN reading is a bug upstream, not a byte
        _slot((math.nan,) * 8, None)


def test_the_ring_takes_its_whole_hour_at_creation_and_never_grows() -> None:
    # The soak (issue 21) asked whether RSS climbs while the one-hour ring fills: it does
    # not, the ring is all there from the first second and only overwritten after.
    ring = SecondRing(3600)
    size = len(ring.slots)
    assert size == 3600 * len(RING_FIELDS)
    values = _slot((-60.0, -50.0, -55.0, -30.0, -20.0, -25.0, -10.0, 80.0), "good")
    for sec in range(1_000_000, 1_000_000 + 2 * 3600 + 17):
        ring.put(sec, values)
    assert len(ring.slots) == size and ring.count == 3600


class TakenAtOnce(ChannelHistory):
    """ChannelHistory taking each meter reading as it comes, one `Meter.set` each (before
    readings waited in `pending` for the second to close and a meter took them at once)."""

    def take_meters(self, now: float, dev: Device, changes: frozenset[str]) -> None:
        if "rf_signal" in changes:
            self.rf.set(now, dev.rf_signal)
        if "audio_level" in changes:
            self.audio.set(now, dev.audio_level)
        if "peak_level" in changes:
            self.peak.set(now, dev.peak_level)


START = 1_800_000_000.25
VALUES: list[float | None] = [-60.0, -61.0, -90.5, -20.0, None, 0.0]


def two_channels() -> tuple[ChannelHistory, TakenAtOnce, Device]:
    """A channel whose readings wait in `pending`, one taking each at once, their device."""
    dev = Device(device_id="rx:1", rf_signal=-60.0, audio_level=-30.0, peak_level=-30.0)
    return ChannelHistory("rx:1", START, 600), TakenAtOnce("rx:1", START, 600), dev


def move(rng: random.Random, dev: Device) -> None:
    dev.rf_signal, dev.audio_level = rng.choice(VALUES), rng.choice(VALUES)
    dev.peak_level = dev.audio_level if rng.random() < 0.7 else rng.choice(VALUES)


def assert_same_end(
    a: ChannelHistory,
    b: ChannelHistory,
    rows: tuple[list[HistoryRow], list[HistoryRow]],
    end: float,
    least: int,
) -> None:
    rows[0].extend(a.close_partial(end))
    rows[1].extend(b.close_partial(end))
    assert rows[0] == rows[1] and len(rows[0]) > least
    assert a.ring.rows("rx:1", 0, 2**40) == b.ring.rows("rx:1", 0, 2**40)
    assert not a.pending


@pytest.mark.parametrize("seed", range(4))
def test_readings_from_the_hubs_meter_sink_give_what_taking_each_at_once_gives(seed: int) -> None:
    # The hub's sample path appends to `pending` whenever a reading comes, seconds ahead of
    # the tick that closes them (`advance`), and status changes come in between (`update`).
    rng = random.Random(seed)
    sink, at_once, dev = two_channels()
    meter_sets = METER_SETS
    now, next_tick = START, START + 1.0
    rows: tuple[list[HistoryRow], list[HistoryRow]] = ([], [])
    for _ in range(3000):
        now += rng.choice([0.0, 0.05, 0.1, 0.1, 0.1, 0.35, 1.0])
        while next_tick <= now:  # History's tick: every second, a little late or not
            rows[0].extend(sink.advance(next_tick))
            rows[1].extend(at_once.advance(next_tick))
            next_tick += rng.choice([1.0, 1.0, 1.3])
        move(rng, dev)
        if rng.random() < 0.05:  # a status change: the event path, through `update`
            dev.status = rng.choice(["good", "weak"])
            changes = frozenset({"status", "rf_signal"})
            rows[0].extend(sink.update(now, dev, changes))
            rows[1].extend(at_once.update(now, dev, changes))
            continue
        changes = rng.choice(meter_sets)
        sink.pending.append((now, changes, dev.rf_signal, dev.audio_level, dev.peak_level))
        rows[1].extend(at_once.update(now, dev, changes))
    assert_same_end(sink, at_once, rows, now + 0.5, 50)
