"""The hub: the latest state of every receiver and device, change detection, status rules.

Sources (receiver sessions, the System API) push `Reading`s in; the hub merges them into the
public device objects of the WebSocket contract, decides what visibly changed (meters only
beyond their deadband), derives `battery_status`, `rf_quality` and `status` from one rule
table (status_rules.py), and tells its listeners. Everything here is synchronous and runs on the event loop:
one reading is applied completely before the next, so listeners never see half a change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from micboardd.aio import callable_name, report_to_loop
from micboardd.errors import ConnectionFailed, NotFound
from micboardd.isotime import iso
from micboardd.model import (
    DEVICE_FIELDS,
    READING_FIELDS,
    RECEIVER_READING_FIELDS,
    BatteryStatus,
    ChannelStatus,
    Device,
    Family,
    Reading,
    SourceState,
    battery_status,
    make_device_id,
    split_device_id,
)
from micboardd.sources.ports import (
    Commander,
    ConnectionChanged,
    DeviceChanged,
    DeviceRemoved,
    HubEvent,
    Listener,
    MeterDelivery,
    MeterReading,
    QuietBand,
    Sample,
)
from micboardd.state.receiver import ReceiverState
from micboardd.state.status import (
    AUDIO_PEAK_HOLD_S,
    CLIP_DBFS,
    CONNECTION_FIELDS,
    DEADBAND_DB,
    METER_SET,
    PRESENCE_FAMILIES,
    ChannelMemory,
    rf_quality,
    status_for,
    visibly_changed,
)

log = logging.getLogger(__name__)

# What a meter sample says (families' SAMPLE frames): a reading of only these takes the
# short way (`Hub._meters`).
SAMPLE_FIELDS = frozenset({"rf_signal", "audio_level", "peak_level", "antenna", "rf_antennas"})
_NUMBERS = (int, float)

# A sample's change set as bits (`Hub.apply_samples`), each combination's frozenset made once.
_ANTENNA, _RF, _AUDIO, _PEAK, _QUALITY = 1, 2, 4, 8, 16
_SAMPLE_KEYS = ("antenna", "rf_signal", "audio_level", "peak_level", "rf_quality")
_SAMPLE_CHANGES = tuple(
    frozenset(key for bit, key in enumerate(_SAMPLE_KEYS) if mask >> bit & 1)
    for mask in range(1 << len(_SAMPLE_KEYS))
)
# A change of these alone is a meter reading: it goes to the device's meter sink, when a
# listener keeps one, and as an event only to the listeners that take samples as events.
METER_CHANGE_KEYS = METER_SET | {"rf_quality"}
_RF_BAND = DEADBAND_DB["rf_signal"]
_AUDIO_BAND = DEADBAND_DB["audio_level"]
_PEAK_BAND = DEADBAND_DB["peak_level"]


def _without(listeners: tuple[Listener, ...], listener: Listener) -> tuple[Listener, ...]:
    if listener not in listeners:
        return listeners
    kept = list(listeners)
    kept.remove(listener)
    return tuple(kept)


@dataclass(slots=True)
class UserFields:
    performer: str | None = None
    group: str | None = None
    photo: str | None = None  # the photo's version (photos.py)


class Hub:
    """Latest state of everything, in memory; the single writer of device objects."""

    def __init__(self, clock: Callable[[], float] = time.time, instance: str | None = None) -> None:
        self.clock = clock
        # Our name on every device we make when several instances share Redis (cluster/).
        self.instance = instance
        self.receivers: dict[str, ReceiverState] = {}
        self.devices: dict[str, Device] = {}
        self._memory: dict[str, ChannelMemory] = {}
        # Each receiver's device ids by channel (index 0 unused), for the sample path.
        self._channel_ids: dict[str, tuple[str, ...]] = {}
        self._listeners: tuple[Listener, ...] = ()
        # The same listeners by how they hear of a change of meters alone (MeterDelivery).
        self._meter_events: tuple[Listener, ...] = ()
        self._sink_keepers: tuple[Listener, ...] = ()
        self._meter_watchers: tuple[Listener, ...] = ()
        # Per device, a list every change of its meters alone is appended to (a
        # MeterReading), whatever the family or source (`_tell_meters`), given by a
        # MeterDelivery.SINK listener (history): a thousand changes a second reach it as
        # list entries, not calls.
        self.meter_sinks: dict[str, list[MeterReading]] = {}
        # Per device, where a change of meters alone is not told to the
        # MeterDelivery.OUTSIDE_QUIET listeners. Set by them (alerts) while nothing about
        # the device is pending for them, removed when something is.
        self.meter_quiet: dict[str, QuietBand] = {}
        self.user: dict[str, UserFields] = {}
        # Tiles without a receiver (placeholders.py): local, never fed by a source.
        self.placeholders: set[str] = set()
        self.commanders: dict[str, Commander] = {}
        self.started = clock()
        self.updates_applied = 0
        # Counts changes of the *set* of devices (one added or removed, not a field): the
        # fan-out numbers its binary meter layouts with it (feed/meterframe.py).
        self.generation = 0

    # --- listeners ---

    def subscribe(
        self, listener: Listener, *, meters: MeterDelivery = MeterDelivery.EVENTS
    ) -> Callable[[], None]:
        """Call `listener` with every event; with a change of meters alone as `meters` says."""
        # New tuples on every (un)subscription, so that `_emit` walks a snapshot without
        # copying the list for each of a thousand events a second.
        self._listeners = (*self._listeners, listener)
        self._hear_meters(listener, meters)

        def unsubscribe() -> None:
            self._listeners = _without(self._listeners, listener)
            self._hear_meters(listener, MeterDelivery.NONE)

        return unsubscribe

    def deliver_meters(self, listener: Listener, meters: MeterDelivery) -> None:
        """Change how a subscribed listener hears of a change of meters alone."""
        if listener in self._listeners:
            self._hear_meters(listener, meters)

    def _hear_meters(self, listener: Listener, meters: MeterDelivery) -> None:
        self._meter_events = _without(self._meter_events, listener)
        self._sink_keepers = _without(self._sink_keepers, listener)
        self._meter_watchers = _without(self._meter_watchers, listener)
        if meters is MeterDelivery.EVENTS:
            self._meter_events = (*self._meter_events, listener)
        elif meters is MeterDelivery.SINK:
            self._sink_keepers = (*self._sink_keepers, listener)
        elif meters is MeterDelivery.OUTSIDE_QUIET:
            self._meter_watchers = (*self._meter_watchers, listener)

    def _emit(self, event: HubEvent) -> None:
        self._emit_to(self._listeners, event)

    def _emit_to(self, listeners: tuple[Listener, ...], event: HubEvent) -> None:
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:  # a bug in one listener must not starve the others
                name = callable_name(listener)
                if not report_to_loop(exc, f"hub listener {name} on {type(event).__name__}"):
                    log.exception("hub listener %s failed on %s", name, type(event).__name__)

    # --- receivers ---

    def upsert_receiver(
        self,
        receiver_id: str,
        *,
        address: str,
        port: int = 2202,
        family: Family = Family.UNKNOWN,
        model: str | None = None,
        channels: int = 0,
        source: str = "receiver",
    ) -> ReceiverState:
        rx = self.receivers.get(receiver_id)
        if rx is None:
            rx = ReceiverState(receiver_id, address, port, family, model, source=source)
            self.receivers[receiver_id] = rx
        else:
            rx.address, rx.port = address, port
            if family is not Family.UNKNOWN and family is not rx.family:
                rx.family = family
                self._set_manufacturer(rx)
            if model:
                rx.model = model
        if channels:
            self._set_channel_count(rx, channels)
        self._emit(ConnectionChanged(receiver_id))
        return rx

    def _set_manufacturer(self, rx: ReceiverState) -> None:
        """A receiver's family became known: its devices say whose they are."""
        maker = rx.family.manufacturer
        for ch in range(1, rx.channels + 1):
            dev = self.devices.get(make_device_id(rx.id, ch))
            if dev is not None and dev.manufacturer != maker:
                dev.manufacturer = maker
                self._emit(DeviceChanged(dev.device_id, frozenset({"manufacturer"})))

    def remove_receiver(self, receiver_id: str) -> None:
        rx = self.receivers.pop(receiver_id, None)
        if rx is None:
            return
        for ch in range(1, rx.channels + 1):
            device_id = make_device_id(receiver_id, ch)
            self.devices.pop(device_id, None)
            self._memory.pop(device_id, None)
            self.generation += 1
            self._emit(DeviceRemoved(device_id))
        self._emit(ConnectionChanged(receiver_id))

    def _set_channel_count(self, rx: ReceiverState, channels: int) -> None:
        for ch in range(1, channels + 1):
            device_id = make_device_id(rx.id, ch)
            if device_id not in self._memory:  # absent, or another instance's copy: ours wins
                self.generation += device_id not in self.devices
                self.devices[device_id] = self._new_device(rx, ch)
                self._memory[device_id] = ChannelMemory()
                self._emit(DeviceChanged(device_id, frozenset(DEVICE_FIELDS)))
        for ch in range(channels + 1, rx.channels + 1):
            device_id = make_device_id(rx.id, ch)
            self.devices.pop(device_id, None)
            self._memory.pop(device_id, None)
            self.generation += 1
            self._emit(DeviceRemoved(device_id))
        rx.channels = channels

    def _new_device(self, rx: ReceiverState, channel: int) -> Device:
        device_id = make_device_id(rx.id, channel)
        user = self.user.get(device_id, UserFields())
        return Device(
            device_id=device_id,
            manufacturer=rx.family.manufacturer,
            receiver_id=rx.id,
            channel=channel,
            model=rx.model,
            performer=user.performer,
            group=user.group,
            photo=user.photo,
            battery_status=BatteryStatus.UNKNOWN.value,
            status=(ChannelStatus.UNKNOWN if rx.online else ChannelStatus.RX_OFFLINE).value,
            last_update=iso(self.clock()),
            instance=self.instance,
        )

    def set_source_state(
        self,
        receiver_id: str,
        state: SourceState,
        *,
        latency_ms: float | None = None,
        error: str | None = None,
    ) -> None:
        rx = self.receivers.get(receiver_id)
        if rx is None:
            return
        was_online = rx.online
        changed = state is not rx.state or error != rx.error
        rx.state, rx.error = state, error
        if latency_ms is not None:
            changed = changed or latency_ms != rx.latency_ms
            rx.latency_ms = latency_ms
        if not changed:
            return
        rx.last_update = self.clock()
        self._emit(ConnectionChanged(receiver_id))
        if was_online and not rx.online:
            # Never show stale meters for a receiver we cannot hear.
            blank = dict.fromkeys(
                ("rf_signal", "rf_antennas", "antenna", "audio_level", "peak_level")
            )
            for ch in range(1, rx.channels + 1):
                self._merge(make_device_id(receiver_id, ch), rx, blank, rederive=True)
        elif rx.online != was_online:
            for ch in range(1, rx.channels + 1):
                self._merge(make_device_id(receiver_id, ch), rx, {}, rederive=True)

    def forget_readings(self, receiver_id: str) -> None:
        """A new connection answered: what the previous one said no longer holds.

        Channel memory starts over and the per-connection fields are cleared; names and
        frequencies stay until re-read. The machine calls it before it applies the new
        answers and while the receiver still counts as offline, so nothing derived from
        the old connection can show as OK in between.
        """
        rx = self.receivers.get(receiver_id)
        if rx is None:
            return
        for ch in range(1, rx.channels + 1):
            device_id = make_device_id(receiver_id, ch)
            dev = self.devices.get(device_id)
            if dev is None or device_id not in self._memory:
                continue
            self._memory[device_id] = ChannelMemory()
            changes = {key for key in CONNECTION_FIELDS if getattr(dev, key) is not None}
            for key in changes:
                setattr(dev, key, None)
            self._merge(device_id, rx, {}, rederive=True, told=changes)

    # --- readings ---

    def apply(self, receiver_id: str, readings: Iterable[Reading]) -> None:
        rx = self.receivers.get(receiver_id)
        if rx is None:
            return
        channels = rx.channels
        for reading in readings:
            self.updates_applied += 1
            channel, fields = reading.channel, reading.fields
            if channel == 0:
                self._apply_receiver(rx, fields)
            elif 1 <= channel <= channels:
                device_id = make_device_id(receiver_id, channel)
                if fields.keys() <= SAMPLE_FIELDS:
                    self._meters(device_id, rx, fields.items())
                else:
                    self._merge(device_id, rx, fields)

    def apply_samples(self, receiver_id: str, samples: Iterable[Sample]) -> None:
        """The meter samples of one receiver write (ReadingSink): the outcome of `apply` with
        a Reading of these four fields each, written out for a thousand samples a second:
        one clock reading and at most one timestamp per write, the four fields compared in
        place (the 1 dB deadband of status.DEADBAND_DB), the change sets shared, each change
        appended to the device's meter sink. A clipping peak (the audio_peak hold) takes
        the general way."""
        rx = self.receivers.get(receiver_id)
        if rx is None:
            return
        ids = self._ids(receiver_id, rx)
        devices, memory, tell = self.devices, self._memory, self._tell_meters
        online, presence = rx.online, rx.family in PRESENCE_FAMILIES
        stamp: str | None = None
        now, applied = 0.0, 0
        for channel, antenna, rf, audio, peak in samples:
            applied += 1
            if not 0 < channel < len(ids):
                continue
            device_id = ids[channel]
            dev = devices.get(device_id)
            if dev is None or device_id not in memory:
                continue
            if peak is not None and peak >= CLIP_DBFS:
                values = (antenna, rf, audio, peak)  # _SAMPLE_KEYS but the derived grade
                self._merge(device_id, rx, dict(zip(_SAMPLE_KEYS, values, strict=False)))
                continue
            # Each meter: a visible change (`visibly_changed`: to or from unknown, or past
            # the deadband), written out three times rather than called three times a sample.
            mask = 0
            if antenna != dev.antenna:
                dev.antenna = antenna
                mask = _ANTENNA
            old = dev.rf_signal
            if rf != old and (
                old is None
                or rf is None
                or old.__class__ not in _NUMBERS
                or not -_RF_BAND < rf - old < _RF_BAND
            ):
                dev.rf_signal = rf
                mask |= _RF
                mem, quality = memory[device_id], None
                if online:
                    quality = rf_quality(
                        rf, mem.tx_on, mem.reported_quality, tells_presence=presence
                    )
                if quality != dev.rf_quality:
                    dev.rf_quality = quality
                    mask |= _QUALITY
            old = dev.audio_level
            if audio != old and (
                old is None
                or audio is None
                or old.__class__ not in _NUMBERS
                or not -_AUDIO_BAND < audio - old < _AUDIO_BAND
            ):
                dev.audio_level = audio
                mask |= _AUDIO
            old = dev.peak_level
            if peak != old and (
                old is None
                or peak is None
                or old.__class__ not in _NUMBERS
                or not -_PEAK_BAND < peak - old < _PEAK_BAND
            ):
                dev.peak_level = peak
                mask |= _PEAK
            if mask:
                if stamp is None:
                    now = self.clock()
                    stamp = iso(now)
                dev.last_update = stamp
                tell(device_id, dev, _SAMPLE_CHANGES[mask], now)
        self.updates_applied += applied

    def _ids(self, receiver_id: str, rx: ReceiverState) -> tuple[str, ...]:
        """The receiver's device ids by channel (index 0 unused), made once."""
        ids = self._channel_ids.get(receiver_id)
        if ids is None or len(ids) != rx.channels + 1:
            ids = self._channel_ids[receiver_id] = tuple(
                make_device_id(receiver_id, ch) for ch in range(rx.channels + 1)
            )
        return ids

    def _meters(self, device_id: str, rx: ReceiverState, fields: Iterable[tuple[str, Any]]) -> None:
        """`_merge` for a meter sample (nearly every reading): the same outcome, with only
        what a sample can change looked at. A clipping peak (the status rules' audio_peak
        hold) takes the general way."""
        dev = self.devices.get(device_id)
        if dev is None or device_id not in self._memory:
            return
        changes: set[str] | None = None
        for key, value in fields:
            if key == "peak_level" and isinstance(value, int | float) and value >= CLIP_DBFS:
                self._merge(device_id, rx, dict(fields), told=changes)
                return
            old = getattr(dev, key)
            if old == value:
                continue
            if type(old) in _NUMBERS and type(value) in _NUMBERS and key in DEADBAND_DB:
                if -DEADBAND_DB[key] < value - old < DEADBAND_DB[key]:
                    continue  # inside the deadband: not a visible change
            elif not visibly_changed(key, old, value):
                continue
            setattr(dev, key, value)
            if changes is None:
                changes = {key}
            else:
                changes.add(key)
        if changes is None:
            return
        if "rf_signal" in changes:  # the only derived field a sample can move
            mem = self._memory[device_id]
            quality = (
                rf_quality(
                    dev.rf_signal,
                    mem.tx_on,
                    mem.reported_quality,
                    tells_presence=rx.family in PRESENCE_FAMILIES,
                )
                if rx.online
                else None
            )
            if quality != dev.rf_quality:
                dev.rf_quality = quality
                changes.add("rf_quality")
        now = self.clock()
        dev.last_update = iso(now)
        self._tell(dev, frozenset(changes), now)

    def _tell(self, dev: Device, changes: frozenset[str], now: float) -> None:
        """A device changed: meters alone as `_tell_meters` says, anything else to every
        listener."""
        if changes <= METER_CHANGE_KEYS:
            self._tell_meters(dev.device_id, dev, changes, now)
        else:
            self._emit(DeviceChanged(dev.device_id, changes))

    def _tell_meters(
        self, device_id: str, dev: Device, changes: frozenset[str], now: float
    ) -> None:
        """A change of meters alone, to each listener as its MeterDelivery says (no event
        made while nobody is to be told: a box nobody watches, its channels quiet)."""
        event = None
        if self._meter_events:
            event = DeviceChanged(device_id, changes)
            self._emit_to(self._meter_events, event)
        rf, peak = dev.rf_signal, dev.peak_level
        sink = self.meter_sinks.get(device_id)
        if sink is not None:
            sink.append((now, changes, rf, dev.audio_level, peak))
        elif self._sink_keepers:
            event = event or DeviceChanged(device_id, changes)
            self._emit_to(self._sink_keepers, event)
        if self._meter_watchers:
            band = self.meter_quiet.get(device_id)
            if (
                band is None
                or (rf.__class__ in _NUMBERS and rf <= band[0])
                or (peak.__class__ in _NUMBERS and peak >= band[1])
                or dev.rf_quality not in band[2]
            ):
                self._emit_to(self._meter_watchers, event or DeviceChanged(device_id, changes))

    def _apply_receiver(self, rx: ReceiverState, fields: Mapping[str, Any]) -> None:
        changed = False
        for key, value in fields.items():
            if key not in RECEIVER_READING_FIELDS:
                continue
            if key == "channels":
                if isinstance(value, int) and value > 0 and value != rx.channels:
                    self._set_channel_count(rx, value)
                    changed = True
                continue
            if getattr(rx, key, None) != value and hasattr(rx, key):
                setattr(rx, key, value)
                changed = True
                if key == "model":
                    for ch in range(1, rx.channels + 1):
                        self._merge(make_device_id(rx.id, ch), rx, {"model": value})
        if changed:
            rx.last_update = self.clock()
            self._emit(ConnectionChanged(rx.id))

    def _merge(
        self,
        device_id: str,
        rx: ReceiverState,
        fields: Mapping[str, Any],
        *,
        rederive: bool = False,
        told: set[str] | None = None,
    ) -> None:
        dev = self.devices.get(device_id)
        mem = self._memory.get(device_id)
        if dev is None or mem is None:
            return
        now = self.clock()
        changes: set[str] = set(told) if told else set()
        remembered = rederive  # the receiver's state changed: derived fields may follow
        regraded = False  # the receiver's own quality grade moved (a meter, like dBm)
        for key, value in fields.items():
            if key == "tx_on":
                if value is not mem.tx_on:
                    if value is False:
                        mem.tx_off_since = now
                    mem.tx_on = value
                    remembered = True
                continue
            if key == "rf_quality":
                if value != mem.reported_quality:
                    mem.reported_quality = value
                    regraded = True
                continue
            if key not in READING_FIELDS and key != "model":
                continue
            if key == "peak_level" and isinstance(value, int | float) and value >= CLIP_DBFS:
                mem.peak_until = now + AUDIO_PEAK_HOLD_S
                remembered = True
            old = getattr(dev, key)
            # Most values repeat: the equality test first spares the deadband rule its call.
            if old != value and visibly_changed(key, old, value):
                setattr(dev, key, value)
                changes.add(key)
        # Derived fields follow from the public fields, the memory and time; time alone is
        # tick()'s job, so a reading that changed neither (most meter samples fall inside
        # their deadband) has nothing to derive.
        if changes or remembered or regraded:
            # Meters alone (nearly every reading) cannot move battery or status.
            meters_only = not remembered and changes <= METER_SET
            self._derive(dev, mem, rx, now, changes, meters_only=meters_only)

    def _derive(
        self,
        dev: Device,
        mem: ChannelMemory,
        rx: ReceiverState,
        now: float,
        changes: set[str],
        *,
        meters_only: bool = False,
    ) -> None:
        presence_known = rx.family in PRESENCE_FAMILIES
        quality = (
            rf_quality(
                dev.rf_signal, mem.tx_on, mem.reported_quality, tells_presence=presence_known
            )
            if rx.online
            else None
        )
        derived: list[tuple[str, Any]] = [("rf_quality", quality)]
        if not meters_only:
            graded = battery_status(dev.battery_bars, dev.battery_minutes, dev.battery_level)
            batt: str | None = graded.value
            if mem.tx_on is False:
                batt = dev.battery_status  # keep what it was while the transmitter is off
            elif graded is not BatteryStatus.UNKNOWN:
                mem.last_battery = graded
            status = status_for(dev, mem, rx.online, now, batt, presence_known).value
            derived += [("battery_status", batt), ("status", status)]
        for key, value in derived:
            if getattr(dev, key) != value:
                setattr(dev, key, value)
                changes.add(key)
        if changes:
            dev.last_update = iso(now)
            self._tell(dev, frozenset(changes), now)

    def tick(self) -> None:
        """Re-derive time-based states (audio_peak expiry, prev_* -> unknown). Call every second."""
        now = self.clock()
        for device_id, mem in self._memory.items():  # local devices only
            dev = self.devices[device_id]
            rx = self.receivers.get(dev.receiver_id or "")
            if rx is None:
                continue
            if dev.status in (ChannelStatus.AUDIO_PEAK.value,) or mem.tx_on is False:
                self._derive(dev, mem, rx, now, set())

    # --- devices of other instances (cluster/, through Redis) ---

    def put_remote(self, dev: Device) -> bool:
        """Insert or replace, wholesale, a device another instance monitors.

        Its owner already applied deadbands and status rules. A local device with the same
        id wins: returns False and changes nothing.
        """
        device_id = dev.device_id
        if self.knows_locally(device_id):
            return False
        new = msgspec.structs.replace(dev, photo=None)  # photos stay on their box (photos.py)
        old = self.devices.get(device_id)
        changes = frozenset(
            k
            for k in DEVICE_FIELDS
            if k != "last_update" and (old is None or getattr(old, k) != getattr(new, k))
        )
        if changes:
            self.generation += old is None
            self.devices[device_id] = new
            self._tell(new, changes, self.clock())
        return True

    def drop_remote(self, device_id: str) -> None:
        """Forget a device another instance no longer has (local devices are left alone)."""
        if not self.knows_locally(device_id) and self.devices.pop(device_id, None) is not None:
            self.generation += 1
            self._emit(DeviceRemoved(device_id))

    def knows_locally(self, device_id: str) -> bool:
        """A channel of a receiver this instance monitors, or one of its placeholders."""
        return device_id in self._memory or device_id in self.placeholders

    # --- placeholders: tiles with a name and no receiver ---

    def put_placeholder(
        self, device_id: str, *, performer: str | None, name: str | None, model: str | None
    ) -> None:
        """Create or update a placeholder's device: status `unmonitored`, no readings, ever."""
        user = self.user.setdefault(device_id, UserFields())
        user.performer = performer
        fields = {"performer": performer, "name": name, "model": model}
        dev = self.devices.get(device_id)
        if dev is None or device_id not in self.placeholders:
            self.placeholders.add(device_id)
            dev = Device(
                device_id=device_id,
                manufacturer=None,
                performer=performer,
                name=name,
                model=model,
                group=user.group,
                photo=user.photo,
                battery_status=BatteryStatus.UNKNOWN.value,
                status=ChannelStatus.UNMONITORED.value,
                last_update=iso(self.clock()),
                instance=self.instance,
            )
            self.generation += device_id not in self.devices
            self.devices[device_id] = dev
            self._emit(DeviceChanged(device_id, frozenset(DEVICE_FIELDS)))
            return
        changes = {k for k, v in fields.items() if getattr(dev, k) != v}
        if changes:
            for key, value in fields.items():
                setattr(dev, key, value)
            dev.last_update = iso(self.clock())
            self._emit(DeviceChanged(device_id, frozenset(changes)))

    def drop_placeholder(self, device_id: str) -> None:
        if device_id not in self.placeholders:
            return
        self.placeholders.discard(device_id)
        self.user.pop(device_id, None)
        if self.devices.pop(device_id, None) is not None:
            self.generation += 1
            self._emit(DeviceRemoved(device_id))

    # --- user fields (performer names, groups) ---

    def set_user(
        self, device_id: str, *, performer: str | None = None, group: str | None = None
    ) -> None:
        user = self.user.setdefault(device_id, UserFields())
        user.performer, user.group = performer, group
        dev = self.devices.get(device_id)
        if dev is None:
            return
        changes = {
            k for k, v in (("performer", performer), ("group", group)) if getattr(dev, k) != v
        }
        if changes:
            dev.performer, dev.group = performer, group
            dev.last_update = iso(self.clock())
            self._emit(DeviceChanged(device_id, frozenset(changes)))

    def set_photo(self, device_id: str, version: str | None) -> None:
        """The slot's performer photo changed (photos.py): its new version, or None."""
        self.user.setdefault(device_id, UserFields()).photo = version
        dev = self.devices.get(device_id)
        if dev is not None and dev.photo != version:
            dev.photo = version
            dev.last_update = iso(self.clock())
            self._emit(DeviceChanged(device_id, frozenset({"photo"})))

    def set_alert_count(self, device_id: str, count: int) -> None:
        """Open alerts of a channel (told by alerts.py): the badge on its tile."""
        dev = self.devices.get(device_id)
        if dev is None or dev.alert_count == count:
            return
        dev.alert_count = count
        self._emit(DeviceChanged(device_id, frozenset({"alert_count"})))

    # --- commands (REST -> hub -> the owning source) ---

    def _commander(self, device_id: str) -> tuple[Commander, int]:
        try:
            receiver_id, channel = split_device_id(device_id)
        except ValueError:
            raise NotFound(f"no device {device_id!r}") from None
        rx = self.receivers.get(receiver_id)
        if rx is None or not 1 <= channel <= rx.channels:
            raise NotFound(f"no device {device_id!r}")
        commander = self.commanders.get(receiver_id)
        if commander is None:
            raise ConnectionFailed(f"receiver {receiver_id} is not connected")
        return commander, channel

    async def rename(self, device_id: str, name: str) -> None:
        commander, channel = self._commander(device_id)
        await commander.rename(channel, name)

    async def identify(self, device_id: str) -> None:
        commander, channel = self._commander(device_id)
        await commander.identify(channel)

    # --- views ---

    def device_list(self) -> list[Device]:
        return list(self.devices.values())

    def receiver_list(self) -> list[dict[str, Any]]:
        return [rx.as_dict() for rx in self.receivers.values()]

    def connections(self) -> list[dict[str, Any]]:
        return [rx.connection() for rx in self.receivers.values()]

    def online_count(self) -> int:
        return sum(1 for rx in self.receivers.values() if rx.online)
