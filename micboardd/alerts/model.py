"""What an alert is: its kinds, severities, thresholds and the record kept of it."""

from __future__ import annotations

import enum
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from micboardd.alerts.store import ALERT_COLUMNS
from micboardd.isotime import iso
from micboardd.model import (
    BATTERY_CRITICAL_BARS,
    BATTERY_CRITICAL_MINUTES,
    BATTERY_CRITICAL_PERCENT,
    BATTERY_REPLACE_BARS,
    BATTERY_REPLACE_MINUTES,
    BATTERY_REPLACE_PERCENT,
)
from micboardd.state.status import CLIP_DBFS


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Kind(enum.StrEnum):
    BATTERY = "battery"
    TX_OFF = "tx_off"
    RF_WEAK = "rf_weak"
    RF_LOST = "rf_lost"
    INTERFERENCE = "interference"
    ENCRYPTION = "encryption"
    RX_OFFLINE = "rx_offline"
    CLIPPING = "clipping"
    SSAPI_DOWN = "ssapi_down"


DEVICE_KINDS = (
    Kind.BATTERY,
    Kind.TX_OFF,
    Kind.RF_WEAK,
    Kind.RF_LOST,
    Kind.INTERFERENCE,
    Kind.ENCRYPTION,
    Kind.CLIPPING,
)


@dataclass(frozen=True, slots=True)
class Hold:
    """How long a condition must hold before raising, and be over before clearing (s)."""

    raise_s: float
    clear_s: float


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Thresholds and hold times (docs/alerts.md); the defaults are the documented ones."""

    # Battery: the same limits as the tile colours (status_rules.py), so the alert and the tile agree.
    battery_low_bars: int = BATTERY_REPLACE_BARS
    battery_low_minutes: int = BATTERY_REPLACE_MINUTES
    battery_low_percent: int = BATTERY_REPLACE_PERCENT
    battery_critical_bars: int = BATTERY_CRITICAL_BARS
    battery_critical_minutes: int = BATTERY_CRITICAL_MINUTES
    battery_critical_percent: int = BATTERY_CRITICAL_PERCENT
    # Bars wobble at a boundary under load: a reading must hold; a fresh pack must read good.
    battery: Hold = Hold(raise_s=5.0, clear_s=10.0)
    # Longer than any dropout worth the name: the performer switched the transmitter off.
    tx_off_confirm_s: float = 3.0
    tx_off: Hold = Hold(raise_s=0.0, clear_s=2.0)
    # Digital receivers mute around -90..-95 dBm: below -85 there is little margin left.
    rf_weak_dbm: float = -85.0
    # Value hysteresis: a signal hovering at the threshold neither raises nor clears.
    rf_weak_clear_dbm: float = -80.0
    # A performer turning round dips the RF for a moment: only a sustained dip matters.
    rf_weak: Hold = Hold(raise_s=5.0, clear_s=5.0)
    # At or below this the receiver hears only noise (the noise floor is about -108 dBm).
    rf_lost_dbm: float = -95.0
    # Dropouts shorter than raise_s are inaudible; clear_s merges a burst into one alert.
    rf_lost: Hold = Hold(raise_s=0.3, clear_s=10.0)
    # RF in the weak band for fade_min_s within fade_window_s before the transmitter
    # vanished: it went out of range rather than being switched off.
    fade_min_s: float = 1.0
    fade_window_s: float = 10.0
    interference: Hold = Hold(raise_s=2.0, clear_s=10.0)
    encryption: Hold = Hold(raise_s=1.0, clear_s=5.0)
    # The session's silence watchdog already waits 2 s; reconnects within this go unnoticed.
    rx_offline: Hold = Hold(raise_s=5.0, clear_s=5.0)
    # Same clip level as the audio_peak tile status; repeated peaks, not a single one.
    clip_dbfs: float = CLIP_DBFS
    clip_count: int = 3
    clip_window_s: float = 10.0
    # Sustained clipping counts as one more peak per this many seconds.
    clip_repeat_s: float = 1.0
    clipping: Hold = Hold(raise_s=0.0, clear_s=20.0)
    ssapi_down: Hold = Hold(raise_s=10.0, clear_s=10.0)
    # Message refreshes (battery minutes, RF level) at most this often per alert.
    update_every_s: float = 30.0
    # Alerts still open from before a restart whose subject does not come back are closed.
    restore_grace_s: float = 60.0

    def hold(self, kind: Kind) -> Hold:
        holds: dict[Kind, Hold] = {
            Kind.BATTERY: self.battery,
            Kind.TX_OFF: self.tx_off,
            Kind.RF_WEAK: self.rf_weak,
            Kind.RF_LOST: self.rf_lost,
            Kind.INTERFERENCE: self.interference,
            Kind.ENCRYPTION: self.encryption,
            Kind.RX_OFFLINE: self.rx_offline,
            Kind.CLIPPING: self.clipping,
            Kind.SSAPI_DOWN: self.ssapi_down,
        }
        return holds[kind]


# --- the alert record ---


@dataclass(slots=True)
class Alert:
    id: str
    kind: Kind
    severity: Severity
    subject: str  # device id, receiver id or System API endpoint
    device_id: str | None
    receiver_id: str | None
    message: str
    started_at: float  # when the condition began (a dropout: when the signal went)
    raised_at: float
    updated_at: float
    cleared_at: float | None = None
    acked_at: float | None = None
    count: int = 1  # how often the condition came back while the alert was open

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    def row(self) -> dict[str, Any]:
        """As stored (epoch seconds)."""
        return {c: getattr(self, c) for c in ALERT_COLUMNS}

    def as_dict(self) -> dict[str, Any]:
        """As served by the REST API and in `system_alert` frames (ISO-8601 times)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "device_id": self.device_id,
            "receiver_id": self.receiver_id,
            "message": self.message,
            "active": self.active,
            "acked": self.acked_at is not None,
            "count": self.count,
            "started_at": iso(self.started_at),
            "raised_at": iso(self.raised_at),
            "updated_at": iso(self.updated_at),
            "cleared_at": iso(self.cleared_at) if self.cleared_at is not None else None,
            "acked_at": iso(self.acked_at) if self.acked_at is not None else None,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Alert:
        return cls(
            id=str(row["id"]),
            kind=Kind(row["kind"]),
            severity=Severity(row["severity"]),
            subject=str(row["subject"]),
            device_id=row["device_id"],
            receiver_id=row["receiver_id"],
            message=str(row["message"]),
            started_at=float(row["started_at"]),
            raised_at=float(row["raised_at"]),
            updated_at=float(row["updated_at"]),
            cleared_at=row["cleared_at"],
            acked_at=row["acked_at"],
            count=int(row["count"]),
        )


def new_alert_id() -> str:
    return secrets.token_hex(8)
