"""Normalized values shared by the Sennheiser protocols: converters, warnings, models, memory.

EW-DX speaks SSC v1 and SSCv2 with the same units (dBm, dBFS, % and minutes), so both codecs
map through the converters here; the Media Control Protocol has its own scales (`mcp`).
Every converter takes a decoded JSON value and returns the normalized value or None: a value
of the wrong type, non-finite or outside what the device documents is unknown, never an
exception (PROTOCOLS-SENNHEISER.md, "EW-DX").

Readings use the vocabulary of `micboardd.model.READING_FIELDS`, including `rf_quality`
(`SOURCE_QUALITY_FIELD`), the receiver's own link-quality grade from RSQI, which the hub shows
instead of the grade it derives from `rf_signal` (dBm).

[U] readings chosen here (each pinned by a test whose name says "pins"):
* RSQI % -> quality grade: >= 80 excellent, >= 60 good, >= 30 fair, below poor.
* `AfPeak` (receiver or transmitter warning) -> `peak_level` 0.0 dBFS, so the tile shows the
  clip like a Shure peak meter at full scale; no peak reading when the warning is absent.
* `RfPeak` -> `interference` (RF overload: the nearest thing our statuses have).
* `NoLink` -> no transmitter (`tx_on` False); a warnings list without it -> linked.
* `LowSignal` and `LowBattery` -> nothing: `rf_signal` and the battery gauge say it with a number.
* battery lifetime: negative or >= 65533 minutes -> unknown (65533-65535 are the sentinels of
  other vendors' 16-bit fields; no EW-DX sentinel is documented).
* the AF meter feeds `audio_level` and `peak_level` alike (one meter, as for ULX-D).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from micboardd.model import JSON, RfQuality

Fields = dict[str, JSON]

SOURCE_QUALITY_FIELD = "rf_quality"

# EW-DX meter ranges (SSC developer's guide; the SSCv2 OpenAPI text gives the same).
RSSI_MIN_DBM = -107.0
RSSI_MAX_DBM = 0.0
AF_FLOOR_DBFS = -138.5
# Readings outside these are not meter values at all (garbage, a unit mix-up): unknown.
PLAUSIBLE_DBM = (-150.0, 30.0)
PLAUSIBLE_DBFS = (-200.0, 30.0)
# Battery lifetime sentinels of 16-bit fields elsewhere (65533 warning .. 65535 unknown).
LIFETIME_SENTINEL_MIN = 65533

RSQI_GRADES: tuple[tuple[int, RfQuality], ...] = (
    (80, RfQuality.EXCELLENT),
    (60, RfQuality.GOOD),
    (30, RfQuality.FAIR),
)

NO_LINK = "NoLink"
LOW_SIGNAL = "LowSignal"
RF_PEAK = "RfPeak"
AF_PEAK = "AfPeak"
AES256_ERROR = "Aes256Error"
LOW_BATTERY = "LowBattery"
CLIP_DBFS = 0.0  # what an AfPeak warning reports as peak_level


def _finite(value: Any) -> float | None:
    """A JSON number as a finite float; bools, strings and NaN are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def dbm(value: Any) -> float | None:
    """An RSSI in dBm (one decimal), or None."""
    number = _finite(value)
    if number is None or not PLAUSIBLE_DBM[0] <= number <= PLAUSIBLE_DBM[1]:
        return None
    return round(number, 1)


def dbfs(value: Any) -> float | None:
    """An audio level in dBFS (one decimal), or None; the floor -138.5 is silence, kept."""
    number = _finite(value)
    if number is None or not PLAUSIBLE_DBFS[0] <= number <= PLAUSIBLE_DBFS[1]:
        return None
    return round(number, 1)


def percent(value: Any) -> int | None:
    """0-100 as an int; anything else None."""
    number = _finite(value)
    if number is None or not 0 <= number <= 100:
        return None
    return round(number)


def lifetime_minutes(value: Any) -> int | None:
    """Battery lifetime in minutes; negative or sentinel-sized values are unknown [U]."""
    number = _finite(value)
    if number is None or number < 0 or number >= LIFETIME_SENTINEL_MIN:
        return None
    return round(number)


def frequency_mhz(khz: Any) -> float | None:
    """kHz (an int, `651950`) -> MHz; 0, negative or non-integers -> None."""
    if isinstance(khz, bool) or not isinstance(khz, int) or khz <= 0:
        return None
    return round(khz / 1000, 3)


