"""Which of our own devices changed since the last publish.

Like a fan-out feed it never queues states: it remembers *which* devices changed (and whether
only their meters did) and reads their current state from the hub when the publish tick
comes. So memory is bounded by the number of local devices, and a burst of meter samples
becomes one entry per device. While Redis is unreachable it tracks nothing at all: the next
connection starts with a full snapshot anyway.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Generic

from micboardd.cluster.wire import METER_ENTRY, meter_entry
from micboardd.model import Device
from micboardd.sources.ports import Board, DeviceChanged, DeviceRemoved, HubEvent

# A change touching only these can go out as a short meters entry instead of a whole device.
METER_ONLY = frozenset(METER_ENTRY)


@dataclass(slots=True)
class Batch:
    """One publish tick's worth of local changes."""

    devices: list[Device] = field(default_factory=list)
    meters: dict[str, list[Any]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.devices or self.meters or self.removed)


class Outbox(Generic[Board]):
    def __init__(self, hub: Board, instance: str) -> None:
        self.hub = hub
        self.instance = instance
        self.changed = asyncio.Event()
        self.active = False
        self._whole: set[str] = set()
        self._meters: set[str] = set()
        self._removed: set[str] = set()
        self._local: set[str] = set()
        # Devices whose meters went out in messages but not yet into the snapshot hash.
        self._snapshot_stale: set[str] = set()

    def is_local(self, dev: Device) -> bool:
        return dev.instance == self.instance

    def on_event(self, event: HubEvent) -> None:
        """Hub listener (synchronous, on the loop)."""
        if not self.active:
            return
        if isinstance(event, DeviceChanged):
            dev = self.hub.devices.get(event.device_id)
            if dev is None or not self.is_local(dev):
                return
            self._local.add(event.device_id)
            self._removed.discard(event.device_id)
            if event.changes - METER_ONLY:
                self._whole.add(event.device_id)
                self._meters.discard(event.device_id)
            elif event.device_id not in self._whole:
                self._meters.add(event.device_id)
            self.changed.set()
        elif isinstance(event, DeviceRemoved) and event.device_id in self._local:
            self._local.discard(event.device_id)
            self._whole.discard(event.device_id)
            self._meters.discard(event.device_id)
            self._snapshot_stale.discard(event.device_id)
            self._removed.add(event.device_id)
            self.changed.set()

    def start(self) -> list[Device]:
        """Begin tracking (a connection is up); every local device, for a full message."""
        self.pause()
        self.active = True
        devices = [dev for dev in self.hub.devices.values() if self.is_local(dev)]
        self._local = {dev.device_id for dev in devices}
        return devices

    def pause(self) -> None:
        """Stop tracking and forget what was pending (no connection to send it on)."""
        self.active = False
        self.changed.clear()
        for pending in (self._whole, self._meters, self._removed, self._local):
            pending.clear()
        self._snapshot_stale.clear()

    def take(self) -> Batch:
        """What changed since the last call, read from the hub now (latest wins)."""
        self.changed.clear()
        batch = Batch()
        for device_id in self._whole:
            dev = self.hub.devices.get(device_id)
            if dev is not None:
                batch.devices.append(dev)
                self._snapshot_stale.discard(device_id)
        for device_id in self._meters:
            dev = self.hub.devices.get(device_id)
            if dev is not None:
                batch.meters[device_id] = meter_entry(dev)
                self._snapshot_stale.add(device_id)
        batch.removed = sorted(self._removed)
        self._whole.clear()
        self._meters.clear()
        self._removed.clear()
        return batch

    def take_snapshot_stale(self) -> list[Device]:
        """Devices whose snapshot entry lags behind their published meters."""
        devices = [self.hub.devices[i] for i in self._snapshot_stale if i in self.hub.devices]
        self._snapshot_stale.clear()
        return devices
