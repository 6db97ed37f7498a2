"""SQL for show history and status events (their tables: `store/migrations.py`).

Written for an SD card, where every 4 KB page written wears the card (the packed row
format and its keys are in `history/blob.py`):

- History rows live in one table per UTC day (`history_d<day>`, created on first use),
  keyed by `row_key` so a batch appends to the last pages. No secondary index.
- Status events live beside them in `events_d<day>`, keyed by time the same way.
- Retention drops whole days. Deleting rows would rewrite every page it empties (as many
  writes as inserting them took); dropping a table only links its pages into the free
  list, and the next appends reuse them.
- A batch (the minutes that ended, their events, at most one day dropped) is one
  transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from micboardd.history.blob import (
    DAY_S,
    DEV_BITS,
    DEV_MASK,
    MINUTE_S,
    SEQ_BITS,
    Event,
    day_of,
    event_key,
    minute_of,
    row_key,
)
from micboardd.store.migrations import CREATE_EVENTS_DAY, CREATE_HISTORY_DAY

if TYPE_CHECKING:
    from micboardd.store.database import Store


def history_table(day: int) -> str:
    return f"history_d{int(day)}"


def events_table(day: int) -> str:
    return f"events_d{int(day)}"


# --- history batches ---


async def load_device_numbers(store: Store) -> dict[str, int]:
    rows = await store.fetchall("SELECT no, device_id FROM history_devices")
    return {str(r["device_id"]): int(r["no"]) for r in rows}


async def load_days(store: Store) -> set[int]:
    """The days that have a history table."""
    rows = await store.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'history_d[0-9]*'"
    )
    return {int(str(r["name"])[len("history_d") :]) for r in rows}


@dataclass(frozen=True, slots=True)
class MinuteRow:
    minute: int  # epoch seconds of the minute's start
    dev: int
    buckets: bytes


@dataclass(frozen=True, slots=True)
class EventRow:
    t: float
    seq: int  # tells apart events of the same millisecond
    dev: int
    kind: str
    value: str | None
    previous: str | None


async def write_batch(
    store: Store,
    new_devices: Mapping[str, int],
    minutes: Iterable[MinuteRow],
    events: Iterable[EventRow],
    drop_days: Iterable[int] = (),
) -> None:
    """One transaction: new device numbers, minute rows, events, whole days dropped."""
    by_day: dict[int, list[tuple[int, bytes]]] = {}
    for m in minutes:
        by_day.setdefault(day_of(m.minute), []).append((row_key(m.minute, m.dev), m.buckets))
    events_by_day: dict[int, list[tuple[Any, ...]]] = {}
    for e in events:
        key = event_key(e.t) + (e.seq & ((1 << SEQ_BITS) - 1))
        events_by_day.setdefault(day_of(e.t), []).append((key, e.dev, e.kind, e.value, e.previous))
    db = store.db
    await db.execute("BEGIN IMMEDIATE")
    try:
        if new_devices:
            await db.executemany(
                "INSERT OR IGNORE INTO history_devices(no, device_id) VALUES(?, ?)",
                [(no, device_id) for device_id, no in new_devices.items()],
            )
        for day, rows in by_day.items():
            table = history_table(day)
            await db.execute(CREATE_HISTORY_DAY.format(table))
            await db.executemany(f"INSERT OR REPLACE INTO {table}(k, buckets) VALUES(?, ?)", rows)
        for day, rows in events_by_day.items():
            table = events_table(day)
            await db.execute(CREATE_EVENTS_DAY.format(table))
            await db.executemany(
                f"INSERT OR IGNORE INTO {table}(k, dev, kind, value, previous) "
                "VALUES(?, ?, ?, ?, ?)",
                rows,
            )
        for day in drop_days:
            await db.execute(f"DROP TABLE IF EXISTS {history_table(day)}")
            await db.execute(f"DROP TABLE IF EXISTS {events_table(day)}")
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")
        raise


def _days(start: float, end: float, known: Iterable[int]) -> list[int]:
    first, last = day_of(start), day_of(max(start, end - 0.001))
    return sorted(d for d in known if first <= d <= last)


async def select_minutes(
    store: Store, days: Iterable[int], dev: int, start: int, end: int
) -> list[tuple[int, bytes]]:
    """(minute, blob) of one channel for the minutes that overlap [start, end), in order."""
    out: list[tuple[int, bytes]] = []
    for day in _days(minute_of(start), end, days):
        base = day * DAY_S
        lo = row_key(max(minute_of(start), base), 0)
        hi = row_key(min(end - 1, base + DAY_S - 1), DEV_MASK)
        async with store.db.execute(
            f"SELECT k >> {DEV_BITS}, buckets FROM {history_table(day)} "
            f"WHERE k >= ? AND k <= ? AND (k & {DEV_MASK}) = ? ORDER BY k",
            (lo, hi, dev),
        ) as cur:
            out += [(base + int(r[0]) * MINUTE_S, bytes(r[1])) for r in await cur.fetchall()]
    return out


async def select_events(
    store: Store, days: Iterable[int], dev: int, device_id: str, start: float, end: float
) -> list[Event]:
    out: list[Event] = []
    for day in _days(start, end, days):
        base = day * DAY_S
        lo = event_key(start) if start > base else 0
        hi = event_key(end) if end < base + DAY_S else DAY_S * 1000 << SEQ_BITS
        rows = await store.fetchall(
            f"SELECT k, kind, value, previous FROM {events_table(day)} "
            "WHERE k >= ? AND k < ? AND dev = ? ORDER BY k",
            (lo, hi, dev),
        )
        out += [
            Event(
                base + (r["k"] >> SEQ_BITS) / 1000, device_id, r["kind"], r["value"], r["previous"]
            )
            for r in rows
        ]
    return out
