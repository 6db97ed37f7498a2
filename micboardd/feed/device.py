"""One `/ws/devices/` client: what it watches, what it owes, and the frames that carry it.

Clients at the same `max_hz` share one rate-limited stream of device changes (fanout.py). A
client that keeps up takes each hand-over (an `Emitted`) as it comes, and every client with
the same subscription gets the *same* encoded frames: they are built and encoded once per
hand-over and cached on it; each client only stamps its own `seq`. A client that falls behind
folds what it missed into one pending set per device (latest wins), so its memory is bounded
by the number of devices it watches and it only ever gets fresher data later, never a backlog.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from micboardd.model import DEVICE_FIELDS, METER_FIELDS
from micboardd.state.hub import Hub

Format = Literal["full", "compact"]
DEFAULT_MAX_HZ = 10.0
MAX_MAX_HZ = 50.0  # faster than a 20 ms frame is invisible and only costs Wi-Fi airtime
# Hand-overs a client may hold unsent before they are folded into its per-device pending set:
# a couple keep the shared-frame path for a client that is a moment late; more would be a
# queue. Folding keeps memory bounded by the number of devices.
MAX_QUEUED = 2
# Internal fields that never go on the wire in compact device_update frames.
_COMPACT_SKIP = frozenset(METER_FIELDS) | {"last_update"}
_METERS = frozenset(METER_FIELDS)
_DEVICE_FIELDS = frozenset(DEVICE_FIELDS)

_encoder = msgspec.json.Encoder()

Changes = Mapping[str, AbstractSet[str]]
SubKey = tuple[str, frozenset[str] | None, bool]


def _now_ms() -> int:
    return int(time.time() * 1000)


def encode(frame: dict[str, Any]) -> bytes:
    return _encoder.encode(frame)


def stamp(body: bytes, seq: int) -> bytes:
    """A cached frame body (`{...}` without seq) with this client's sequence number first."""
    return b'{"seq":%d,%s' % (seq, body[1:]) if len(body) > 2 else b'{"seq":%d}' % seq


@dataclass(slots=True)
class Subscription:
    format: Format = "full"
    devices: frozenset[str] | None = None  # None: every device
    group: str | None = None
    max_hz: float = DEFAULT_MAX_HZ
    batch: bool = False  # full format: allow batch_update frames (compact always batches)

    @property
    def key(self) -> SubKey:
        """What decides the frames: clients with equal keys get identical frames."""
        return (self.format, self.devices, self.batch)

    def wants(self, device_id: str) -> bool:
        # A group subscription is resolved to its device ids by the web layer.
        return self.devices is None or device_id in self.devices


@dataclass(slots=True, eq=False)
class Emitted:
    """One rate-limited hand-over of device changes, shared by every client of a stream."""

    changes: dict[str, frozenset[str]]
    # Encoded frame bodies per subscription key, built by the first client that needs them.
    frames: dict[SubKey, list[bytes]] = field(default_factory=dict)


def build_frames(hub: Hub, sub: Subscription, changes: Changes) -> list[dict[str, Any]]:
    """The frames (without seq) that carry these changes to a client with this subscription."""
    if sub.format == "compact":
        return _compact(hub, sub, changes)
    return _full(hub, sub, changes)


def _full(hub: Hub, sub: Subscription, changes: Changes) -> list[dict[str, Any]]:
    updates: list[dict[str, Any]] = []
    for device_id, fields in changes.items():
        dev = hub.devices.get(device_id)
        if dev is None or not sub.wants(device_id):
            continue
        body = msgspec.structs.asdict(dev)
        body["changes"], body["timestamp"] = sorted(fields), dev.last_update
        updates.append(body)
    if sub.batch and len(updates) > 1:
        return [{"type": "batch_update", "updates": updates}]
    # Simple integrations (the seed examples) only know device_update: one frame each.
    return [{"type": "device_update", **u} for u in updates]


