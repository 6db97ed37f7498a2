"""The status rules: battery, RF quality and channel status from a device's fields (pure).

One table for the whole product (README "Status colours"); the hub applies it to every
reading, and the alert rules share its thresholds. Meter deadbands live here too: a change
smaller than what a meter can show is not a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from micboardd.model import (
    METER_FIELDS,
    BatteryStatus,
    ChannelStatus,
    Device,
    Family,
    RfQuality,
)

# --- deadbands: a meter change smaller than this is not visible on any meter we draw ---
DEADBAND_DB: Mapping[str, float] = {
    "rf_signal": 1.0,  # RF meters show whole dBm
    "audio_level": 1.0,  # audio meters show whole dB
    "peak_level": 1.0,
    "rf_antennas": 1.0,
}

# --- status rule thresholds (documented in README "Status colours"; the battery grades are
# model.battery_status, which sources use too) ---
# After the transmitter goes off its last battery colour is shown as prev_*; after this long
# the old reading says nothing about the pack that will go in, so the tile turns unknown.
PREV_STATE_HOLD_S = 30 * 60
# Peak at or above this (dBFS) is clipping; the tile shows audio_peak for AUDIO_PEAK_HOLD_S so
# a one-sample clip is still seen on a phone refreshing at 10 Hz.
CLIP_DBFS = -0.5
AUDIO_PEAK_HOLD_S = 2.0
RF_QUALITY_DBM: tuple[tuple[float, RfQuality], ...] = (
    (-60.0, RfQuality.EXCELLENT),
    (-70.0, RfQuality.GOOD),
    (-80.0, RfQuality.FAIR),
)

# The grades as strings: an Enum's `.value` is a property call, and this runs per sample.
_GRADES = tuple((floor, quality.value) for floor, quality in RF_QUALITY_DBM)
_POOR, _NO_LINK = RfQuality.POOR.value, RfQuality.NONE.value

METER_SET = frozenset(METER_FIELDS) | {"rf_antennas", "antenna"}

# Families whose receivers report whether a transmitter is on air (TX_TYPE, TX_MODEL,
# TX_BAT): their channels are never "good" before they have said so.
PRESENCE_FAMILIES = frozenset(
    {
        Family.ULXD,
        Family.QLXD,
        Family.SLXD,
        Family.AXIENT,
        Family.UHFR,
        Family.EWDX,  # NoLink, 424 at the transmitter's leaves
        Family.EW,  # `Bat ?`
    }
)

# What a receiver's answers on one connection say about a channel; a new connection must
# say it again before it counts (names and frequencies are identity, kept until re-read).
CONNECTION_FIELDS = (
    "tx_model",
    "battery_level",
    "battery_bars",
    "battery_minutes",
    "rf_signal",
    "rf_antennas",
    "antenna",
    "interference",
    "encryption_error",
    "audio_level",
    "peak_level",
    "mute_status",
)


def rf_quality(
    rf_signal: Any, tx_on: bool | None, reported: str | None = None, *, tells_presence: bool = False
) -> str | None:
    """The link's grade: none without a transmitter, else the receiver's own grade when it
    reports one (EW-DX RSQI), else from the signal in dBm.

    `tells_presence`: the family says whether a transmitter is there (PRESENCE_FAMILIES);
    until it has, the dBm is no grade: on a new connection meters come before `GET 0 ALL`
    is answered, and the noise floor of an absent transmitter would grade as "poor", a
    transmitter on air with no RF (alerts.rules.tx_presence reads the grade as presence).
    """
    if tx_on is False:
        return _NO_LINK
    if reported is not None:
        return reported
    if tx_on is None and tells_presence:
        return None
    if not isinstance(rf_signal, int | float):
        return None
    for floor, grade in _GRADES:
        if rf_signal >= floor:
            return grade
    return _POOR


@dataclass(slots=True)
class ChannelMemory:
    """What the status rules remember about a channel beyond its public fields."""

    tx_on: bool | None = None
    # The receiver's own link-quality grade (EW-DX RSQI), when it reports one.
    reported_quality: str | None = None
    tx_off_since: float | None = None
    last_battery: BatteryStatus = BatteryStatus.UNKNOWN
    peak_until: float = 0.0


def status_for(
    dev: Device,
    mem: ChannelMemory,
    receiver_online: bool,
    now: float,
    battery_status: str | None = None,
    presence_known: bool = True,
) -> ChannelStatus:
    """The one rule table for `status` (README "Status colours").

    `battery_status` overrides the device's own (the value about to be stored).
    `presence_known`: the source can say whether a transmitter is there (every receiver
    family; not a PSM1000, which is itself the transmitter, nor the System API).
    """
    if not receiver_online:
        return ChannelStatus.RX_OFFLINE
    if mem.tx_on is False:
        if mem.last_battery is BatteryStatus.UNKNOWN:
            return ChannelStatus.TX_OFF
        if mem.tx_off_since is not None and now - mem.tx_off_since >= PREV_STATE_HOLD_S:
            return ChannelStatus.UNKNOWN
        return ChannelStatus("prev_" + mem.last_battery.value)
    if dev.interference:
        return ChannelStatus.INTERFERENCE
    if now < mem.peak_until:
        return ChannelStatus.AUDIO_PEAK
    battery = BatteryStatus(battery_status or dev.battery_status or "unknown")
    if battery is not BatteryStatus.UNKNOWN:
        return ChannelStatus(battery.value)
    if mem.tx_on is None and not presence_known:
        # A source that cannot tell whether a transmitter is there (a PSM1000): answering
        # and nothing wrong is all there is to know. A receiver family that can tell but
        # has not yet said (an SLX-D+ still being read property by property) stays unknown.
        return ChannelStatus.GOOD
    return ChannelStatus.UNKNOWN


def visibly_changed(key: str, old: Any, new: Any) -> bool:
    if old == new:
        return False
    band = DEADBAND_DB.get(key)
    if band is None or old is None or new is None:
        return True
    if key == "rf_antennas":
        if not isinstance(old, list) or not isinstance(new, list) or len(old) != len(new):
            return True
        return any(
            a is None or b is None or abs(float(a) - float(b)) >= band
            for a, b in zip(old, new, strict=True)
        )
    try:
        return abs(float(new) - float(old)) >= band
    except (TypeError, ValueError):
        return True
