"""Fan-out: turns hub events into WebSocket frames for every client.

Device changes of one event-loop iteration are batched, rate-limited per device once per
`max_hz` (a `Stream`, shared by every client at that rate) and handed to each client as one
shared `Emitted` batch; device_feed.py turns it into frames, encoded once per subscription.
Per-client work per hand-over is a list append, so the cost of a change grows with the number
of *distinct* subscriptions, not with the number of phones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from micboardd.feed import meterframe
from micboardd.feed.device import (
    DEFAULT_MAX_HZ,
    MAX_MAX_HZ,
    DeviceFeed,
    Emitted,
    Feed,
    Layout,
    SubKey,
    Subscription,
    encode,
)
from micboardd.isotime import iso
from micboardd.sources.ports import (
    ConnectionChanged,
    DeviceChanged,
    DeviceRemoved,
    HubEvent,
    MeterDelivery,
)
from micboardd.state.hub import Hub

__all__ = [
    "DEFAULT_MAX_HZ",
    "MAX_MAX_HZ",
    "DeviceFeed",
    "FanOut",
    "KeyedFeed",
    "Redact",
    "Stream",
    "Subscription",
]

# The per-device limit is a token bucket: max_hz sends a second on average, with room for a
# burst of this many. Meters arrive once per meter interval with jitter (a late sample, then
# an early one); a strict interval would hold the early one back by most of an interval,
# which was the largest part of the latency. Two absorbs any jitter of a steady stream.
RATE_BURST = 2.0
# A device held back by the limit goes out with its own next change once its token is
# whole, or, if no change comes, this many intervals (1/max_hz) after the token is whole.
# Meters come at about max_hz (10 Hz receivers, max_hz 10), and a limit at its input's own
# rate never catches up: once a stall or a burst emptied the bucket, a device sent when its
# token is whole went out that much after every sample (up to an interval) for as long as the
# stream ran. Sent with its next sample instead, it skips one (latest wins) and the bucket is
# full again. One and a half: later than the next sample of a steady, even jittery stream.
HOLD_INTERVALS = 1.5
# A deferred device's timer is moved earlier only by more than this: the same due time
# computed again a moment later differs by microseconds, and a millisecond is invisible.
TIMER_SLACK_S = 0.001
# Alerts are kept for a client that is not reading; past this many the oldest go (the alert
# log in the store keeps them all).
MAX_PENDING_ALERTS = 200
# Binary meter frames go out at most this often per subscription, carrying every meter that
# moved since the last one: receivers sample out of step, so a frame per receiver sample
# would be 250 small frames a second at 25 receivers, each a socket write per phone. Shure
# receivers are read on the 25 ms read tick (micboardd/pacing.py), so their meters come 40
# times a second and each read tick's go out at once: this is a little shorter than the read
# tick on purpose. Of the same length, the two ticks slid out of phase (the loop's clock
# counts whole milliseconds) and meters often waited a second tick: binary p95 50 ms against
# 27. At 12.5 ms, before the read tick, nearly every tick sent a frame (80 a second, 4.0 KB/s
# a phone at 100 channels); now 40 a second, 3.2 KB/s. The first change after a quiet spell
# goes at once; sources read as they arrive (Sennheiser, UHF-R) get at most 50 frames a second.
METER_TICK_S = 0.020
# Keys of System API frames in the keyed feeds (sources.py pushes the connection ones).
API_HEALTH_KEY = "api_health:"
API_CONNECTION_KEY = "system_api:"


class Stream:
    """The per-device rate limit for every client at one max_hz, applied once for all."""

    def __init__(self, max_hz: float) -> None:
        self.max_hz = max_hz
        self.pending: dict[str, set[str]] = {}
        # Per device: (tokens, when they were counted). A device never seen has a full bucket.
        self.buckets: dict[str, tuple[float, float]] = {}
        # Devices held back, and when they go out if no change of theirs comes first.
        self.held: dict[str, float] = {}
        # Devices of the last merge: a change of their own, so they may go out now.
        self.fresh: set[str] = set()
        self.clients: set[DeviceFeed] = set()  # JSON clients: every hand-over
        # Binary-meter clients by subscription: JSON only for what is not a meter, and one
        # binary frame per meter tick per subscription, the same bytes for each of them.
        self.binary: dict[SubKey, set[DeviceFeed]] = {}
        # Devices whose meters moved since the last tick (True: antenna or RF quality too).
        self.meters_moved: dict[str, bool] = {}
        self.meter_timer: asyncio.Handle | None = None
        self.last_tick = float("-inf")  # loop time of the last meter tick
        # The timer for the earliest deferred device, and the loop time it is due at. The
        # due time is our own record: uvloop's call_at returns a plain Handle (no when())
        # for a time less than a millisecond ahead, and that is not rare here.
        self.timer: asyncio.Handle | None = None
        self.timer_due: float | None = None

    def merge(self, batch: dict[str, frozenset[str]]) -> None:
        pending = self.pending
        self.fresh.update(batch)
        for device_id, changes in batch.items():
            entry = pending.get(device_id)
            if entry is None:
                pending[device_id] = set(changes)
            else:
                entry |= changes

    def release(self, now: float) -> tuple[Emitted | None, float | None]:
        """What is due now, and how long until the next deferred device is due (or None)."""
        rate = self.max_hz
        buckets, held, fresh = self.buckets, self.held, self.fresh
        self.fresh = set()
        due: dict[str, frozenset[str]] = {}
        wait: float | None = None
        for device_id in list(self.pending):
            tokens, counted = buckets.get(device_id, (RATE_BURST, now))
            tokens = min(RATE_BURST, tokens + (now - counted) * rate)
            until = held.get(device_id)
            if tokens >= 1.0 and (until is None or device_id in fresh or now >= until):
                due[device_id] = frozenset(self.pending.pop(device_id))
                buckets[device_id] = (tokens - 1.0, now)
                held.pop(device_id, None)
                continue
            buckets[device_id] = (tokens, now)
            if until is None:
                until = held[device_id] = now + (1.0 - tokens + HOLD_INTERVALS) / rate
            left = max(0.0, until - now)
            wait = left if wait is None else min(wait, left)
        return (Emitted(due) if due else None), wait

    def forget(self, device_id: str) -> None:
        self.pending.pop(device_id, None)
        self.buckets.pop(device_id, None)
        self.held.pop(device_id, None)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.timer_due = None
        if self.meter_timer is not None:
            self.meter_timer.cancel()
        self.meter_timer = None

    @property
    def empty(self) -> bool:
        return not self.clients and not self.binary


# (key, frame) -> the frame this client may see: the web layer hides the System API's
# address from clients without a session (web/security.py redact_api_frame).
Redact = Callable[[str, dict[str, Any]], dict[str, Any]]


class KeyedFeed(Feed):
    """A latest-wins feed keyed by source id (connections) or alert id (health)."""

    def __init__(
        self,
        initial: Callable[[], dict[str, Any]],
        limit: int = 10_000,
        redact: Redact | None = None,
    ) -> None:
        super().__init__()
        self._initial = initial
        self.pending: dict[str, dict[str, Any]] = {}
        self.limit = limit
        self.redact = redact

    def push(self, key: str, frame: dict[str, Any]) -> None:
        if self.redact is not None:
            frame = self.redact(key, frame)
        self.pending.pop(key, None)
        self.pending[key] = frame
        while len(self.pending) > self.limit:
            self.pending.pop(next(iter(self.pending)))
        self.due()

    def initial_frame(self) -> dict[str, Any]:
        self.pending.clear()
        return {"type": "initial_data", **self._initial(), "seq": self.next_seq()}

    def take_due(self) -> list[bytes]:
        self.wake.clear()
        frames = [encode({**f, "seq": self.next_seq()}) for f in self.pending.values()]
        self.pending.clear()
        return frames


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
    # One rate limiter per max_hz in use (almost always just the default).
    streams: dict[float, Stream] = field(default_factory=dict)
    # The rate limiter's clock (a test can hold it still; the loop's timers still run).
    clock: Callable[[], float] = time.monotonic
    # Binary meter layouts per subscription, for the hub's current generation.
    layouts: dict[SubKey, Layout] = field(default_factory=dict)
    _generation: int = 0

    def start(self) -> None:
        # Meters alone only while a client watches (`_watching`): a client starts from a
        # snapshot, and a box nobody looks at reads its receivers without a call a sample.
        meters = MeterDelivery.EVENTS if self.streams else MeterDelivery.NONE
        self._unsubscribe = self.hub.subscribe(self._on_event, meters=meters)

    def _watching(self) -> None:
        """Streams came or went: hear meter changes exactly while there are some."""
        meters = MeterDelivery.EVENTS if self.streams else MeterDelivery.NONE
        self.hub.deliver_meters(self._on_event, meters)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for stream in self.streams.values():
            stream.cancel()

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
            if not self.streams:
                return  # nobody watches: nothing to batch (a client starts from a snapshot)
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
        if isinstance(event, DeviceRemoved):
            for stream in self.streams.values():
                stream.forget(event.device_id)
            self.layouts.clear()
            self._generation = self.hub.generation
            for dfeed in self.devices:
                dfeed.request_resync()

    def _new_layouts(self) -> None:
        """Devices were added: binary-meter clients need the new order (a fresh snapshot)."""
        self.layouts.clear()
        self._generation = self.hub.generation
        number = self._generation & 0xFFFF
        for stream in self.streams.values():
            for feeds in stream.binary.values():
                for dfeed in feeds:
                    if dfeed.meter_layout != number:
                        dfeed.request_resync()

    def layout(self, sub: Subscription) -> Layout:
        """The device order binary meter frames of this subscription index."""
        if self.hub.generation != self._generation:
            self._new_layouts()
        found = self.layouts.get(sub.key)
        if found is None:
            found = self.layouts[sub.key] = Layout.of(self.hub, sub)
        return found

    def flush(self) -> None:
        """Hand the batched device changes to every stream, and on to its clients."""
        self._flush_scheduled = False
        if not self._dirty:
            return
        if self.hub.generation != self._generation:
            self._new_layouts()
        batch = {k: frozenset(v) for k, v in self._dirty.items()}
        self._dirty = {}
        for stream in self.streams.values():
            stream.merge(batch)
            self._release(stream)

    def _release(self, stream: Stream) -> None:
        emitted, wait = stream.release(self.clock())
        if emitted is not None:
            for feed in stream.clients:
                feed.offer(emitted)
            if stream.binary:
                self._binary(stream, emitted)
        if wait is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous caller: the next flush releases it
            return
        # One timer per stream, for the earliest deferred device: flushes come hundreds of
        # times a second under load, and each must not leave a timer of its own behind.
        due = loop.time() + wait
        if stream.timer is not None:
            if stream.timer_due is not None and stream.timer_due <= due + TIMER_SLACK_S:
                return
            stream.timer.cancel()
        stream.timer = loop.call_at(due, self._on_timer, stream)
        stream.timer_due = due

    def _on_timer(self, stream: Stream) -> None:
        stream.timer = stream.timer_due = None
        self._release(stream)

    # --- binary meters: one frame per tick per subscription, the same bytes for all ---

    def _binary(self, stream: Stream, emitted: Emitted) -> None:
        if emitted.beyond_meters():
            for feeds in stream.binary.values():
                for feed in feeds:
                    feed.offer(emitted)
        moved = emitted.meter_ids()
        if not moved:
            return
        pending = stream.meters_moved
        for device_id, stated in moved:
            pending[device_id] = stated or pending.get(device_id, False)
        if stream.meter_timer is not None:
            return  # the next tick takes them
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous caller: tick now
            self._meter_tick(stream)
            return
        now = loop.time()
        if now >= stream.last_tick + METER_TICK_S:
            self._meter_tick(stream)  # quiet until now: no reason to wait
        else:
            stream.meter_timer = loop.call_at(
                stream.last_tick + METER_TICK_S, self._on_tick, stream
            )

    def _on_tick(self, stream: Stream) -> None:
        stream.meter_timer = None
        self._meter_tick(stream)

    def _meter_tick(self, stream: Stream) -> None:
        try:
            stream.last_tick = asyncio.get_running_loop().time()
        except RuntimeError:
            stream.last_tick = float("-inf")
        moved, stream.meters_moved = stream.meters_moved, {}
        t_ms = int(time.time() * 1000)
        for feeds in stream.binary.values():
            sub = next(iter(feeds)).sub
            payload = self.layout(sub).payload(self.hub, moved, t_ms)
            if payload is None:
                continue
            frame = meterframe.wire(payload)  # built once, written as it is to each client
            for feed in feeds:
                feed.offer_meters(frame, moved)

    # --- constructors for the web layer ---

    def new_device_feed(self) -> DeviceFeed:
        feed = DeviceFeed(self.hub, self.layout)
        self.devices.add(feed)
        self._join(feed)
        return feed

    def subscribe(self, feed: DeviceFeed, sub: Subscription) -> None:
        """Change what a client watches (and the rate it is fed at)."""
        self._leave(feed)
        feed.set_subscription(sub)
        self._join(feed)

    def _join(self, feed: DeviceFeed) -> None:
        stream = self.streams.get(feed.sub.max_hz)
        if stream is None:
            stream = self.streams[feed.sub.max_hz] = Stream(feed.sub.max_hz)
            self._watching()
        if feed.sub.binary:
            stream.binary.setdefault(feed.sub.key, set()).add(feed)
        else:
            stream.clients.add(feed)

    def _leave(self, feed: DeviceFeed) -> None:
        stream = self.streams.get(feed.sub.max_hz)
        if stream is None:
            return
        stream.clients.discard(feed)
        key = feed.sub.key
        feeds = stream.binary.get(key)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del stream.binary[key]
        if stream.empty:  # a rate nobody uses any more holds no state
            stream.cancel()
            del self.streams[feed.sub.max_hz]
            self._watching()

    def new_connection_feed(self, redact: Redact | None = None) -> KeyedFeed:
        feed = KeyedFeed(lambda: {"connections": self.hub.connections()}, redact=redact)
        self.connections.add(feed)
        return feed

    def new_health_feed(self, redact: Redact | None = None) -> KeyedFeed:
        def api_health() -> list[dict[str, Any]]:
            frames = list(self.latest_api_health.items())
            if redact is None:
                return [frame for _, frame in frames]
            return [redact(API_HEALTH_KEY + endpoint, frame) for endpoint, frame in frames]

        feed = KeyedFeed(
            lambda: {
                "system_health": {"type": "system_health", **self.system_health()},
                "api_health": api_health(),
                "alerts": self.active_alerts(),
            },
            limit=MAX_PENDING_ALERTS + 10,
            redact=redact,
        )
        self.health.add(feed)
        return feed

    def drop(self, feed: Feed) -> None:
        feed.closed = True
        if isinstance(feed, DeviceFeed):
            if feed in self.devices:
                self.devices.discard(feed)
                self._leave(feed)
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
            feed.push(API_HEALTH_KEY + endpoint, frame)

    def publish_alert(self, alert_id: str, body: dict[str, Any]) -> None:
        frame = {"type": "system_alert", "timestamp": iso(time.time()), **body}
        for feed in self.health:
            feed.push("alert:" + alert_id, frame)


def all_feeds(fan: FanOut) -> Iterable[Feed]:
    yield from fan.devices
    yield from fan.connections
    yield from fan.health
