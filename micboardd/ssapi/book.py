"""The devices the System API reported, and keeping the hub in step with them.

The book decides, for each device, whether it is merged into a directly monitored receiver
or is a receiver of its own, and re-decides whenever the inventory or the hub's receivers
change (a receiver discovered later takes over the device; one removed gives it back).
All methods are synchronous and run on the event loop, like the hub itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from micboardd.model import SourceState
from micboardd.sources.ports import Commander, ReceiverRegistry
from micboardd.ssapi import mapping
from micboardd.ssapi.errors import BadResponse
from micboardd.ssapi.models import DeviceDetails, DeviceInfo, DeviceState, Event
from micboardd.ssapi.parse import (
    parse_activity,
    parse_battery_health,
    parse_battery_level,
    parse_device,
    parse_name,
)

log = logging.getLogger(__name__)

CommanderFactory = Callable[[str], Commander]


class DeviceBook:
    def __init__(
        self, hub: ReceiverRegistry, default_address: str, commander: CommanderFactory | None = None
    ) -> None:
        self.hub = hub
        self.default_address = default_address
        self.commander = commander
        self.details: dict[str, DeviceDetails] = {}
        self.targets: dict[str, tuple[str, bool]] = {}  # device id -> (receiver id, merged)
        self.api_error: str | None = None  # set while the API is down: own receivers show it

    # --- views ---

    def own_receiver_ids(self) -> set[str]:
        return {rid for rid, merged in self.targets.values() if not merged}

    def is_own(self, receiver_id: str) -> bool:
        return receiver_id in self.own_receiver_ids()

    def snapshot(self) -> list[dict[str, Any]]:
        out = []
        for device_id, details in sorted(self.details.items()):
            rid, merged = self.targets.get(device_id, (None, False))
            out.append(mapping.describe(details, rid, merged))
        return out

    # --- inventory ---

    def set_inventory(self, infos: Iterable[DeviceInfo]) -> list[DeviceInfo]:
        """The full device list; returns the devices we had no details for (to fetch)."""
        fresh: list[DeviceInfo] = []
        seen: set[str] = set()
        for info in infos:
            seen.add(info.device_id)
            known = self.details.get(info.device_id)
            if known is None:
                fresh.append(info)
            elif known.info != info:
                self.update(replace(known, info=info))
        for device_id in list(self.details):
            if device_id not in seen:
                self.forget(device_id)
        return fresh

    def update(self, details: DeviceDetails) -> None:
        self.details[details.device_id] = details
        self.sync(details.device_id)

    def forget(self, device_id: str) -> None:
        self.details.pop(device_id, None)
        target = self.targets.pop(device_id, None)
        if target is not None:
            self._release(*target)

    # --- events from the subscription ---

    def apply_event(self, event: Event) -> bool:
        """Apply one event; True when it names a device we do not know (refresh inventory)."""
        details = self.details.get(event.device_id or "")
        if details is None:
            return event.device_id is not None and event.name == "DEVICE_STATE_CHANGE"
        try:
            updated = _apply(details, event)
        except BadResponse as exc:
            log.debug("System API event %s ignored: %s", event.name, exc)
            return False
        if updated is not details:
            self.update(updated)
        return False

    # --- keeping the hub in step ---

    def set_api_error(self, error: str | None) -> None:
        """The API went down (error) or came back (None): own receivers show it."""
        if error == self.api_error:
            return
        self.api_error = error
        self.sync_all()

    def sync_all(self) -> None:
        for device_id in list(self.details):
            self.sync(device_id)

    def sync(self, device_id: str) -> None:
        details = self.details[device_id]
        direct = mapping.find_direct_receiver(self.hub.receivers, details.info)
        wanted = (direct, True) if direct else (mapping.own_receiver_id(details.info), False)
        current = self.targets.get(device_id)
        if current is not None and current != wanted:
            log.info(
                "System API device %s %s now %s",
                details.info.model,
                details.info.serial or device_id,
                f"merged into receiver {direct}" if direct else "a receiver of its own",
                extra={"DEVICE_ID": device_id},
            )
            self.targets[device_id] = wanted
            self._release(*current)
        self.targets[device_id] = wanted
        if direct:
            self._sync_merged(details, direct)
        else:
            self._sync_own(details, wanted[0])

    def _sync_merged(self, details: DeviceDetails, receiver_id: str) -> None:
        rx = self.hub.receivers[receiver_id]
        if self.api_error is not None or details.info.state is not DeviceState.ONLINE:
            readings = mapping.cleared_merged_readings(rx.channels)
        else:
            readings = mapping.merged_readings(details, rx.channels)
        self.hub.apply(receiver_id, readings)

    def _sync_own(self, details: DeviceDetails, receiver_id: str) -> None:
        info = details.info
        address = info.address or self.default_address
        rx = self.hub.receivers.get(receiver_id)
        channels = mapping.channel_count(details)
        if rx is None or rx.address != address or rx.channels != channels:
            self.hub.upsert_receiver(
                receiver_id,
                address=address,
                model=info.model,
                channels=channels,
                source=mapping.SOURCE_NAME,
            )
            if self.commander is not None:
                self.hub.commanders[receiver_id] = self.commander(info.device_id)
        self.hub.apply(receiver_id, mapping.own_readings(details))
        if self.api_error is not None:
            self.hub.set_source_state(receiver_id, SourceState.ERROR, error=self.api_error)
        else:
            state, error = mapping.source_state(info)
            self.hub.set_source_state(receiver_id, state, error=error)

    def _release(self, receiver_id: str, merged: bool) -> None:
        if merged:
            rx = self.hub.receivers.get(receiver_id)
            if rx is not None:
                self.hub.apply(receiver_id, mapping.cleared_merged_readings(rx.channels))
        elif receiver_id not in self.own_receiver_ids():
            self.hub.commanders.pop(receiver_id, None)
            self.hub.remove_receiver(receiver_id)

    def remove_all(self) -> None:
        """The source stops: take back every receiver and addition it made."""
        for device_id in list(self.details):
            self.forget(device_id)


def _apply(details: DeviceDetails, event: Event) -> DeviceDetails:
    """The details after one event (the same object when the event changes nothing)."""
    body = event.body
    name = event.name
    if name == "DEVICE_STATE_CHANGE":
        # The body's shape is unverified [U]: a bare state, or a whole device node.
        node = parse_device({"deviceId": details.device_id, **body})
        if node is not None and node.state is not DeviceState.UNKNOWN:
            return replace(details, info=replace(details.info, state=node.state))
        return details
    if name == "DEVICE_NAME":
        return replace(details, name=parse_name(body))
    if name == "DEVICE_BATTERY_LEVEL":
        return replace(details, battery=parse_battery_level(body))
    if name == "DEVICE_BATTERY_HEALTH":
        return replace(details, health=parse_battery_health(body))
    if name in ("AUDIO_CHANNEL_NAME", "AUDIO_CHANNEL_ACTIVITY"):
        number = mapping.channel_number(details, event.channel_id)
        if number is None:
            return details
        channels = list(details.channels)
        channel = channels[number - 1]
        if name == "AUDIO_CHANNEL_NAME":
            channels[number - 1] = replace(channel, name=parse_name(body))
        else:
            channels[number - 1] = replace(channel, activity=parse_activity(body))
        return replace(details, channels=tuple(channels))
    return details
