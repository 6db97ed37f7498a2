"""One channel's history in memory: a one-second ring of min/max/last per field (signed
bytes, whole dB, about 32 KB per channel-hour) and the ten-second aggregate being built.

history.py feeds it from hub events and persists its ten-second rows.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

from micboardd.history.blob import BUCKET_S, STATUS_CODES, HistoryRow, status_name
from micboardd.model import Device, number
from micboardd.sources.ports import MeterReading

RING_FIELDS = (
    "rf_min",
    "rf_max",
    "rf_last",
    "audio_min",
    "audio_max",
    "audio_last",
    "peak_max",
    "battery_level",
    "status",
)
NONE_BYTE = -128  # "unknown" in the ring; real values are clamped to -127..127
BYTE_MIN, BYTE_MAX = -127, 127


def _byte(value: float | None) -> int:
    if value is None:
        return NONE_BYTE
    b = round(value)
    # Comparisons, not max(-127, min(127, b)): the builtins cost more than the rest here,
    # and this runs nine times per channel-second.
    return BYTE_MIN if b < BYTE_MIN else BYTE_MAX if b > BYTE_MAX else b


def _slot(readings: tuple[float | None, ...], status: str | None) -> tuple[int, ...]:
    """One second as the ring stores it: the eight readings of RING_FIELDS as bytes, then
    the status code."""
    return (*map(_byte, readings), _STATUS_BYTE.get(status or "", 0))


def _unbyte(value: int) -> float | None:
    return None if value == NONE_BYTE else float(value)


_STATUS_BYTE = {s: i for i, s in enumerate(STATUS_CODES) if s is not None}
_GAP = (NONE_BYTE,) * len(RING_FIELDS)  # a second nobody saw
_NO_ROWS: tuple[HistoryRow, ...] = ()  # most readings close nothing: no list for them
_NO_READINGS: tuple[MeterReading, ...] = ()
Closed = tuple[float | None, float | None]  # a meter's (min, max) over a closed second


# One second of the ring: RING_FIELDS as signed bytes, side by side. Row-major, so closing
# a second is one pack into one cache line rather than a write into nine separate columns.
_SLOT = struct.Struct(f"{len(RING_FIELDS)}b")


class SecondRing:
    """The last `size` seconds of one channel, one slot per second, bytes only."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.slots = bytearray(_SLOT.pack(*_GAP)) * size
        self.newest: int | None = None
        self.count = 0

    @property
    def oldest(self) -> int | None:
        return None if self.newest is None else self.newest - self.count + 1

    def put(self, sec: int, values: tuple[int, ...]) -> None:
        newest = self.newest
        if newest is not None:
            if sec <= newest:
                return  # the past is never rewritten (clock stepped back)
            if sec > newest + 1:  # nearly always the next second: no gap to fill
                for skipped in range(max(newest + 1, sec - self.size), sec):
                    self._write(skipped, _GAP)
        self._write(sec, values)

    def _write(self, sec: int, values: tuple[int, ...]) -> None:
        _SLOT.pack_into(self.slots, (sec % self.size) * _SLOT.size, *values)
        self.newest = sec
        if self.count < self.size:
            self.count += 1

    def rows(self, device_id: str, start: int, end: int) -> list[HistoryRow]:
        """Seconds start <= t < end that are still held, as rows (avg = the last value)."""
        oldest, newest = self.oldest, self.newest
        if oldest is None or newest is None:
            return []
        out: list[HistoryRow] = []
        for sec in range(max(start, oldest), min(end, newest + 1)):
            v = _SLOT.unpack_from(self.slots, (sec % self.size) * _SLOT.size)
            status = v[8]
            out.append(
                HistoryRow(
                    t=sec,
                    device_id=device_id,
                    rf_min=_unbyte(v[0]),
                    rf_max=_unbyte(v[1]),
                    rf_avg=_unbyte(v[2]),
                    audio_min=_unbyte(v[3]),
                    audio_max=_unbyte(v[4]),
                    audio_avg=_unbyte(v[5]),
                    peak_max=_unbyte(v[6]),
                    battery_level=_unbyte(v[7]),
                    status=status_name(status),
                )
            )
        return out


