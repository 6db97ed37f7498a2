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
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from micboardd.aio import cancel_and_wait
from micboardd.history import store as sql
from micboardd.history.blob import (
    BUCKET_S,
    BUCKETS_PER_ROW,
    Event,
    HistoryRow,
    day_of,
    minute_of,
    pack_minute,
    unpack_minute,
)
from micboardd.history.ring import TRACKED, ChannelHistory
from micboardd.model import Device
from micboardd.pacing import sleep_to_beat
from micboardd.sources.ports import DeviceChanged, DeviceRemoved, HubEvent, MeterDelivery
from micboardd.state.hub import Hub
from micboardd.store.database import Store

log = logging.getLogger(__name__)

HISTORY_TICK_S = 1.0  # buckets close on the second, even for a channel that is silent
# A big venue's tick is spread over the second, a share of the channels at a time: closing a
# second takes a channel's pending meter readings (about ten), and all thousand channels at
# once held the event loop about 20 ms. A share is at most PART_CHANNELS channels (about
# 2 ms); up to that many close in one go, once a second: each part is a wake-up of the task
# with its code cold, and ten a second for 100 channels cost a fifth more than one.
MAX_TICK_PARTS = 10
PART_CHANNELS = 100
# Steps from memory that divide ten seconds: used where memory continues stored rows.
FINE_STEPS = (1, 2, 5, BUCKET_S)
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


def tick_parts(channels: int) -> int:
    """How many shares a tick of `channels` channels is spread over (one for a small venue)."""
    return min(MAX_TICK_PARTS, max(1, -(-channels // PART_CHANNELS)))


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
        # The hub's unless a test says otherwise: meter samples reach the channels stamped
        # with the hub's clock (its meter sinks), so the two must read the same time.
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
        self._started_minute = minute_of(math.floor(now))
        for device_id, dev in self.hub.devices.items():
            if device_id not in self.hub.placeholders:
                self._take(device_id, dev, now)
        # Meter samples reach the channels through the hub's meter sinks (`_take`), not as
        # events: a thousand a second, each a list entry rather than a call.
        self._unsubscribe = self.hub.subscribe(self.on_event, meters=MeterDelivery.SINK)
        if self.tick_s:
            self._task = asyncio.create_task(self._loop(self.tick_s), name="history")

    async def stop(self) -> None:
        """Write everything, the open ten-second buckets included."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        sinks = self.hub.meter_sinks
        for device_id, ch in self.channels.items():
            if sinks.get(device_id) is ch.pending:
                del sinks[device_id]
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        now = self.clock()
        for ch in self.channels.values():
            self._keep(ch.close_partial(now))
        await self.flush(everything=True)

    async def _loop(self, interval: float) -> None:
        minute = math.floor(self.clock() / self.config.flush_every_s)
        part = 0
        while True:
            parts = tick_parts(len(self.channels))
            await sleep_to_beat(interval / parts)  # with a read tick: no wake-up of its own
            try:
                part %= parts
                self.tick(part, parts)
                part = (part + 1) % parts
                now_minute = math.floor(self.clock() / self.config.flush_every_s)
                if now_minute != minute:
                    minute = now_minute
                    await self.flush()
            except Exception:
                log.exception("history tick failed")

    # --- input ---

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, DeviceChanged):
            # Meters alone come through the channel's meter sink (`_take`), not here.
            changes, device_id = event.changes, event.device_id
            if TRACKED.isdisjoint(changes):  # not `&`: no set built per event
                return
            dev = self.hub.devices.get(device_id)
            # A placeholder is never measured: nothing to keep (placeholders.py).
            if dev is None or device_id in self.hub.placeholders:
                return
            ch = self.channels.get(device_id)
            if ch is None or "status" in changes:
                self._take(device_id, dev, self.clock(), changes)
                return
            # Meter readings leave the status as it was: no status event to look for,
            # straight to the channel.
            rows = ch.update(self.clock(), dev, changes)
            if rows:
                self._keep(rows)
        elif isinstance(event, DeviceRemoved):
            ch = self.channels.pop(event.device_id, None)
            if ch is not None:
                if self.hub.meter_sinks.get(event.device_id) is ch.pending:
                    del self.hub.meter_sinks[event.device_id]
                self._keep(ch.close_partial(self.clock()))

    def _take(
        self, device_id: str, dev: Device, now: float, changes: frozenset[str] = TRACKED
    ) -> None:
        ch = self.channels.get(device_id)
        if ch is None:
            ch = self.channels[device_id] = ChannelHistory(device_id, now, self.config.memory_s)
            self.hub.meter_sinks[device_id] = ch.pending
            changes = TRACKED
        before = ch.status
        rows = ch.update(now, dev, changes)
        if rows:
            self._keep(rows)
        if ch.status != before:
            self._events.append(Event(now, device_id, "status", ch.status, before))

    def _keep(self, rows: Iterable[HistoryRow]) -> None:
        for row in rows:
            minute = minute_of(row.t)
            slots = self._minutes.get((row.device_id, minute))
            if slots is None:
                slots = self._minutes[(row.device_id, minute)] = [None] * BUCKETS_PER_ROW
            slots[(row.t - minute) // BUCKET_S] = row

    def tick(self, part: int = 0, parts: int = 1) -> None:
        """Close what has ended: in every channel, or in share `part` of `parts`."""
        now = self.clock()
        channels = self.channels.values()
        for ch in channels if parts == 1 else list(channels)[part::parts]:
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
        keep_from = day_of(now - self.config.retention_s)
        old = sorted(d for d in self._days if d < keep_from)
        return old[: self.config.drop_days_per_batch]

    async def flush(self, *, everything: bool = False) -> int:
        """Write the minutes that have ended (all of them with `everything`) and the events,
        in one transaction; returns the number of ten-second buckets written."""
        async with self._lock:
            now = self.clock()
            self.tick()  # close what has ended, so a written minute is complete
            current = minute_of(math.floor(now))
            ready = {
                key: slots for key, slots in self._minutes.items() if everything or key[1] < current
            }
            events = list(self._events)
            drop = self._expired_days(now)
            if not ready and not events and not drop:
                return 0
            await self._merge_stored(ready)
            minutes = [
                sql.MinuteRow(minute, self._number(device_id), pack_minute(slots))
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
            self._days |= {day_of(m.minute) for m in minutes}
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
                stored = unpack_minute(minute, device_id, blob)
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
                for row in unpack_minute(minute, device_id, blob):
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
