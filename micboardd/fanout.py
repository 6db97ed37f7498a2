"""Fan-out: turns hub events into WebSocket frames for each client, coalesced per client.

Each client has a feed. A feed never queues frames: it remembers *which* devices changed and
which fields, and builds frames from the hub's current state when its socket is ready. So a
client holds at most one pending entry per device (latest wins), memory is bounded by the
number of devices it watches, and a slow phone only ever gets fresher data later, never a
backlog.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal

from .hub import ConnectionChanged, DeviceChanged, DeviceRemoved, Hub, HubEvent, iso
from .model import METER_FIELDS

Format = Literal["full", "compact"]
DEFAULT_MAX_HZ = 10.0
MAX_MAX_HZ = 50.0  # faster than a 20 ms frame is invisible and only costs Wi-Fi airtime
# Meters arrive once per meter interval with some jitter; a strict per-device limit would hold
# almost every update back by up to one interval. Allowing a send after 80 % of the interval
# keeps the average rate at max_hz while adding no delay to on-time updates.
RATE_SLACK = 0.8
# Alerts are kept for a client that is not reading; past this many the oldest go (the alert
# log in the store keeps them all).
MAX_PENDING_ALERTS = 200
# Internal fields that never go on the wire in compact device_update frames.
_COMPACT_SKIP = frozenset(METER_FIELDS) | {"last_update"}


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Subscription:
    format: Format = "full"
    devices: frozenset[str] | None = None  # None: every device
    group: str | None = None
    max_hz: float = DEFAULT_MAX_HZ
    batch: bool = False  # full format: allow batch_update frames (compact always batches)

    def wants(self, dev: dict[str, Any] | None, device_id: str) -> bool:
        # A group subscription is resolved to its device ids by the web layer.
        return self.devices is None or device_id in self.devices


class _Feed:
    """Common part: a wake-up event and a per-stream sequence number."""

    def __init__(self) -> None:
        self.seq = 0
        self.wake = asyncio.Event()
        self.closed = False

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def initial_frame(self) -> dict[str, Any]:
        raise NotImplementedError

    def take_due(self, now: float) -> tuple[list[dict[str, Any]], float | None]:
        raise NotImplementedError

    async def wait(self, timeout: float | None) -> None:
        if self.wake.is_set():
            return
        try:
            await asyncio.wait_for(self.wake.wait(), timeout)
        except TimeoutError:
            pass


class DeviceFeed(_Feed):
    """One `/ws/devices/` client."""

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub
        self.sub = Subscription()
        self.pending: dict[str, set[str]] = {}
        self.last_sent: dict[str, float] = {}
        self.resync = False

    def subscribe(self, sub: Subscription) -> None:
        self.sub = sub
        self.pending.clear()
        self.last_sent.clear()

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, DeviceChanged):
            self.merge({event.device_id: event.changes})
        elif isinstance(event, DeviceRemoved):
            self.resync = True
            self.wake.set()

    def merge(self, changed: Mapping[str, AbstractSet[str]]) -> None:
        """Fold a batch of device changes into this client's pending set (latest wins)."""
        wanted = self.sub.devices
        pending = self.pending
        added = False
        for device_id, changes in changed.items():
            if wanted is not None and device_id not in wanted:
                continue
            entry = pending.get(device_id)
            if entry is None:
                pending[device_id] = set(changes)
            else:
                entry |= changes
            added = True
        if added:
            self.wake.set()

    def initial_frame(self) -> dict[str, Any]:
        self.pending.clear()
        self.resync = False
        devices = [d for d in self.hub.device_list() if self.sub.wants(d, d["device_id"])]
        return {
            "type": "initial_data",
            "devices": devices,
            "receivers": self.hub.receiver_list(),
            "seq": self.next_seq(),
        }

    def take_due(self, now: float) -> tuple[list[dict[str, Any]], float | None]:
        """Frames due now, and how long until the next deferred device is due (or None)."""
        self.wake.clear()
        if self.resync:
            return [self.initial_frame()], None
        interval = RATE_SLACK / self.sub.max_hz
        due: list[tuple[str, set[str]]] = []
        wait: float | None = None
        for device_id in list(self.pending):
            last = self.last_sent.get(device_id, 0.0)
            if now - last >= interval:
                due.append((device_id, self.pending.pop(device_id)))
                self.last_sent[device_id] = now
            else:
                left = interval - (now - last)
                wait = left if wait is None else min(wait, left)
        if not due:
            return [], wait
        if self.sub.format == "compact":
            return self._compact(due), wait
        return self._full(due), wait

    def _full(self, due: list[tuple[str, set[str]]]) -> list[dict[str, Any]]:
        updates: list[dict[str, Any]] = []
        for device_id, changes in due:
            dev = self.hub.devices.get(device_id)
            if dev is None or not self.sub.wants(dev, device_id):
                continue
            updates.append({**dev, "changes": sorted(changes), "timestamp": dev.get("last_update")})
        if not updates:
            return []
        if self.sub.batch and len(updates) > 1:
            return [{"type": "batch_update", "updates": updates, "seq": self.next_seq()}]
        # Simple integrations (the seed examples) only know device_update: one frame each.
        return [{"type": "device_update", **u, "seq": self.next_seq()} for u in updates]

    def _compact(self, due: list[tuple[str, set[str]]]) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        meters: dict[str, list[Any]] = {}
        updates: list[dict[str, Any]] = []
        for device_id, changes in due:
            dev = self.hub.devices.get(device_id)
            if dev is None or not self.sub.wants(dev, device_id):
                continue
            if changes & set(METER_FIELDS):
                meters[device_id] = [dev["rf_signal"], dev["audio_level"], dev["peak_level"]]
            fields = {k: dev[k] for k in changes - _COMPACT_SKIP if k in dev}
            if fields:
                updates.append({"device_id": device_id, **fields, "timestamp": dev["last_update"]})
        if len(updates) == 1:
            frames.append({"type": "device_update", **updates[0], "seq": self.next_seq()})
        elif updates:
            frames.append({"type": "batch_update", "updates": updates, "seq": self.next_seq()})
        if meters:
            frames.append({"type": "meters", "seq": self.next_seq(), "t": _now_ms(), "d": meters})
        return frames


