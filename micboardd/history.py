"""Show history: per channel RF, audio, battery and status over time.

Two resolutions, one source (hub events):

- one-second min/max/last of every channel for the last hour, in memory: a ring of signed
  bytes per field (whole dB, 9 bytes per channel-second, about 32 KB per channel);
- ten-second aggregates (min/max/time-weighted mean, peak, battery, status) persisted for a
  week, written once a minute in ONE transaction together with the status-change events and
  one small retention step. Meter data never reaches SQLite at meter rate, and a crash or
  power cut loses at most the batch that was still in memory.

Between hub events a value holds (the hub only reports visible changes), so every bucket
starts with the values carried over from the one before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import store_history as sql
from .hub import DeviceChanged, DeviceRemoved, Hub, HubEvent
from .model import DeviceDict
from .store import Store
from .store_history import Event, HistoryRow

log = logging.getLogger(__name__)

HISTORY_TICK_S = 1.0  # buckets close on the second, even for a channel that is silent
BUCKET_S = sql.BUCKET_S  # the persisted resolution
# Steps from memory that divide ten seconds: used where memory continues stored rows.
FINE_STEPS = (1, 2, 5, BUCKET_S)
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
# Channel-minutes kept in memory while the database refuses writes (an hour of 100
# channels); past this the oldest go, so a dead SD card never grows memory without bound.
MAX_PENDING_MINUTES = 6_000


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    # A week: covers a run of shows and the days after. Kept by whole UTC days: a day goes
    # once all of it is older than this.
    retention_s: float = 7 * 86400
    memory_s: int = 3600  # one-second detail for the last hour
    flush_every_s: float = 60.0  # one write a minute: SD cards wear per page written
    # Retention drops whole days (one table each); a batch drops at most this many, so a
    # long backlog goes in small steps.
    drop_days_per_batch: int = 1


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


def rebucket(rows: Iterable[HistoryRow], step: int) -> list[HistoryRow]:
    """Merge time-ordered rows into buckets of `step` seconds aligned to the epoch:
    min of minima, max of maxima, mean of means, last battery and status."""
    out: list[HistoryRow] = []
    group: list[HistoryRow] = []
    current: int | None = None
    for row in rows:
        start = row.t - row.t % step
        if current is not None and start != current:
            out.append(_merge(current, group))
            group = []
        current = start
        group.append(row)
    if current is not None and group:
        out.append(_merge(current, group))
    return out


def _merge(t: int, group: list[HistoryRow]) -> HistoryRow:
    def pick(name: str) -> list[float]:
        return [v for r in group if (v := getattr(r, name)) is not None]

    def last(name: str) -> Any:
        values = [v for r in group if (v := getattr(r, name)) is not None]
        return values[-1] if values else None

    def mean(name: str) -> float | None:
        values = pick(name)
        return sum(values) / len(values) if values else None

    return HistoryRow(
        t=t,
        device_id=group[0].device_id,
        rf_min=min(pick("rf_min"), default=None),
        rf_max=max(pick("rf_max"), default=None),
        rf_avg=mean("rf_avg"),
        audio_min=min(pick("audio_min"), default=None),
        audio_max=max(pick("audio_max"), default=None),
        audio_avg=mean("audio_avg"),
        peak_max=max(pick("peak_max"), default=None),
        battery_level=last("battery_level"),
        battery_minutes=last("battery_minutes"),
        status=last("status"),
    )


@dataclass(frozen=True, slots=True)
class Series:
    device_id: str
    start: float
    end: float
    step: int
    rows: list[HistoryRow]


class History:
    """Subscribes to the hub; `start()` runs the one-second tick and, each time the clock
    enters a new minute, the batch of the minutes that ended."""

    def __init__(
        self,
        hub: Hub,
        store: Store,
        *,
        clock: Callable[[], float] | None = None,
        config: HistoryConfig | None = None,
        tick_s: float | None = HISTORY_TICK_S,
    ) -> None:
        self.hub = hub
        self.store = store
        self.clock = clock or hub.clock
        self.config = config or HistoryConfig()
        self.tick_s = tick_s
        self.channels: dict[str, ChannelHistory] = {}
        # Ten-second buckets not yet written, per (device, minute): six slots each.
        self._minutes: dict[tuple[str, int], list[HistoryRow | None]] = {}
        self._events: list[Event] = []
        self._numbers: dict[str, int] = {}
        self._unsaved: dict[str, int] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._days: set[int] = set()
        self._started_minute = 0
        self._last_event: tuple[int, int] = (0, 0)  # (ms, seq) of the last event written
        self._lock = asyncio.Lock()
        self.batches_written = 0

    # --- lifecycle ---

    async def start(self) -> None:
        # Debian builds SQLite with secure_delete on: every trimmed page would be zeroed and
        # written once more. FAST still scrubs deleted content wherever it costs no extra I/O.
        await self.store.execute("PRAGMA secure_delete = FAST")
        self._numbers = await sql.load_device_numbers(self.store)
        self._days = await sql.load_days(self.store)
        now = self.clock()
        self._started_minute = sql.minute_of(math.floor(now))
        for device_id, dev in self.hub.devices.items():
            self._take(device_id, dev, now)
        self._unsubscribe = self.hub.subscribe(self.on_event)
        if self.tick_s:
            self._task = asyncio.create_task(self._loop(self.tick_s), name="history")

    async def stop(self) -> None:
        """Write everything, the open ten-second buckets included."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        now = self.clock()
        for ch in self.channels.values():
            self._keep(ch.close_partial(now))
        await self.flush(everything=True)

    async def _loop(self, interval: float) -> None:
        minute = math.floor(self.clock() / self.config.flush_every_s)
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick()
                now_minute = math.floor(self.clock() / self.config.flush_every_s)
                if now_minute != minute:
                    minute = now_minute
                    await self.flush()
            except Exception:
                log.exception("history tick failed")

    # --- input ---

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, DeviceChanged):
            if not event.changes & TRACKED:
                return
            dev = self.hub.devices.get(event.device_id)
            if dev is not None:
                self._take(event.device_id, dev, self.clock(), event.changes)
        elif isinstance(event, DeviceRemoved):
            ch = self.channels.pop(event.device_id, None)
            if ch is not None:
                self._keep(ch.close_partial(self.clock()))

    def _take(
        self, device_id: str, dev: DeviceDict, now: float, changes: frozenset[str] = TRACKED
    ) -> None:
        ch = self.channels.get(device_id)
        if ch is None:
            ch = self.channels[device_id] = ChannelHistory(device_id, now, self.config.memory_s)
            changes = TRACKED
        before = ch.status
        rows = ch.update(now, dev, changes)
        if rows:
            self._keep(rows)
        if ch.status != before:
            self._events.append(Event(now, device_id, "status", ch.status, before))

    def _keep(self, rows: Iterable[HistoryRow]) -> None:
        for row in rows:
            minute = sql.minute_of(row.t)
            slots = self._minutes.get((row.device_id, minute))
            if slots is None:
                slots = self._minutes[(row.device_id, minute)] = [None] * sql.BUCKETS_PER_ROW
            slots[(row.t - minute) // BUCKET_S] = row

    def tick(self) -> None:
        now = self.clock()
        for ch in self.channels.values():
            rows = ch.advance(now)
            if rows:
                self._keep(rows)
        if len(self._minutes) > MAX_PENDING_MINUTES:
            drop = sorted(self._minutes, key=lambda k: k[1])[:-MAX_PENDING_MINUTES]
            for key in drop:
                del self._minutes[key]
            log.warning("history: database not taking writes, dropped %d minutes", len(drop))

    # --- the batch ---

    def _number(self, device_id: str) -> int:
        no = self._numbers.get(device_id)
        if no is None:
            no = max(self._numbers.values(), default=0) + 1
            self._numbers[device_id] = self._unsaved[device_id] = no
        return no

    def _event_rows(self, events: list[Event]) -> list[sql.EventRow]:
        out = []
        for e in events:
            ms = math.floor(e.t * 1000)
            last_ms, last_seq = self._last_event
            seq = last_seq + 1 if ms == last_ms else 0
            self._last_event = (ms, seq)
            out.append(
                sql.EventRow(e.t, seq, self._number(e.device_id), e.kind, e.value, e.previous)
            )
        return out

    def _expired_days(self, now: float) -> list[int]:
        keep_from = sql.day_of(now - self.config.retention_s)
        old = sorted(d for d in self._days if d < keep_from)
        return old[: self.config.drop_days_per_batch]

    async def flush(self, *, everything: bool = False) -> int:
        """Write the minutes that have ended (all of them with `everything`) and the events,
        in one transaction; returns the number of ten-second buckets written."""
        async with self._lock:
            now = self.clock()
            self.tick()  # close what has ended, so a written minute is complete
            current = sql.minute_of(math.floor(now))
            ready = {
                key: slots for key, slots in self._minutes.items() if everything or key[1] < current
            }
            events = list(self._events)
            drop = self._expired_days(now)
            if not ready and not events and not drop:
                return 0
            await self._merge_stored(ready)
            minutes = [
                sql.MinuteRow(minute, self._number(device_id), sql.pack_minute(slots))
                for (device_id, minute), slots in sorted(ready.items(), key=lambda kv: kv[0][1])
            ]
            rows = self._event_rows(events)
            try:
                await sql.write_batch(self.store, dict(self._unsaved), minutes, rows, drop)
            except Exception:
                log.exception("history: batch of %d minutes not written, will retry", len(ready))
                return 0
            for key in ready:
                del self._minutes[key]
            del self._events[: len(events)]
            self._unsaved.clear()
            self._days |= {sql.day_of(m.minute) for m in minutes}
            self._days -= set(drop)
            self.batches_written += 1
            return sum(1 for slots in ready.values() for slot in slots if slot is not None)

    async def _merge_stored(self, ready: dict[tuple[str, int], list[HistoryRow | None]]) -> None:
        """A minute this process did not see from its start may already hold buckets written
        before a restart: merge them with ours (a bucket split by the restart has two
        halves)."""
        for (device_id, minute), slots in ready.items():
            no = self._numbers.get(device_id)
            if minute > self._started_minute or no is None or device_id in self._unsaved:
                continue
            for _, blob in await sql.select_minutes(self.store, self._days, no, minute, minute + 1):
                stored = sql.unpack_minute(minute, device_id, blob)
                for i, old in enumerate(stored):
                    new = slots[i]
                    if old is not None:
                        slots[i] = old if new is None else _merge(old.t, [old, new])

    # --- queries ---

    def known(self, device_id: str) -> bool:
        return device_id in self.channels or device_id in self._numbers

    async def series(self, device_id: str, start: float, end: float, step: int) -> Series:
        """Rows of `step` seconds for start <= t < end.

        Steps under ten seconds come from the one-second memory for the part of the range it
        holds. A range that starts before it gets the stored ten-second rows for the older
        part, up to the ten seconds in which memory begins, then the memory at `step` (rounded
        up to 1, 2 or 5 s so both line up): one row per bucket, none twice, none missing.
        When nothing older than the memory is stored (the daemon just started), memory alone
        answers. A range memory does not reach falls back to a multiple of ten seconds."""
        lo, hi = math.floor(start), math.ceil(end)
        ch = self.channels.get(device_id)
        if step < BUCKET_S and ch is not None:
            rows = await self._fine_rows(ch, lo, hi, step)
            if rows is not None:
                return Series(device_id, start, end, rows[0], rows[1])
        step = max(BUCKET_S, math.ceil(step / BUCKET_S) * BUCKET_S)
        rows10 = await self._ten_second_rows(device_id, lo - lo % BUCKET_S, hi)
        return Series(device_id, start, end, step, rebucket(rows10, step))

    async def _fine_rows(
        self, ch: ChannelHistory, lo: int, hi: int, step: int
    ) -> tuple[int, list[HistoryRow]] | None:
        """(step, rows) for a step under ten seconds with memory in the answer, or None when
        the range lies before what memory holds (or memory holds nothing yet)."""
        ring, device_id = ch.ring, ch.device_id
        oldest = ring.oldest
        if oldest is None or hi <= oldest:
            return None
        if lo >= oldest:  # all of it in memory
            return step, rebucket(ring.rows(device_id, lo, hi), step)
        # Memory begins inside the ten-second bucket `first` (on its start, if aligned).
        first = oldest - oldest % BUCKET_S
        older = await self._ten_second_rows(device_id, lo - lo % BUCKET_S, first)
        if not older:
            # Nothing stored before memory began: everything known is in memory. (Comparing
            # with `oldest` instead would find the ten-second row of `first` itself, which
            # this process wrote from the same readings, and answer at ten seconds.)
            return step, rebucket(ring.rows(device_id, lo, hi), step)
        # Older rows exist (a restart, or memory is an hour old): stored rows before `first`,
        # memory from there. Fine buckets must not straddle a ten-second boundary.
        fine = next(s for s in FINE_STEPS if s >= step)
        if fine >= BUCKET_S:
            return None
        seam: list[HistoryRow] = []
        fine_from = first
        if oldest > first:
            # Memory holds only the end of bucket `first`; its stored row, once the bucket
            # has closed, holds all of it (also what was written before a restart).
            seam = await self._ten_second_rows(device_id, first, first + BUCKET_S)
            if seam:
                fine_from = first + BUCKET_S
        return fine, older + seam + rebucket(ring.rows(device_id, fine_from, hi), fine)

    async def _ten_second_rows(self, device_id: str, lo: int, hi: int) -> list[HistoryRow]:
        """Stored and still pending ten-second rows with lo <= t < hi, oldest first."""
        found: dict[int, HistoryRow] = {}
        no = self._numbers.get(device_id)
        if no is not None and device_id not in self._unsaved:
            for minute, blob in await sql.select_minutes(self.store, self._days, no, lo, hi):
                for row in sql.unpack_minute(minute, device_id, blob):
                    if row is not None:
                        found[row.t] = row
        for (dev, _minute), slots in self._minutes.items():
            if dev == device_id:
                for row in slots:
                    if row is not None:
                        found[row.t] = row
        return [found[t] for t in sorted(found) if lo <= t < hi]

    async def events(self, device_id: str, start: float, end: float) -> list[Event]:
        stored: list[Event] = []
        no = self._numbers.get(device_id)
        if no is not None and device_id not in self._unsaved:
            stored = await sql.select_events(self.store, self._days, no, device_id, start, end)
        pending = [e for e in self._events if e.device_id == device_id and start <= e.t < end]
        return stored + pending
