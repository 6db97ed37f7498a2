"""Values shared by every layer: enums, the device field vocabulary, readings.

A *device* is one monitored microphone channel (a receiver channel and the transmitter on
it); its public shape is the flat JSON object of the WebSocket contract (ARCHITECTURE.md).
Everything here is pure data: no I/O, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

# JSON-able value held in a device or receiver object.
JSON = Any


class _FallbackEnum(enum.StrEnum):
    """A string enum whose unknown values degrade to UNKNOWN instead of raising."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        return cls.__members__.get("UNKNOWN")


class Family(_FallbackEnum):
    """Receiver families: Shure's each have a vocabulary in `shure/families/`; Sennheiser's
    speak one protocol each (`sennheiser/`): EW-DX (SSC v1 or SSCv2) and ew G3/G4/2000 (the
    Media Control Protocol)."""

    ULXD = "ulxd"
    QLXD = "qlxd"
    SLXD = "slxd"
    AXIENT = "axient"
    UHFR = "uhfr"
    PSM1000 = "psm1000"
    EWDX = "ewdx"
    EW = "ew"
    UNKNOWN = "unknown"

    @property
    def manufacturer(self) -> str:
        """Whose receiver it is (`manufacturer` of its devices); Shure until known."""
        return "sennheiser" if self in SENNHEISER_FAMILIES else "shure"


SENNHEISER_FAMILIES = frozenset({Family.EWDX, Family.EW})


class ChannelStatus(_FallbackEnum):
    """The `status` of a device; the rule table that picks one lives in `status_rules.py`."""

    GOOD = "good"
    REPLACE = "replace"
    CRITICAL = "critical"
    PREV_GOOD = "prev_good"
    PREV_REPLACE = "prev_replace"
    PREV_CRITICAL = "prev_critical"
    UNKNOWN = "unknown"
    TX_OFF = "tx_off"
    RX_OFFLINE = "rx_offline"
    AUDIO_PEAK = "audio_peak"
    INTERFERENCE = "interference"
    # A placeholder tile (placeholders.py): gear with no network, so nothing is known, ever.
    UNMONITORED = "unmonitored"


class BatteryStatus(_FallbackEnum):
    GOOD = "good"
    REPLACE = "replace"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


# Battery grades (README "Status colours"): the status rules and the alert thresholds start
# from these, and a source may use them to decide what to watch closely.
BATTERY_REPLACE_BARS = 2  # 2 bars: plan a change at the next break
BATTERY_CRITICAL_BARS = 1  # 1 bar or less: change now
BATTERY_REPLACE_MINUTES = 30
BATTERY_CRITICAL_MINUTES = 15
BATTERY_REPLACE_PERCENT = 30  # used only when neither bars nor minutes are known
BATTERY_CRITICAL_PERCENT = 15


def _grade(value: float, critical: float, replace: float) -> BatteryStatus:
    if value <= critical:
        return BatteryStatus.CRITICAL
    return BatteryStatus.REPLACE if value <= replace else BatteryStatus.GOOD


def battery_status(bars: Any, minutes: Any, percent: Any) -> BatteryStatus:
    """Worst of what bars and minutes say; percent only when neither is known."""
    verdicts: list[BatteryStatus] = []
    if isinstance(bars, int):
        verdicts.append(_grade(bars, BATTERY_CRITICAL_BARS, BATTERY_REPLACE_BARS))
    if isinstance(minutes, int):
        verdicts.append(_grade(minutes, BATTERY_CRITICAL_MINUTES, BATTERY_REPLACE_MINUTES))
    if not verdicts and isinstance(percent, int | float):
        verdicts.append(_grade(percent, BATTERY_CRITICAL_PERCENT, BATTERY_REPLACE_PERCENT))
    for worst in (BatteryStatus.CRITICAL, BatteryStatus.REPLACE, BatteryStatus.GOOD):
        if worst in verdicts:
            return worst
    return BatteryStatus.UNKNOWN


class RfQuality(_FallbackEnum):
    EXCELLENT = "excellent"
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"
    NONE = "none"
    UNKNOWN = "unknown"


class SourceState(_FallbackEnum):
    """Connection state of one source (a receiver session or the System API).

    `connection_update.status` on `/ws/connections/` is the coarse view of this: `SYNCING`
    (connected, nothing read yet) still shows as "connecting", only `ONLINE` as "connected".
    """

    CONNECTING = "connecting"
    SYNCING = "syncing"
    ONLINE = "online"
    DISCONNECTED = "disconnected"
    ERROR = "error"
    UNKNOWN = "unknown"

    @property
    def wire_status(self) -> str:
        return {
            SourceState.CONNECTING: "connecting",
            SourceState.SYNCING: "connecting",
            SourceState.ONLINE: "connected",
            SourceState.ERROR: "error",
        }.get(self, "disconnected")


