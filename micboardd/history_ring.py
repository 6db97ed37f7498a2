"""One channel's history in memory: a one-second ring of min/max/last per field (signed
bytes, whole dB, about 32 KB per channel-hour) and the ten-second aggregate being built.

history.py feeds it from hub events and persists its ten-second rows.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

from . import store_history as sql
from .model import DeviceDict
from .store_history import HistoryRow

BUCKET_S = sql.BUCKET_S  # the persisted resolution
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


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _byte(value: float | None) -> int:
    return NONE_BYTE if value is None else max(-127, min(127, round(value)))


def _unbyte(value: int) -> float | None:
    return None if value == NONE_BYTE else float(value)


_STATUS_BYTE = {s: i for i, s in enumerate(sql.STATUS_CODES) if s is not None}


class SecondRing:
    """The last `size` seconds of one channel, one slot per second, bytes only."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.cols = [array("b", [NONE_BYTE]) * size for _ in RING_FIELDS]
        self.newest: int | None = None
        self.count = 0

    @property
    def oldest(self) -> int | None:
        return None if self.newest is None else self.newest - self.count + 1

    def put(self, sec: int, values: tuple[int, ...]) -> None:
        if self.newest is not None:
            if sec <= self.newest:
                return  # the past is never rewritten (clock stepped back)
            gap = (NONE_BYTE,) * len(RING_FIELDS)
            for skipped in range(max(self.newest + 1, sec - self.size), sec):
                self._write(skipped, gap)
        self._write(sec, values)

    def _write(self, sec: int, values: tuple[int, ...]) -> None:
        index = sec % self.size
        for col, value in zip(self.cols, values, strict=True):
            col[index] = value
        self.newest = sec
        self.count = min(self.size, self.count + 1)

    def rows(self, device_id: str, start: int, end: int) -> list[HistoryRow]:
        """Seconds start <= t < end that are still held, as rows (avg = the last value)."""
        oldest, newest = self.oldest, self.newest
        if oldest is None or newest is None:
            return []
        out: list[HistoryRow] = []
        for sec in range(max(start, oldest), min(end, newest + 1)):
            i = sec % self.size
            v = [col[i] for col in self.cols]
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
                    status=sql.status_name(status),
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

    def _hold(self, until: float) -> None:
        value = self.value
        if value is not None and until > self.since:
            dt = until - self.since
            self.area += value * dt
            self.covered += dt
            self.lo = min(self.lo, value)
            self.hi = max(self.hi, value)
        self.since = max(self.since, until)

    def set(self, now: float, value: float | None) -> None:
        self._hold(now)
        self.value = value
        if value is not None:
            self.lo = min(self.lo, value)
            self.hi = max(self.hi, value)

    def close_second(self, end: float) -> tuple[float | None, float | None]:
        """(min, max) of the second ending at `end`; folds it into the ten seconds."""
        self._hold(end)
        lo, hi = self.lo, self.hi
        self.x_lo, self.x_hi = min(self.x_lo, lo), max(self.x_hi, hi)
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
        self._restart(now)

    def _restart(self, now: float) -> None:
        self.sec = math.floor(now)  # the open second
        self.ten = math.floor(now / BUCKET_S) * BUCKET_S  # the open ten seconds
        for meter in (self.rf, self.audio, self.peak):
            meter.since = now
            meter.close_second(now)
            meter.close_ten()

    def update(self, now: float, dev: DeviceDict, changes: frozenset[str]) -> list[HistoryRow]:
        """Take the changed values at `now`; returns the ten-second rows this closed."""
        rows = self.advance(now) if now >= self.sec + 1 else []
        if "rf_signal" in changes:
            self.rf.set(now, _num(dev.get("rf_signal")))
        if "audio_level" in changes:
            self.audio.set(now, _num(dev.get("audio_level")))
        if "peak_level" in changes:
            self.peak.set(now, _num(dev.get("peak_level")))
        if "battery_level" in changes:
            self.battery = _num(dev.get("battery_level"))
        if "battery_minutes" in changes:
            self.minutes = _num(dev.get("battery_minutes"))
        if "status" in changes:
            self.status = dev.get("status")
        return rows

    def advance(self, now: float) -> list[HistoryRow]:
        """Close every bucket that ended at or before `now`."""
        if now - self.sec > self.ring.size + BUCKET_S or now < self.sec - BUCKET_S:
            # The clock jumped (a Pi without RTC setting its time): start afresh from now.
            self._restart(now)
            return []
        rows: list[HistoryRow] = []
        while self.sec + 1 <= now:
            end = self.sec + 1
            rf_lo, rf_hi = self.rf.close_second(end)
            au_lo, au_hi = self.audio.close_second(end)
            _, pk_hi = self.peak.close_second(end)
            self.ring.put(
                self.sec,
                (
                    _byte(rf_lo),
                    _byte(rf_hi),
                    _byte(self.rf.value),
                    _byte(au_lo),
                    _byte(au_hi),
                    _byte(self.audio.value),
                    _byte(pk_hi),
                    _byte(self.battery),
                    _STATUS_BYTE.get(self.status or "", 0),
                ),
            )
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
        for meter in (self.rf, self.audio, self.peak):
            meter.close_second(now)
        row = self._ten_row()
        return [*rows, row] if row is not None else rows

    def _ten_row(self) -> HistoryRow | None:
        rf_lo, rf_hi, rf_mean = self.rf.close_ten()
        au_lo, au_hi, au_mean = self.audio.close_ten()
        _, pk_hi, _ = self.peak.close_ten()
        row = HistoryRow(
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
        return None if all(v is None for v in row.values()) else row
