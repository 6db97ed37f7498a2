"""SQL for alerts and show history: the schema (migration 2) and the statements that use it.

Written for an SD card, where every 4 KB page written wears the card:

- History is one row per channel per minute, holding that minute's six ten-second buckets
  packed into a 78-byte blob (`BUCKET`), in one table per UTC day (`history_d<day>`,
  created on first use). The rowid is the minute of the day then the channel number
  (`DEV_BITS`), so rows arrive in rowid order: a batch appends to the last pages, which
  SQLite fills completely, instead of touching one page per channel. No secondary index.
- Status events live beside them in `events_d<day>`, keyed by time the same way.
- Retention drops whole days. Deleting rows would rewrite every page it empties (as many
  writes as inserting them took); dropping a table only links its pages into the free
  list, and the next appends reuse them.
- A batch (the minutes that ended, their events, at most one day dropped) is one
  transaction.

Alerts are few and written one by one (an alert that was raised must survive a crash).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store

# Migration 2 for `store.MIGRATIONS`. `store._statements` splits on semicolons: none in
# comments.
SCHEMA_2 = """
    CREATE TABLE alerts (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        severity    TEXT NOT NULL,
        subject     TEXT NOT NULL,
        device_id   TEXT,
        receiver_id TEXT,
        message     TEXT NOT NULL,
        count       INTEGER NOT NULL DEFAULT 1,
        started_at  REAL NOT NULL,
        raised_at   REAL NOT NULL,
        updated_at  REAL NOT NULL,
        cleared_at  REAL,
        acked_at    REAL
    );
    CREATE INDEX alerts_raised ON alerts(raised_at);
    CREATE INDEX alerts_device ON alerts(device_id, raised_at);
    CREATE INDEX alerts_open ON alerts(cleared_at) WHERE cleared_at IS NULL;
    CREATE TABLE history_devices (
        no          INTEGER PRIMARY KEY,
        device_id   TEXT NOT NULL UNIQUE
    );
