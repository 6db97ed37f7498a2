"""The contract between sources and the state above them: what a source may ask of the hub.

Sources (receiver state machines, the receiver manager, the System API, other instances
through Redis) depend on these protocols, never on the `Hub` class: the state layer
implements them (`state/hub.py`), the process layer hands the one hub to every source.
The hub's events are defined here too, since sources listen to them as well.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

import msgspec

from micboardd.model import Device, Family, Reading, SourceState

# --- events --------------------------------------------------------------------------------


# msgspec Structs, not frozen dataclasses: a DeviceChanged is made for every visible meter
# change, a thousand a second, and a frozen dataclass costs several times as much to make.
class DeviceChanged(msgspec.Struct, frozen=True, gc=False):
    device_id: str
    changes: frozenset[str]


class DeviceRemoved(msgspec.Struct, frozen=True, gc=False):
    device_id: str


class ConnectionChanged(msgspec.Struct, frozen=True, gc=False):
    receiver_id: str


HubEvent = DeviceChanged | DeviceRemoved | ConnectionChanged
Listener = Callable[[HubEvent], None]


class MeterDelivery(enum.Enum):
    """How a listener hears of a change of meters alone (METER_CHANGE_KEYS), which comes a
    thousand times a second; every other event reaches every listener."""

    EVENTS = "events"  # each one, as an event (the fan-out: clients watch meters move)
    # Appended to the device's meter sink, which this listener keeps (history); as an event
    # for a device without one.
    SINK = "sink"
    # As an event only when it leaves the device's quiet band (`Hub.meter_quiet`), or the
    # device has none (alerts: no rule reads a meter inside it).
    OUTSIDE_QUIET = "outside_quiet"
    # Not at all (the fan-out while no client watches: a client starts from a snapshot).
    NONE = "none"


class QuietBand(NamedTuple):
    """Where a device's meters may move unseen by a MeterDelivery.OUTSIDE_QUIET listener:
    RF above `rf_floor` and the peak below `peak_ceiling` (either unknown will do), the RF
    grade one of `grades`."""

    rf_floor: float
    peak_ceiling: float
    grades: frozenset[str | None]


# A device's meter change as a listener keeping meters by the second takes it: (time,
# changes, rf_signal, audio_level, peak_level) as the change left them (Hub.meter_sinks).
MeterReading = tuple[float, frozenset[str], Any, Any, Any]
# One meter sample as a family reads it off the wire: channel, antenna, rf_signal (dBm),
# audio_level and peak_level (dBFS), whole numbers or None (unknown).
Sample = tuple[int, str | None, int | None, int | None, int | None]


# --- what answers at an address ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a probe found at an address, whatever the protocol (`shure/probe.py`,
    `sennheiser/probe.py`): the receiver machines and discovery share it."""

    family: Family
    model: str
    channels: int
    transport: str
    name: str | None = None
    firmware: str | None = None
    rf_band: str | None = None
    # Where to monitor it when that is not where it was asked: an EW-DX announced on SSC's
    # port 45 that speaks SSCv2 on 443 (`discovery/probes.py`). None: where it was asked.
    port: int | None = None

    def same_receiver(self, other: ProbeResult) -> bool:
        """Whether two probes read the same box: the same family, model and channels, and
        the same name, band and firmware where both said (command strings carry no serial)."""
        return not self.differences(other)

    def differences(self, other: ProbeResult) -> list[str]:
        """Which parts of the identity two probes disagree on, by name (never the values:
        they are what a peer said); [] for the same receiver."""
        differ = [
            what
            for what, a, b in (
                ("family", self.family, other.family),
                ("model", self.model, other.model),
                ("channels", self.channels, other.channels),
            )
            if a != b
        ]
        differ += [
            what
            for what, a, b in (
                ("name", self.name, other.name),
                ("RF band", self.rf_band, other.rf_band),
                ("firmware", self.firmware, other.firmware),
            )
            if a is not None and b is not None and a != b
        ]
        return differ


# --- what sources are and own ----------------------------------------------------------------


class Source(Protocol):
    """Something that feeds the hub: receivers, discovery, the System API, other instances."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Commander(Protocol):
    """The source that owns a receiver and can send it commands."""

    async def rename(self, channel: int, name: str) -> None: ...
    async def identify(self, channel: int | None) -> None: ...


class ReceiverView(Protocol):
    """What a source may read of a receiver the hub knows."""

    @property
    def id(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def family(self) -> Family: ...
    @property
    def model(self) -> str | None: ...
    @property
    def serial(self) -> str | None: ...
    @property
    def channels(self) -> int: ...
    @property
    def source(self) -> str: ...


# --- what a source may ask of the hub ----------------------------------------------------------


class ReadingSink(Protocol):
    """Where a receiver's state machine puts what it read."""

    def apply(self, receiver_id: str, readings: Iterable[Reading]) -> None:
        """What the source just read about a receiver's channels (channel 0: the receiver)."""

    def apply_samples(self, receiver_id: str, samples: Iterable[Sample]) -> None:
        """The meter samples of one receiver write: `apply` of a Reading with exactly these
        four fields each, without making one (a thousand a second)."""

    def set_source_state(
        self,
        receiver_id: str,
        state: SourceState,
        *,
        latency_ms: float | None = None,
        error: str | None = None,
    ) -> None:
        """The source's link to the receiver changed (or its latency did)."""

    def forget_readings(self, receiver_id: str) -> None:
        """A new connection answered: what the previous one said no longer holds."""


class ReceiverRegistry(ReadingSink, Protocol):
    """A source that adds and removes receivers (the manager, the System API)."""

    @property
    def receivers(self) -> Mapping[str, ReceiverView]: ...
    @property
    def commanders(self) -> MutableMapping[str, Commander]: ...

    def upsert_receiver(
        self,
        receiver_id: str,
        *,
        address: str,
        port: int = ...,
        family: Family = ...,
        model: str | None = None,
        channels: int = 0,
        source: str = ...,
    ) -> ReceiverView: ...

    def remove_receiver(self, receiver_id: str) -> None: ...

    def subscribe(
        self, listener: Listener, *, meters: MeterDelivery = ...
    ) -> Callable[[], None]: ...


class DeviceBoard(Protocol):
    """Every device the hub shows, for sources that mirror them (other instances)."""

    instance: str | None

    @property
    def devices(self) -> Mapping[str, Device]: ...

    def clock(self) -> float: ...
    def subscribe(
        self, listener: Listener, *, meters: MeterDelivery = ...
    ) -> Callable[[], None]: ...
    def put_remote(self, dev: Device) -> bool: ...
    def drop_remote(self, device_id: str) -> None: ...


# A DeviceBoard as a class generic over it sees it: its caller keeps its own type.
Board = TypeVar("Board", bound=DeviceBoard)
