"""Typed values of the System API (v1.8 schemas as seen on real servers, PROTOCOLS.md 3.3).

Frozen and pure. Enums fall back to UNKNOWN for values a newer server invents.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class _Fallback(enum.StrEnum):
    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls.__members__[value.upper()]
        return cls.__members__.get("UNKNOWN")


class DeviceState(_Fallback):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    DISCOVERED = "DISCOVERED"  # seen on the network, not (yet) managed by the server
    UNKNOWN = "UNKNOWN"


class ChargeState(_Fallback):
    CHARGING = "CHARGING"
    DISCHARGING = "DISCHARGING"
    FULL = "FULL"
    EMPTY = "EMPTY"
    CALCULATING = "CALCULATING"
    OPTIMAL_STORAGE = "OPTIMAL_STORAGE"
    UNKNOWN = "UNKNOWN"


class AudioActivity(_Fallback):
    LOW = "LOW"
    GOOD = "GOOD"
    CLIPPING = "CLIPPING"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One node of `GET /v1/devices`."""

    device_id: str
    serial: str | None = None
    model: str | None = None
    firmware: str | None = None
    address: str | None = None
    state: DeviceState = DeviceState.UNKNOWN
    capabilities: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    percentage: int | None = None
    current: ChargeState = ChargeState.UNKNOWN
    target: ChargeState = ChargeState.UNKNOWN
    minutes_to_target: int | None = None

    @property
    def charging(self) -> bool | None:
        if self.current is ChargeState.CHARGING:
            return True
        if self.current in (ChargeState.CALCULATING, ChargeState.UNKNOWN):
            return None
        return False

    @property
    def runtime_minutes(self) -> int | None:
        """Minutes of use left: only meaningful while discharging towards empty."""
        if self.current is ChargeState.DISCHARGING:
            return self.minutes_to_target
        return None

    @property
    def minutes_to_full(self) -> int | None:
        if self.current is ChargeState.CHARGING:
            return self.minutes_to_target
        if self.current is ChargeState.FULL:
            return 0
        return None


@dataclass(frozen=True, slots=True)
class BatteryHealth:
    percentage: int | None = None
    cycles: int | None = None


@dataclass(frozen=True, slots=True)
class AudioChannel:
    channel_id: str  # opaque base64 id, used in URLs as is
    index: int  # 0-based position on the device (from the id's "i" when it decodes)
    name: str | None = None
    activity: AudioActivity = AudioActivity.UNKNOWN
    capabilities: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DeviceDetails:
    """What we know about one device: its node plus what its endpoints said."""

    info: DeviceInfo
    name: str | None = None
    battery: BatteryLevel | None = None
    health: BatteryHealth | None = None
    channels: tuple[AudioChannel, ...] = ()

    @property
    def device_id(self) -> str:
        return self.info.device_id


@dataclass(frozen=True, slots=True)
class Page:
    devices: tuple[DeviceInfo, ...]
    next_cursor: str | None = None  # None: this was the last page


@dataclass(frozen=True, slots=True)
class Event:
    """One message of the subscription WebSocket."""

    name: str
    device_id: str | None = None
    channel_id: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict)
