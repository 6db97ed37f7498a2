"""The on-disk format of show history: packed rows and their keys (pure, no SQL).

Written for an SD card, where every 4 KB page written wears the card:

- History is one row per channel per minute, holding that minute's six ten-second buckets
  packed into a 78-byte blob (`BUCKET`). The rowid is the minute of the day then the
  channel number (`DEV_BITS`), so rows arrive in rowid order: a batch appends to the last
  pages, which SQLite fills completely, instead of touching one page per channel.
- Status events are keyed by time the same way (`event_key`, `SEQ_BITS`).

Kept apart from the SQL (`store_history`) so the live ring (`history_ring`), the recorder
(`history`) and the API share the format without the statements.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


def row_key(minute: int, dev: int) -> int:
    return ((minute % DAY_S) // MINUTE_S << DEV_BITS) | (dev & DEV_MASK)


def event_key(t: float) -> int:
    """Milliseconds into the day of `t`, shifted to leave room for a sequence number."""
    return (math.floor(t * 1000) % (DAY_S * 1000)) << SEQ_BITS