def text(value: Any) -> str | None:
    """A string value stripped (MCP names are space-padded); blank or non-string -> None."""
    if not isinstance(value, str):
        return None
    return value.strip() or None


def flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def antenna(divi: Any) -> str | None:
    """Diversity indicator 1 -> "A", 2 -> "B"; 0 (none) or anything else -> None."""
    if isinstance(divi, bool) or not isinstance(divi, int):
        return None
    return {1: "A", 2: "B"}.get(divi)


def rsqi_quality(value: Any) -> str | None:
    """RSQI % -> an `RfQuality` value [U thresholds, module docstring]."""
    rsqi = percent(value)
    if rsqi is None:
        return None
    for floor, grade in RSQI_GRADES:
        if rsqi >= floor:
            return grade.value
    return RfQuality.POOR.value


def warning_list(value: Any) -> list[str] | None:
    """A warnings array as its string members; None when it is not an array."""
    if not isinstance(value, list):
        return None
    return [w for w in value if isinstance(w, str)]


# --- models ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Product:
    """A receiver model: the product code prefix it reports, its name and channel count."""

    code: str
    model: str
    channels: int


# Longest prefix first. SSC v1 on a real EM 2 says `EWDX2CH`; the SSCv2 OpenAPI text lists
# `EWDX2CHS`, `EWDX2CHDS`, `EWDX4CHDS`. The Dante codes under SSC v1 are inferred [U].
PRODUCTS: tuple[Product, ...] = (
    Product("EWDX4CH", "EW-DX EM 4 Dante", 4),
    Product("EWDX2CHD", "EW-DX EM 2 Dante", 2),
    Product("EWDX2CH", "EW-DX EM 2", 2),
)
MAX_EWDX_CHANNELS = max(p.channels for p in PRODUCTS)


def product(code: Any) -> Product | None:
    """The model of a product code (`EWDX2CH` -> EW-DX EM 2), tolerating suffixes."""
    if not isinstance(code, str):
        return None
    squashed = re.sub(r"[^A-Z0-9]", "", code.upper())
    for known in PRODUCTS:
        if squashed.startswith(known.code):
            return known
    return None


def model_fields(code: Any) -> Fields:
    """Receiver readings for a product code: the friendly model and channel count when known,
    else the code itself."""
    found = product(code)
    if found is not None:
        return {"model": found.model, "channels": found.channels}
    name = text(code)
    return {"model": name} if name else {}


# --- what an interpreter remembers per channel ----------------------------------------------


def any_flag(values: Iterable[bool | None]) -> bool | None:
    """True if any source says True, False if all known sources say False, else None."""
    known = [v for v in values if v is not None]
    return True if any(known) else (False if known else None)


@dataclass(slots=True)
class ChannelMemory:
    """Per-channel facts several messages contribute to (mute and presence sources)."""

    mutes: dict[str, bool | None] = field(default_factory=dict)
    presence: dict[str, bool | None] = field(default_factory=dict)

    def mute(self, source: str, muted: bool | None) -> Fields:
        self.mutes[source] = muted
        return {"mute_status": any_flag(self.mutes.values())}

    def present(self, source: str, present: bool | None) -> Fields:
        """`tx_on`: False if any source says no transmitter, True once all known say one is
        there; nothing while a source that said "none" has not said otherwise."""
        self.presence[source] = present
        values = [v for v in self.presence.values() if v is not None]
        if False in values:
            return {"tx_on": False}
        return {"tx_on": True} if values else {}


def warning_fields(memory: ChannelMemory, value: Any, *, source: str) -> Fields:
    """An EW-DX receiver channel's warnings array -> readings (module docstring)."""
    warnings = warning_list(value)
    if warnings is None:
        return {}
    active = set(warnings)
    fields: Fields = {
        "interference": RF_PEAK in active,
        "encryption_error": AES256_ERROR in active,
    }
    if AF_PEAK in active:
        fields["peak_level"] = CLIP_DBFS
    return fields | memory.present(source, NO_LINK not in active)


def transmitter_warning_fields(value: Any) -> Fields:
    """A transmitter's warnings (`AfPeak`, `LowBattery`) -> readings."""
    warnings = warning_list(value)
    if warnings is None or AF_PEAK not in warnings:
        return {}
    return {"peak_level": CLIP_DBFS}