def _compact(hub: Hub, sub: Subscription, changes: Changes) -> list[dict[str, Any]]:
    meters: dict[str, list[Any]] = {}
    updates: list[dict[str, Any]] = []
    devices = hub.devices
    for device_id, fields in changes.items():
        dev = devices.get(device_id)
        if dev is None or not sub.wants(device_id):
            continue
        if not _METERS.isdisjoint(fields):
            meters[device_id] = [dev.rf_signal, dev.audio_level, dev.peak_level]
        if fields <= _COMPACT_SKIP:
            continue
        update = {k: getattr(dev, k) for k in fields - _COMPACT_SKIP if k in _DEVICE_FIELDS}
        if update:
            updates.append({"device_id": device_id, **update, "timestamp": dev.last_update})
    frames: list[dict[str, Any]] = []
    if len(updates) == 1:
        frames.append({"type": "device_update", **updates[0]})
    elif updates:
        frames.append({"type": "batch_update", "updates": updates})
    if meters:
        frames.append({"type": "meters", "t": _now_ms(), "d": meters})
    return frames


class Feed:
    """Common part of every client: a wake-up event and a per-stream sequence number.

    `due()` is called whenever something becomes due. By default it wakes the client's
    writer task; the web layer may replace it with `on_due` to write at once instead.
    """

    def __init__(self) -> None:
        self.seq = 0
        self.wake = asyncio.Event()
        self.closed = False
        self.on_due: Callable[[], None] | None = None

    def due(self) -> None:
        if self.on_due is None:
            self.wake.set()
        else:
            self.on_due()

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def initial_frame(self) -> dict[str, Any]:
        raise NotImplementedError

    def take_due(self) -> list[bytes]:
        """Encoded frames due now (each with its seq)."""
        raise NotImplementedError

    async def wait(self) -> None:
        if not self.wake.is_set():
            await self.wake.wait()


class DeviceFeed(Feed):
    """One `/ws/devices/` client."""

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub
        self.sub = Subscription()
        self.queue: list[Emitted] = []
        self.backlog: dict[str, set[str]] = {}
        self.resync = False

    @property
    def pending(self) -> dict[str, set[str]]:
        """Every change not yet sent, per device (for inspection; take_due does the work)."""
        folded = {k: set(v) for k, v in self.backlog.items()}
        for em in self.queue:
            _fold(folded, em.changes, self.sub.devices)
        return folded

    def set_subscription(self, sub: Subscription) -> None:
        self.sub = sub
        self.queue.clear()
        self.backlog.clear()

    def offer(self, em: Emitted) -> None:
        """A hand-over from this client's stream."""
        wanted = self.sub.devices
        if wanted is not None and wanted.isdisjoint(em.changes):
            return
        self.queue.append(em)
        if len(self.queue) > MAX_QUEUED:
            _fold(self.backlog, self.queue.pop(0).changes, wanted)
        self.due()

    def request_resync(self) -> None:
        self.resync = True
        self.wake.set()

    def initial_frame(self) -> dict[str, Any]:
        self.queue.clear()
        self.backlog.clear()
        self.resync = False
        devices = [d for d in self.hub.device_list() if self.sub.wants(d.device_id)]
        return {
            "type": "initial_data",
            "devices": devices,
            "receivers": self.hub.receiver_list(),
            "seq": self.next_seq(),
        }

    def take_due(self) -> list[bytes]:
        self.wake.clear()
        if self.resync:
            return [encode(self.initial_frame())]
        if not self.queue and not self.backlog:
            return []
        if len(self.queue) == 1 and not self.backlog:
            # The common case: up to date with the stream, so the frames are shared.
            em = self.queue.pop()
            key = self.sub.key
            bodies = em.frames.get(key)
            if bodies is None:
                built = build_frames(self.hub, self.sub, em.changes)
                bodies = em.frames[key] = [encode(f) for f in built]
        else:
            # Behind: one set of frames for everything missed, built for this client alone.
            for em in self.queue:
                _fold(self.backlog, em.changes, self.sub.devices)
            self.queue.clear()
            changes, self.backlog = self.backlog, {}
            bodies = [encode(f) for f in build_frames(self.hub, self.sub, changes)]
        return [stamp(body, self.next_seq()) for body in bodies]


def _fold(into: dict[str, set[str]], changes: Changes, wanted: frozenset[str] | None) -> None:
    for device_id, fields in changes.items():
        if wanted is not None and device_id not in wanted:
            continue
        entry = into.get(device_id)
        if entry is None:
            into[device_id] = set(fields)
        else:
            entry |= fields
