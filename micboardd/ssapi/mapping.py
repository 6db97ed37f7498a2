"""How System API devices become hub receivers and readings: pure functions, no I/O.

One receiver per physical device. A device the System API reports that is also monitored
directly (same ACN cid as the receiver id, same serial, or - for receivers typed in by
address - the only direct receiver at its address with a compatible model) is *merged*: the
direct session keeps RF, meters and names, and the System API only adds what it alone has
(charging state, battery health, time to full). Every other device (ADTQ/ADTD, docked
transmitters, chargers) becomes a receiver of its own with `source="system_api"`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from micboardd.model import BatteryStatus, Reading, SourceState, battery_status
from micboardd.sources.ports import ReceiverView
from micboardd.ssapi.models import AudioActivity, DeviceDetails, DeviceInfo, DeviceState

SOURCE_NAME = "system_api"
# Fields only the System API knows (device fields in model.py).
EXTRA_FIELDS: tuple[str, ...] = (
    "battery_health",
    "battery_cycles",
    "battery_time_to_full_minutes",
)
MERGED_FIELDS: tuple[str, ...] = ("charging", *EXTRA_FIELDS)
# Full scale: what "CLIPPING" means for the dashboard's peak (turns the tile audio_peak).
CLIPPING_PEAK_DBFS = 0.0


def own_receiver_id(info: DeviceInfo) -> str:
    """The device id, lower-cased like discovered ACN cids (ARCHITECTURE.md device ids)."""
    return info.device_id.strip().lower()


def _same(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a.strip().lower() == b.strip().lower()


def models_compatible(a: str | None, b: str | None) -> bool:
    """`AD4Q` vs `AD4Q`, `ULXD4` vs `ULXD4D`: one names the other's family; unknown is fine."""
    if not a or not b:
        return True
    x, y = a.strip().upper(), b.strip().upper()
    return x.startswith(y) or y.startswith(x)


def find_direct_receiver(receivers: Mapping[str, ReceiverView], info: DeviceInfo) -> str | None:
    """The directly monitored receiver that is this device, if any (see module doc)."""
    direct = [rx for rx in receivers.values() if rx.source != SOURCE_NAME]
    for rx in direct:
        if _same(rx.id, info.device_id):
            return rx.id
    for rx in direct:
        if _same(rx.serial, info.serial):
            return rx.id
    if info.address:
        at = [rx for rx in direct if _same(rx.address, info.address)]
        if len(at) == 1 and models_compatible(at[0].model, info.model):
            return at[0].id
    return None


def channel_count(details: DeviceDetails) -> int:
    """A device without audio channels (a docked transmitter, a charger) still gets one."""
    return max(1, len(details.channels))


def source_state(info: DeviceInfo) -> tuple[SourceState, str | None]:
    if info.state is DeviceState.ONLINE:
        return SourceState.ONLINE, None
    if info.state is DeviceState.OFFLINE:
        return SourceState.DISCONNECTED, "offline (reported by the System API)"
    if info.state is DeviceState.DISCOVERED:
        return SourceState.CONNECTING, "discovered, not yet managed by the System API"
    return SourceState.CONNECTING, None


def _battery_fields(details: DeviceDetails, *, runtime: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    battery, health = details.battery, details.health
    if battery is not None:
        fields["charging"] = battery.charging
        fields["battery_time_to_full_minutes"] = battery.minutes_to_full
        if runtime:
            fields["battery_level"] = battery.percentage
            fields["battery_minutes"] = battery.runtime_minutes
    if health is not None:
        fields["battery_health"] = health.percentage
        fields["battery_cycles"] = health.cycles
    return fields


def own_readings(details: DeviceDetails) -> list[Reading]:
    """Everything about a device that is a receiver of its own (channel 0 = the device)."""
    info = details.info
    device: dict[str, Any] = {"channels": channel_count(details)}
    for key, value in (
        ("model", info.model),
        ("name", details.name),
        ("firmware", info.firmware),
        ("serial", info.serial),
    ):
        if value is not None:
            device[key] = value
    readings = [Reading(0, device)]
    if not details.channels:
        fields = _battery_fields(details, runtime=True)
        if details.name is not None:
            fields["name"] = details.name
        return [*readings, Reading(1, fields)]
    single = len(details.channels) == 1
    for number, channel in enumerate(details.channels, start=1):
        fields = _battery_fields(details, runtime=True) if single else {}
        if channel.name is not None:
            fields["name"] = channel.name
        if channel.activity is not AudioActivity.UNKNOWN:
            clipping = channel.activity is AudioActivity.CLIPPING
            fields["peak_level"] = CLIPPING_PEAK_DBFS if clipping else None
        readings.append(Reading(number, fields))
    return readings


def merged_readings(details: DeviceDetails, receiver_channels: int) -> list[Reading]:
    """What the System API adds to a directly monitored receiver.

    Battery data is per device in the System API, so it can only be put on a channel when
    the receiver has exactly one (a docked transmitter, a single-channel receiver).
    """
    if receiver_channels != 1:
        return []
    fields = _battery_fields(details, runtime=False)
    return [Reading(1, fields)] if fields else []


def cleared_merged_readings(receiver_channels: int) -> list[Reading]:
    """Forget what the System API added (it went away): never show stale values."""
    if receiver_channels != 1:
        return []
    return [Reading(1, dict.fromkeys(MERGED_FIELDS))]


def is_alert(details: DeviceDetails) -> bool:
    """Worth watching closely (polled every 10 s): a low battery or a clipping channel."""
    battery = details.battery
    if battery is not None and not battery.charging:
        verdict = battery_status(None, battery.runtime_minutes, battery.percentage)
        if verdict in (BatteryStatus.REPLACE, BatteryStatus.CRITICAL):
            return True
    return any(c.activity is AudioActivity.CLIPPING for c in details.channels)


def channel_number(details: DeviceDetails, channel_id: str | None) -> int | None:
    for number, channel in enumerate(details.channels, start=1):
        if channel.channel_id == channel_id:
            return number
    return None


def describe(details: DeviceDetails, receiver_id: str | None, merged: bool) -> dict[str, Any]:
    """A JSON-able view of one device for `micboardd poll` and diagnostics."""
    info, battery, health = details.info, details.battery, details.health
    return {
        "device_id": info.device_id,
        "receiver_id": receiver_id,
        "merged_with_direct_receiver": merged,
        "model": info.model,
        "serial": info.serial,
        "firmware": info.firmware,
        "address": info.address,
        "state": info.state.value,
        "name": details.name,
        "battery": None
        if battery is None
        else {
            "percentage": battery.percentage,
            "state": battery.current.value,
            "target": battery.target.value,
            "minutes_to_target": battery.minutes_to_target,
            "charging": battery.charging,
        },
        "battery_health": None
        if health is None
        else {"percentage": health.percentage, "cycles": health.cycles},
        "channels": [
            {"index": c.index, "name": c.name, "activity": c.activity.value}
            for c in details.channels
        ],
    }


def ids(infos: Iterable[DeviceInfo]) -> set[str]:
    return {i.device_id for i in infos}
