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

from micboardd.feed import meterframe
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
# What a binary meter frame carries (meterframe.py), so never a binary client's JSON.
_STATE = frozenset({"antenna", "rf_quality"})
BINARY_FIELDS = _METERS | _STATE
_BINARY_SKIP = BINARY_FIELDS | {"last_update"}
_DEVICE_FIELDS = frozenset(DEVICE_FIELDS)

_encoder = msgspec.json.Encoder()

Changes = Mapping[str, AbstractSet[str]]
SubKey = tuple[str, frozenset[str] | None, bool, bool]


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
    binary: bool = False  # compact format: meters as binary frames (meterframe.py)

    @property
    def key(self) -> SubKey:
        """What decides the frames: clients with equal keys get identical frames."""
        return (self.format, self.devices, self.batch, self.binary)

    def wants(self, device_id: str) -> bool:
        # A group subscription is resolved to its device ids by the web layer.
        return self.devices is None or device_id in self.devices


@dataclass(slots=True, eq=False)
class Emitted:
    """One rate-limited hand-over of device changes, shared by every client of a stream."""

    changes: dict[str, frozenset[str]]
    # Encoded frame bodies per subscription key, built by the first client that needs them.
    frames: dict[SubKey, list[bytes]] = field(default_factory=dict)

    def meter_ids(self) -> list[tuple[str, bool]]:
        """Devices whose meters moved (what binary meter frames carry), each with whether
        its antenna or RF quality changed."""
        return [
            (d, not _STATE.isdisjoint(fields))
            for d, fields in self.changes.items()
            if not BINARY_FIELDS.isdisjoint(fields)
        ]

    def beyond_meters(self) -> bool:
        """Whether anything but meters changed (only that goes to a binary-meters client as
        JSON)."""
        return any(not fields <= _BINARY_SKIP for fields in self.changes.values())


@dataclass(slots=True)
class Layout:
    """The device order of a subscription's `initial_data`, which binary meter frames index
    (numbered with the hub's generation: a device added or removed makes a new layout)."""

    number: int
    ids: list[str]
    index: dict[str, int]

    @classmethod
    def of(cls, hub: Hub, sub: Subscription) -> Layout:
        ids = [d for d in hub.devices if sub.wants(d)]
        return cls(hub.generation & 0xFFFF, ids, {d: i for i, d in enumerate(ids)})

    def payload(self, hub: Hub, moved: Mapping[str, bool], t_ms: int) -> bytes | None:
        """The binary meter frame for these devices (those of this layout; True: with their
        antenna and RF quality), or None."""
        index, devices = self.index, hub.devices
        present: list[tuple[int, meterframe.Meter, bool]] = []
        for device_id, stated in moved.items():
            position = index.get(device_id)
            dev = devices.get(device_id)
            if position is not None and dev is not None:
                meter = (
                    dev.rf_signal,
                    dev.audio_level,
                    dev.peak_level,
                    dev.antenna,
                    dev.rf_quality,
                )
                present.append((position, meter, stated))
        if not present:
            return None
        present.sort(key=lambda item: item[0])
        return meterframe.encode(self.number, t_ms, len(self.ids), present)


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
    skip = _BINARY_SKIP if sub.binary else _COMPACT_SKIP
    for device_id, fields in changes.items():
        dev = devices.get(device_id)
        if dev is None or not sub.wants(device_id):
            continue
        if not _METERS.isdisjoint(fields):
            meters[device_id] = [dev.rf_signal, dev.audio_level, dev.peak_level]
        if fields <= skip:
            continue
        update = {k: getattr(dev, k) for k in fields - skip if k in _DEVICE_FIELDS}
        if update:
            updates.append({"device_id": device_id, **update, "timestamp": dev.last_update})
    if sub.binary:  # meters go in binary frames, on the fan-out's meter tick
        meters = {}
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

    def __init__(self, hub: Hub, layout: Callable[[Subscription], Layout] | None = None) -> None:
        super().__init__()
        self.hub = hub
        self.sub = Subscription()
        self.queue: list[Emitted] = []
        self.backlog: dict[str, set[str]] = {}
        self.resync = False
        # Binary meters: the layout of a subscription (the fan-out's cache), whoever writes
        # a meter frame at once (the web layer; it returns False when the socket cannot take
        # it now), and the devices of the frames this client missed (it then gets their
        # meters in one frame when its socket is ready: bounded by its layout, never a queue).
        self.layout = layout or (lambda sub: Layout.of(hub, sub))
        self.on_meters: Callable[[bytes], bool] | None = None
        self.missed: dict[str, bool] = {}
        self.meter_layout: int | None = None  # the layout of the last snapshot sent

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
        self.missed.clear()

    @property
    def meters_behind(self) -> bool:
        return bool(self.missed)

    def offer_meters(self, frame: bytes, moved: Mapping[str, bool]) -> None:
        """A binary meter frame (the whole WebSocket frame) of this client's subscription,
        carrying `moved` (device -> with its state byte)."""
        missed = self.missed
        if missed or self.on_meters is None or not self.on_meters(frame):
            for device_id, stated in moved.items():
                missed[device_id] = stated or missed.get(device_id, False)
            self.wake.set()

    def take_meters(self) -> bytes | None:
        """For a client that missed meter frames: the meters of what they carried, now."""
        if not self.missed:
            return None
        missed, self.missed = self.missed, {}
        return self.layout(self.sub).payload(self.hub, missed, _now_ms())

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
        # The layout first: a new one asks every binary client with an older one to resync,
        # which this snapshot is.
        layout = self.layout(self.sub).number if self.sub.binary else None
        self.queue.clear()
        self.backlog.clear()
        self.resync = False
        devices = [d for d in self.hub.device_list() if self.sub.wants(d.device_id)]
        frame = {
            "type": "initial_data",
            "devices": devices,
            "receivers": self.hub.receiver_list(),
            "seq": self.next_seq(),
        }
        if layout is not None:
            # The same order as `devices`: binary meter frames index it.
            frame["meter_layout"] = self.meter_layout = layout
            self.missed.clear()
        return frame

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