class Device(msgspec.Struct, kw_only=True):
    """One monitored microphone channel: the device object of the WebSocket contract.

    Fields in contract order (JSON follows it); every field is always present, None when
    unknown. The hub is its only writer (state/hub.py); the fan-out, REST, alerts and the
    history read it. A placeholder has no receiver, so no receiver id or channel.
    """

    device_id: str
    manufacturer: str | None = "shure"
    receiver_id: str | None = None
    channel: int | None = None
    model: str | None = None
    tx_model: str | None = None
    name: str | None = None
    performer: str | None = None
    group: str | None = None
    frequency_mhz: float | None = None
    battery_level: float | None = None
    battery_bars: int | None = None
    battery_minutes: int | None = None
    charging: bool | None = None
    battery_status: str | None = "unknown"
    # From the Shure System API only (null for receivers it does not see): pack health in %,
    # charge cycles, minutes until a charging pack is full.
    battery_health: float | None = None
    battery_cycles: int | None = None
    battery_time_to_full_minutes: int | None = None
    rf_signal: float | None = None
    rf_antennas: list[float | None] | None = None
    antenna: str | None = None
    rf_quality: str | None = None
    interference: bool | None = None
    encryption_error: bool | None = None
    audio_level: float | None = None
    peak_level: float | None = None
    mute_status: bool | None = None
    status: str | None = "unknown"
    alert_count: int | None = 0
    last_update: str | None = None
    # The micboardd that monitors it when several share Redis; null on a single box.
    instance: str | None = None
    # Version (ETag) of the performer photo of this slot (tiles/photos.py); null: none.
    photo: str | None = None


# The device object's fields, in contract order.
DEVICE_FIELDS: tuple[str, ...] = Device.__struct_fields__


# Fields a source (family parser, System API) may report for a channel. `tx_on` is not part
# of the contract: it feeds the status rules (True: a transmitter is on air, False: none,
# None: the family cannot tell). `rf_quality` is the receiver's own link-quality grade
# (EW-DX RSQI): when a source reports one it wins over the grade the hub derives from dBm.
READING_FIELDS: frozenset[str] = frozenset(
    {
        "tx_model",
        "name",
        "frequency_mhz",
        "battery_level",
        "battery_bars",
        "battery_minutes",
        "charging",
        "battery_health",
        "battery_cycles",
        "battery_time_to_full_minutes",
        "rf_signal",
        "rf_antennas",
        "antenna",
        "rf_quality",
        "interference",
        "encryption_error",
        "audio_level",
        "peak_level",
        "mute_status",
        "tx_on",
    }
)

# Receiver-level fields a source may report (channel 0 readings).
RECEIVER_READING_FIELDS: frozenset[str] = frozenset(
    {"model", "name", "firmware", "rf_band", "serial", "channels", "encryption"}
)

# Meter fields: they change at meter rate and are subject to deadbands and the compact
# `meters` frame.
METER_FIELDS: tuple[str, ...] = ("rf_signal", "audio_level", "peak_level")


class Reading(msgspec.Struct, frozen=True, gc=False):
    """What a source learned about one channel (or, with channel 0, the receiver itself).

    `fields` holds only what this message said; absent keys are left untouched by the hub,
    keys present with None mean "now unknown". A msgspec Struct: a thousand are made a
    second (one per meter sample), and it costs a fraction of a frozen dataclass.
    """

    channel: int
    fields: Mapping[str, JSON] = msgspec.field(default_factory=dict)


def number(value: Any) -> float | None:
    """A device field's numeric value as a float; None for anything else (bool included)."""
    # Exact-type checks first: meter readings (ints) come through here on every hub event.
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def make_device_id(receiver_id: str, channel: int) -> str:
    """`<receiver id>:<channel>`: stable across restarts and IP changes (see ARCHITECTURE.md)."""
    return f"{receiver_id}:{channel}"


def split_device_id(device_id: str) -> tuple[str, int]:
    """Inverse of `make_device_id`; the receiver id may itself contain colons."""
    receiver_id, sep, channel = device_id.rpartition(":")
    if not sep or not channel.isdigit():
        raise ValueError(f"not a device id: {device_id!r}")
    return receiver_id, int(channel)


@dataclass(slots=True)
class Counters:
    """Process-wide counters shown in /api/health and /metrics (every layer may count)."""

    ws_frames_sent: int = 0
    ws_bytes_sent: int = 0
    ws_client_errors: int = 0
    # Frames that could not be written at once (the client's socket paused or closing).
    ws_frames_waited: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    # Unexpected exceptions on the event loop (bugs), by exception type (loop_errors.py).
    loop_exceptions: dict[str, int] = field(default_factory=dict)

    def count(self, event: str, n: int = 1) -> None:
        """One more `event` (a name chosen in code: it becomes a metrics label)."""
        self.extra[event] = self.extra.get(event, 0) + n