class Meter:
    """One value of a channel and its min, max and time-weighted mean over the open second
    and the open ten seconds. A value counts in a bucket when it was set there or held there
    for some time, so a change exactly on a boundary does not leak into the bucket before."""

    __slots__ = (
        "area",
        "covered",
        "hi",
        "lo",
        "since",
        "value",
        "x_area",
        "x_covered",
        "x_hi",
        "x_lo",
    )

    def __init__(self, now: float) -> None:
        self.value: float | None = None
        self.since = now
        self.lo, self.hi, self.area, self.covered = math.inf, -math.inf, 0.0, 0.0
        self.x_lo, self.x_hi, self.x_area, self.x_covered = math.inf, -math.inf, 0.0, 0.0

    # min()/max() written out (`x if x < lo else lo` is exactly what min(lo, x) returns):
    # this runs for every meter reading, and the builtin calls cost more than the rest.

    def set(self, now: float, reading: Any) -> None:
        """Take a device reading at `now`; anything but a number is unknown (None). The value
        held until now counts first (its time in the mean, its min and max)."""
        # `number(reading)` written out, min()/max() too (see above): a thousand calls a
        # second.
        lo, hi, since = self.lo, self.hi, self.since
        if now > since:
            held = self.value
            if held is not None:
                dt = now - since
                self.area += held * dt
                self.covered += dt
                lo = held if held < lo else lo
                hi = held if held > hi else hi
            self.since = now
        kind = reading.__class__
        value = reading if kind is float else float(reading) if kind is int else number(reading)
        self.value = value
        if value is not None:
            lo = value if value < lo else lo
            hi = value if value > hi else hi
        self.lo, self.hi = lo, hi

    def fold_second(
        self, readings: Sequence[MeterReading], index: int, key: str, end: float
    ) -> tuple[float | None, float | None]:
        """`set` for each of `readings` in order whose changes name `key` (its value at
        `index`), then `close_second(end)`: one pass on locals, the same arithmetic in the
        same order, written back once (a channel's every second: ten readings, three
        meters, a hundred channels)."""
        value, since, lo, hi = self.value, self.since, self.lo, self.hi
        area, covered = self.area, self.covered
        for reading in readings:
            if key not in reading[1]:
                continue
            now = reading[0]
            if now > since:
                if value is not None:
                    dt = now - since
                    area += value * dt
                    covered += dt
                    lo = value if value < lo else lo
                    hi = value if value > hi else hi
                since = now
            new: Any = reading[index]
            kind = new.__class__
            value = new if kind is float else float(new) if kind is int else number(new)
            if value is not None:
                lo = value if value < lo else lo
                hi = value if value > hi else hi
        if end > since:  # the value held to the end of the second (close_second's `set`)
            if value is not None:
                dt = end - since
                area += value * dt
                covered += dt
                lo = value if value < lo else lo
                hi = value if value > hi else hi
            since = end
        self.value, self.since = value, since
        x_lo, x_hi = self.x_lo, self.x_hi
        self.x_lo = lo if lo < x_lo else x_lo
        self.x_hi = hi if hi > x_hi else x_hi
        self.x_area += area
        self.x_covered += covered
        self.lo, self.hi, self.area, self.covered = math.inf, -math.inf, 0.0, 0.0
        return (None if lo == math.inf else lo), (None if hi == -math.inf else hi)

    def close_second(self, end: float) -> tuple[float | None, float | None]:
        """(min, max) of the second ending at `end`; folds it into the ten seconds."""
        if end > self.since:
            self.set(end, self.value)  # the value held to the end of the second
        lo, hi, x_lo, x_hi = self.lo, self.hi, self.x_lo, self.x_hi
        self.x_lo = lo if lo < x_lo else x_lo
        self.x_hi = hi if hi > x_hi else x_hi
        self.x_area += self.area
        self.x_covered += self.covered
        self.lo, self.hi, self.area, self.covered = math.inf, -math.inf, 0.0, 0.0
        return (None if lo == math.inf else lo), (None if hi == -math.inf else hi)

    def close_ten(self) -> tuple[float | None, float | None, float | None]:
        """(min, max, mean) of the closed seconds of the open ten; starts the next ten."""
        lo = None if self.x_lo == math.inf else self.x_lo
        hi = None if self.x_hi == -math.inf else self.x_hi
        if self.x_covered > 0:
            mean: float | None = self.x_area / self.x_covered
        else:
            mean = lo if lo == hi else None
        self.x_lo, self.x_hi, self.x_area, self.x_covered = math.inf, -math.inf, 0.0, 0.0
        return lo, hi, mean


# Device fields history keeps, and what a hub event must change for history to look at it.
TRACKED = frozenset(
    {"rf_signal", "audio_level", "peak_level", "battery_level", "battery_minutes", "status"}
)


