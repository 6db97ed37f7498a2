"""Timestamps as the WebSocket contract writes them: ISO-8601 UTC with milliseconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

_iso_second: list[Any] = [None, ""]  # (whole second, its "YYYY-MM-DDTHH:MM:SS" text)
# ".000Z" to ".999Z": a lookup, not a format, for the milliseconds of every device change.
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def iso(ts: float) -> str:
    """`2026-11-27T21:03:00.123Z`. Called for every device change: the date part is cached."""
    # Rounded to microseconds, then truncated to milliseconds, exactly as datetime does.
    second = math.floor(ts)
    micro = round((ts - second) * 1e6)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    if second != _iso_second[0]:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _iso_second[0], _iso_second[1] = second, text
    return _iso_second[1] + _MILLIS[micro // 1000]  # type: ignore[no-any-return]