class KeyedFeed(_Feed):
    """A latest-wins feed keyed by source id (connections) or alert id (health)."""

    def __init__(self, initial: Callable[[], dict[str, Any]], limit: int = 10_000) -> None:
        super().__init__()
        self._initial = initial
        self.pending: dict[str, dict[str, Any]] = {}
        self.limit = limit

    def push(self, key: str, frame: dict[str, Any]) -> None:
        self.pending.pop(key, None)
        self.pending[key] = frame
        while len(self.pending) > self.limit:
            self.pending.pop(next(iter(self.pending)))
        self.wake.set()

    def initial_frame(self) -> dict[str, Any]:
        self.pending.clear()
        return {"type": "initial_data", **self._initial(), "seq": self.next_seq()}

    def take_due(self, now: float) -> tuple[list[dict[str, Any]], float | None]:
        self.wake.clear()
        frames = [{**f, "seq": self.next_seq()} for f in self.pending.values()]
        self.pending.clear()
        return frames, None


@dataclass(slots=True)
class FanOut:
    """Every connected client's feed, per endpoint, fed from the hub."""

    hub: Hub
    devices: set[DeviceFeed] = field(default_factory=set)
    connections: set[KeyedFeed] = field(default_factory=set)
    health: set[KeyedFeed] = field(default_factory=set)
    latest_api_health: dict[str, dict[str, Any]] = field(default_factory=dict)
    system_health: Callable[[], dict[str, Any]] = dict
    active_alerts: Callable[[], list[dict[str, Any]]] = list  # open alerts (alerts.py)
    _unsubscribe: Callable[[], None] | None = None
    # Device changes of the current event-loop iteration, handed to every client at once:
    # one receiver segment carries several channels, and per-client work per event would
    # grow with clients x events.
    _dirty: dict[str, set[str]] = field(default_factory=dict)
    _flush_scheduled: bool = False

    def start(self) -> None:
        self._unsubscribe = self.hub.subscribe(self._on_event)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @property
    def client_count(self) -> int:
        return len(self.devices) + len(self.connections) + len(self.health)

    def _on_event(self, event: HubEvent) -> None:
        if isinstance(event, ConnectionChanged):
            rx = self.hub.receivers.get(event.receiver_id)
            if rx is None:
                return
            frame = {"type": "connection_update", **rx.connection()}
            for feed in self.connections:
                feed.push(event.receiver_id, frame)
            return
        if isinstance(event, DeviceChanged):
            entry = self._dirty.get(event.device_id)
            if entry is None:
                self._dirty[event.device_id] = set(event.changes)
            else:
                entry |= event.changes
            if not self._flush_scheduled:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # no loop (a synchronous caller): deliver now
                    self.flush()
                    return
                self._flush_scheduled = True
                loop.call_soon(self.flush)
            return
        self.flush()  # a removal: deliver what came before it first
        for dfeed in self.devices:
            dfeed.on_event(event)

    def flush(self) -> None:
        """Hand the batched device changes to every client."""
        self._flush_scheduled = False
        if not self._dirty:
            return
        batch, self._dirty = self._dirty, {}
        for dfeed in self.devices:
            dfeed.merge(batch)

    # --- constructors for the web layer ---

    def new_device_feed(self) -> DeviceFeed:
        feed = DeviceFeed(self.hub)
        self.devices.add(feed)
        return feed

    def new_connection_feed(self) -> KeyedFeed:
        feed = KeyedFeed(lambda: {"connections": self.hub.connections()})
        self.connections.add(feed)
        return feed

    def new_health_feed(self) -> KeyedFeed:
        feed = KeyedFeed(
            lambda: {
                "system_health": {"type": "system_health", **self.system_health()},
                "api_health": list(self.latest_api_health.values()),
                "alerts": self.active_alerts(),
            },
            limit=MAX_PENDING_ALERTS + 10,
        )
        self.health.add(feed)
        return feed

    def drop(self, feed: _Feed) -> None:
        feed.closed = True
        if isinstance(feed, DeviceFeed):
            self.devices.discard(feed)
        elif isinstance(feed, KeyedFeed):
            self.connections.discard(feed)
            self.health.discard(feed)

    # --- health stream ---

    def publish_system_health(self) -> None:
        frame = {"type": "system_health", **self.system_health()}
        for feed in self.health:
            feed.push("system_health", frame)

    def publish_api_health(self, endpoint: str, body: dict[str, Any]) -> None:
        frame = {"type": "api_health", "endpoint": endpoint, **body}
        self.latest_api_health[endpoint] = frame
        for feed in self.health:
            feed.push("api_health:" + endpoint, frame)

    def publish_alert(self, alert_id: str, body: dict[str, Any]) -> None:
        frame = {"type": "system_alert", "timestamp": iso(time.time()), **body}
        for feed in self.health:
            feed.push("alert:" + alert_id, frame)


def all_feeds(fan: FanOut) -> Iterable[_Feed]:
    yield from fan.devices
    yield from fan.connections
    yield from fan.health