class ChannelHistory:
    """One channel: its meters, the open one- and ten-second buckets, the ring."""

    def __init__(self, device_id: str, now: float, memory_s: int) -> None:
        self.device_id = device_id
        self.rf, self.audio, self.peak = Meter(now), Meter(now), Meter(now)
        self.battery: float | None = None
        self.minutes: float | None = None
        self.status: str | None = None
        self.ring = SecondRing(memory_s)
        # Meter readings not yet taken: (now, changes, rf, audio, peak), in the order they
        # came. Appended by the hub for every change of meters alone (History gives it
        # this list as the channel's meter sink) and by `update`; taken, second by
        # second, when a second closes (`advance`: History's tick, every second). Ten
        # readings a second per channel taken in one warm loop cost a fraction of ten calls
        # into cold meters.
        self.pending: list[MeterReading] = []
        self._restart(now)

    def _restart(self, now: float) -> None:
        self.sec = math.floor(now)  # the open second
        self.ten = math.floor(now / BUCKET_S) * BUCKET_S  # the open ten seconds
        for meter in (self.rf, self.audio, self.peak):
            meter.since = now
            meter.close_second(now)
            meter.close_ten()

    def update(self, now: float, dev: Device, changes: frozenset[str]) -> Sequence[HistoryRow]:
        """Take the changed values at `now`; returns the ten-second rows this closed."""
        rows = self.advance(now) if now >= self.sec + 1 else _NO_ROWS
        self.take_meters(now, dev, changes)
        if "battery_level" in changes:
            self.battery = number(dev.battery_level)
        if "battery_minutes" in changes:
            self.minutes = number(dev.battery_minutes)
        if "status" in changes:
            self.status = dev.status
        return rows

    def take_meters(self, now: float, dev: Device, changes: frozenset[str]) -> None:
        """The changed meters at `now`, inside the open second (the caller closed the
        seconds before it: `update`, or it knows none ended). Kept in `pending` until the
        second closes."""
        self.pending.append((now, changes, dev.rf_signal, dev.audio_level, dev.peak_level))

    def _fold(self, readings: Sequence[MeterReading], end: float) -> tuple[Closed, ...]:
        """Each meter takes `readings` and closes its second at `end`: (min, max) of each."""
        return (
            self.rf.fold_second(readings, 2, "rf_signal", end),
            self.audio.fold_second(readings, 3, "audio_level", end),
            self.peak.fold_second(readings, 4, "peak_level", end),
        )

    def _taken_before(self, end: float) -> Sequence[MeterReading]:
        """The pending readings from before `end`, out of `pending` (the rest belong to later
        seconds: the hub's sample path appends whenever they come, `Hub.meter_sinks`)."""
        pending = self.pending
        if not pending:
            return _NO_READINGS
        if pending[-1][0] < end:  # all of them: the usual case
            # A copy, then cleared: the list itself is the hub's meter sink for this channel.
            taken = pending.copy()
            pending.clear()
            return taken
        i = 0
        while i < len(pending) and pending[i][0] < end:
            i += 1
        taken = pending[:i]
        del pending[:i]
        return taken

    def advance(self, now: float) -> list[HistoryRow]:
        """Close every bucket that ended at or before `now`."""
        if now - self.sec > self.ring.size + BUCKET_S or now < self.sec - BUCKET_S:
            # The clock jumped (a Pi without RTC setting its time): start afresh from now,
            # the last values held.
            self._fold(self._taken_before(math.inf), now)  # the last values are held
            self._restart(now)
            return []
        rows: list[HistoryRow] = []
        rf, audio = self.rf, self.audio
        while self.sec + 1 <= now:
            end = self.sec + 1
            (rf_lo, rf_hi), (au_lo, au_hi), (_, pk_hi) = self._fold(self._taken_before(end), end)
            readings = (rf_lo, rf_hi, rf.value, au_lo, au_hi, audio.value, pk_hi, self.battery)
            self.ring.put(self.sec, _slot(readings, self.status))
            self.sec = end
            if end >= self.ten + BUCKET_S:
                row = self._ten_row()
                if row is not None:
                    rows.append(row)
                self.ten = end - end % BUCKET_S
        return rows

    def close_partial(self, now: float) -> list[HistoryRow]:
        """Everything up to `now`, the open ten-second bucket included (shutdown)."""
        rows = self.advance(now)
        self._fold(self._taken_before(math.inf), now)
        row = self._ten_row()
        return [*rows, row] if row is not None else rows

    def _ten_row(self) -> HistoryRow | None:
        rf, audio, peak = self.rf.close_ten(), self.audio.close_ten(), self.peak.close_ten()
        rf_lo, rf_hi, rf_mean = rf
        au_lo, au_hi, au_mean = audio
        pk_hi = peak[1]
        known = (*rf, *audio, pk_hi, self.battery, self.minutes, self.status)
        if known.count(None) == len(known):
            return None  # nothing known: no row (checked before building one: that is costly)
        return HistoryRow(
            t=self.ten,
            device_id=self.device_id,
            rf_min=rf_lo,
            rf_max=rf_hi,
            rf_avg=rf_mean,
            audio_min=au_lo,
            audio_max=au_hi,
            audio_avg=au_mean,
            peak_max=pk_hi,
            battery_level=self.battery,
            battery_minutes=self.minutes,
            status=self.status,
        )
