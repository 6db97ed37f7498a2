"""Value rules every family shares: sentinel-aware converters (plus precomputed tables of them
for the metering path) and per-channel parser state.

Sentinels (255, 65535, 65534 calculating, 65533 comm warning, ``UNKN``, ``UNKNOWN``, ``U``,
``--,--``) become None, so they never reach alert thresholds; a value that is not what the
property needs (letters where digits belong) becomes None. Nothing here raises.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from micboardd.model import JSON

Fields = dict[str, JSON]

UNKNOWN_8BIT = 255  # bars, percent, levels: "unknown / no transmitter"
COMM_WARNING_16BIT = 65533  # battery minutes: battery communication warning
CALCULATING_16BIT = 65534  # battery minutes: still calculating
UNKNOWN_16BIT = 65535  # battery minutes / cycles: unknown
UNKNOWN_TOKENS = frozenset({"UNKN", "UNKNOWN", "U", "--,--", ""})
MAX_BARS = 5
AUDIO_FLOOR_DBFS = -120  # silence on the 0-based "raw - 120" scales; used as a floor elsewhere
METER_DIGITS = 3  # SAMPLE levels are zero-padded to three digits (000-255)
MAX_ANTENNAS = 4  # Axient Quadversity; the longest antenna status token


# --- value converters: token(s) -> normalized value or None --------------------------------


def to_int(token: str) -> int | None:
    """ASCII digits -> int; anything else (sign, letters, empty) -> None."""
    return int(token) if token.isascii() and token.isdigit() else None


def bars(token: str) -> int | None:
    value = to_int(token)
    return value if value is not None and value <= MAX_BARS else None


def percent(token: str) -> int | None:
    value = to_int(token)
    return value if value is not None and value <= 100 else None


def minutes(token: str) -> int | None:
    """Battery minutes; 65533 (comm warning), 65534 (calculating), 65535 -> None."""
    value = to_int(token)
    return value if value is not None and value < COMM_WARNING_16BIT else None


def offset_level(token: str, offset: int) -> int | None:
    """Raw meter value minus `offset` (dBm / dBFS); 255 -> None."""
    value = to_int(token)
    return None if value is None or value >= UNKNOWN_8BIT else value - offset


def frequency_mhz(token: str) -> float | None:
    """kHz as 6 or 7 digits (``614125``, ``0594075``) -> MHz; 0 or garbage -> None."""
    value = to_int(token)
    return round(value / 1000, 3) if value else None


def text(args: tuple[str, ...]) -> str | None:
    """A string value (already unbraced by the codec), stripped; blank -> None."""
    joined = " ".join(args).strip()
    return joined or None


def model_name(token: str) -> str | None:
    """A transmitter model; ``UNKN``/``UNKNOWN`` -> None."""
    value = token.strip()
    return None if value.upper() in UNKNOWN_TOKENS else value


def flag(token: str, true: Iterable[str], false: Iterable[str]) -> bool | None:
    value = token.strip().upper()
    if value in true:
        return True
    if value in false:
        return False
    return None


def any_flag(values: Iterable[bool | None]) -> bool | None:
    """True if any source says True, False if all known sources say False, else None."""
    known = [v for v in values if v is not None]
    return True if any(known) else (False if known else None)


def first(args: tuple[str, ...]) -> str:
    return args[0] if args else ""


def antenna_letters(status: str, lit: str) -> str | None:
    """Per-antenna status chars -> letters of the lit antennas ("AB"); none lit -> None.

    ULX-D/UHF-R say ``AX``/``XB``/``AB``/``XX`` (lit = its own letter); Axient says one of
    ``X``/``R``/``B`` per antenna (lit = ``R`` or ``B``). Invalid tokens -> None.
    """
    if not status or len(status) > 4:
        return None
    letters = ""
    for index, char in enumerate(status.upper()):
        if char in lit:
            letters += "ABCD"[index]
        elif char != "X":
            return None
    return letters or None


# --- precomputed converters for the metering path ---------------------------------------------
# SAMPLE frames arrive ~1000 times a second and carry a handful of distinct tokens, so the
# converters above are evaluated once per token here. A token outside the table is converted on
# the fly and not stored, which keeps the tables bounded on a hostile stream.


class OffsetLevels(dict[str, int | None]):
    """``table[token] == offset_level(token, offset)`` for every token."""

    __slots__ = ("offset",)

    def __init__(self, offset: int) -> None:
        tokens = (f"{raw:0{METER_DIGITS}d}" for raw in range(UNKNOWN_8BIT + 1))
        super().__init__((token, offset_level(token, offset)) for token in tokens)
        self.offset = offset

    def __missing__(self, token: str) -> int | None:
        return offset_level(token, self.offset)


class AntennaLetters(dict[str, str | None]):
    """``table[status] == antenna_letters(status, lit)`` for every status.

    Its keys are exactly the valid upper-case statuses: 1-4 characters from `lit` and ``X``.
    """

    __slots__ = ("lit",)

    def __init__(self, lit: str) -> None:
        statuses = (
            "".join(chars)
            for width in range(1, MAX_ANTENNAS + 1)
            for chars in itertools.product(lit + "X", repeat=width)
        )
        super().__init__((status, antenna_letters(status, lit)) for status in statuses)
        self.lit = lit

    def __missing__(self, status: str) -> str | None:
        return antenna_letters(status, self.lit)


# --- per-channel parser state ----------------------------------------------------------------


@dataclass(slots=True)
class ChannelState:
    """What an interpreter remembers about one channel between frames."""

    antennas: int = 2
    rssi: dict[int, int | None] = field(default_factory=dict)  # antenna (1-based) -> dBm
    mutes: dict[str, bool | None] = field(default_factory=dict)  # source property -> muted
    interference: dict[str, bool | None] = field(default_factory=dict)
    presence: dict[str, bool | None] = field(default_factory=dict)  # property -> "TX there"
    inputs: dict[str, float | None] = field(default_factory=dict)  # PSM1000 L/R meters


def antenna_rssi(state: ChannelState, antenna: int | None, dbm: int | None) -> Fields:
    """Record one antenna's level; report the list and the strongest as `rf_signal`."""
    if antenna is None or not 1 <= antenna <= 4:
        return {}
    state.rssi[antenna] = dbm
    count = max(state.antennas, *state.rssi)
    levels = [state.rssi.get(i) for i in range(1, count + 1)]
    known = [v for v in levels if v is not None]
    return {"rf_antennas": levels, "rf_signal": max(known) if known else None}


def mute_fields(state: ChannelState, source: str, muted: bool | None) -> Fields:
    state.mutes[source] = muted
    return {"mute_status": any_flag(state.mutes.values())}


def interference_fields(state: ChannelState, source: str, detected: bool | None) -> Fields:
    state.interference[source] = detected
    return {"interference": any_flag(state.interference.values())}


def presence_fields(state: ChannelState, source: str, present: bool | None) -> Fields:
    """`tx_on`: False if any source says no transmitter, True once all say one is there."""
    state.presence[source] = present
    values = list(state.presence.values())
    if False in values:
        return {"tx_on": False}
    return {"tx_on": True} if values and all(values) else {}