"""

DAY_S = 86400
MINUTE_S = 60
BUCKET_S = 10
BUCKETS_PER_ROW = MINUTE_S // BUCKET_S
# history_d<day>.k = minute of the day << DEV_BITS | device number (65536 channels ever seen).
DEV_BITS = 16
DEV_MASK = (1 << DEV_BITS) - 1
# events_d<day>.k = millisecond of the day << SEQ_BITS | n: 16 events in one millisecond.
SEQ_BITS = 4
# One ten-second bucket: rf min/max (whole dBm), rf mean (tenths), audio min/max (whole
# dBFS), audio mean (tenths), peak max (whole dBFS), battery %, battery minutes, status
# code. Meters show whole dB (the hub's deadband is 1 dB); means keep a decimal.
BUCKET = struct.Struct("<bbhbbhbbHB")
_NONE8, _NONE16, _NONEU16 = -128, -32768, 65535
# Status codes in a bucket. Append only: stored rows refer to these positions.
STATUS_CODES: tuple[str | None, ...] = (
    None,
    "good",
    "replace",
    "critical",
    "prev_good",
    "prev_replace",
    "prev_critical",
    "unknown",
    "tx_off",
    "rx_offline",
    "audio_peak",
    "interference",
)


def status_name(code: int) -> str | None:
    """The status a stored code stands for (0 and unknown codes: None)."""
    return STATUS_CODES[code] if 0 < code < len(STATUS_CODES) else None


_STATUS_INDEX = {s: i for i, s in enumerate(STATUS_CODES)}
# Fields of a history row after `t` (the API and CSV use the same names).
VALUE_COLUMNS: tuple[str, ...] = (
    "rf_min",
    "rf_max",
    "rf_avg",
    "audio_min",
    "audio_max",
    "audio_avg",
    "peak_max",
    "battery_level",
    "battery_minutes",
    "status",
)

ALERT_COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "severity",
    "subject",
    "device_id",
    "receiver_id",
    "message",
    "count",
    "started_at",
    "raised_at",
    "updated_at",
    "cleared_at",
    "acked_at",
)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """Ten seconds of one channel (or a longer bucket), in engineering units; None: unknown."""

    t: int
    device_id: str
    rf_min: float | None = None
    rf_max: float | None = None
    rf_avg: float | None = None
    audio_min: float | None = None
    audio_max: float | None = None
    audio_avg: float | None = None
    peak_max: float | None = None
    battery_level: float | None = None
    battery_minutes: float | None = None
    status: str | None = None

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in VALUE_COLUMNS)


@dataclass(frozen=True, slots=True)
class Event:
    """A status change of a channel (alerts have their own table)."""

    t: float
    device_id: str
    kind: str
    value: str | None
    previous: str | None


# --- packing ---


def _i8(value: float | None) -> int:
    return _NONE8 if value is None else max(-127, min(127, round(value)))


def _i16(value: float | None, scale: int = 10) -> int:
    return _NONE16 if value is None else max(-32767, min(32767, round(value * scale)))


def _u16(value: float | None) -> int:
    return _NONEU16 if value is None else max(0, min(65534, round(value)))


def _f8(raw: int) -> float | None:
    return None if raw == _NONE8 else float(raw)


def _f16(raw: int) -> float | None:
    return None if raw == _NONE16 else raw / 10


def pack_minute(buckets: Sequence[HistoryRow | None]) -> bytes:
    """Six ten-second buckets (None where nothing was recorded) as one blob."""
    out = bytearray()
    for row in buckets:
        if row is None:
            out += BUCKET.pack(*(_NONE8, _NONE8, _NONE16) * 2, _NONE8, _NONE8, _NONEU16, 0)
            continue
        out += BUCKET.pack(
            _i8(row.rf_min),
            _i8(row.rf_max),
            _i16(row.rf_avg),
            _i8(row.audio_min),
            _i8(row.audio_max),
            _i16(row.audio_avg),
            _i8(row.peak_max),
            _i8(row.battery_level),
            _u16(row.battery_minutes),
            _STATUS_INDEX.get(row.status, 0),
        )
    return bytes(out)


def unpack_minute(minute: int, device_id: str, blob: bytes) -> list[HistoryRow | None]:
    """Inverse of `pack_minute`: a slot is None when its bucket holds nothing."""
    out: list[HistoryRow | None] = []
    for i, raw in enumerate(BUCKET.iter_unpack(blob)):
        status = raw[9]
        row = HistoryRow(
            t=minute + i * BUCKET_S,
            device_id=device_id,
            rf_min=_f8(raw[0]),
            rf_max=_f8(raw[1]),
            rf_avg=_f16(raw[2]),
            audio_min=_f8(raw[3]),
            audio_max=_f8(raw[4]),
            audio_avg=_f16(raw[5]),
            peak_max=_f8(raw[6]),
            battery_level=_f8(raw[7]),
            battery_minutes=None if raw[8] == _NONEU16 else float(raw[8]),
            status=status_name(status),
        )
        out.append(None if all(v is None for v in row.values()) else row)
    return out


def minute_of(t: int) -> int:
    return t - t % MINUTE_S


def day_of(t: float) -> int:
    return math.floor(t) // DAY_S


def history_table(day: int) -> str:
    return f"history_d{int(day)}"


def events_table(day: int) -> str:
    return f"events_d{int(day)}"


def row_key(minute: int, dev: int) -> int:
    return ((minute % DAY_S) // MINUTE_S << DEV_BITS) | (dev & DEV_MASK)


def event_key(t: float) -> int:
    """Milliseconds into the day of `t`, shifted to leave room for a sequence number."""
    return (math.floor(t * 1000) % (DAY_S * 1000)) << SEQ_BITS


_CREATE_HISTORY = "CREATE TABLE IF NOT EXISTS {} (k INTEGER PRIMARY KEY, buckets BLOB NOT NULL)"
_CREATE_EVENTS = (
    "CREATE TABLE IF NOT EXISTS {} (k INTEGER PRIMARY KEY, dev INTEGER NOT NULL, "
    "kind TEXT NOT NULL, value TEXT, previous TEXT)"
)


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
            await db.execute(_CREATE_HISTORY.format(table))
            await db.executemany(f"INSERT OR REPLACE INTO {table}(k, buckets) VALUES(?, ?)", rows)
        for day, rows in events_by_day.items():
            table = events_table(day)
            await db.execute(_CREATE_EVENTS.format(table))
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


# --- alerts ---


async def upsert_alert(store: Store, row: Mapping[str, Any]) -> None:
    """Insert or replace one alert row (its own transaction: an alert is never batched)."""
    names = ", ".join(ALERT_COLUMNS)
    marks = ", ".join("?" for _ in ALERT_COLUMNS)
    await store.execute(
        f"INSERT OR REPLACE INTO alerts({names}) VALUES({marks})",
        [row[c] for c in ALERT_COLUMNS],
    )


async def select_alerts(
    store: Store,
    *,
    active: bool | None = None,
    since: float | None = None,
    device: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Alerts newest first. `since`: raised, updated or cleared at or after that time;
    `device`: a device id (with its receiver's alerts) or a receiver id."""
    where: list[str] = []
    params: list[Any] = []
    if active is True:
        where.append("cleared_at IS NULL")
    elif active is False:
        where.append("cleared_at IS NOT NULL")
    if since is not None:
        where.append("updated_at >= ?")
        params.append(since)
    if device is not None:
        # A device id: its alerts and its receiver's. A receiver id: everything on it.
        receiver = device.rpartition(":")[0] or device
        where.append(
            "(device_id = ? OR receiver_id = ? OR (device_id IS NULL AND receiver_id = ?))"
        )
        params += [device, device, receiver]
    sql = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY raised_at DESC, id LIMIT ?"
    params.append(limit)
    return await store.fetchall(sql, params)


async def select_alert(store: Store, alert_id: str) -> dict[str, Any] | None:
    rows = await store.fetchall(
        f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE id = ?", (alert_id,)
    )
    return rows[0] if rows else None


async def select_open_alerts(store: Store) -> list[dict[str, Any]]:
    return await store.fetchall(
        f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE cleared_at IS NULL ORDER BY raised_at"
    )


async def alerts_overlapping(
    store: Store, device_id: str, receiver_id: str | None, start: float, end: float
) -> list[dict[str, Any]]:
    """Alerts of a channel (and of its receiver) that were active at some time in [start, end)."""
    return await store.fetchall(
        f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts "
        "WHERE (device_id = ? OR (device_id IS NULL AND receiver_id = ?)) "
        "AND started_at < ? AND (cleared_at IS NULL OR cleared_at >= ?) ORDER BY started_at",
        (device_id, receiver_id, end, start),
    )


async def trim_alerts(store: Store, before: float, limit: int) -> None:
    """Delete up to `limit` alerts cleared before `before` (one small step)."""
    await store.execute(
        "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE cleared_at < ? "
        "ORDER BY cleared_at LIMIT ?)",
        (before, limit),
    )
