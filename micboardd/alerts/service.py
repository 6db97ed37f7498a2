"""Alert rules and their state machine: warn before a microphone dies, once, and say when it ends.

Every rule is a pure function from what the hub knows about one subject (a channel, a
receiver, the System API) to a `Verdict`: the condition holds (True), is over (False), or
nothing can be said right now (None, e.g. while the receiver is offline). A `Tracker` per
(rule, subject) turns verdicts into alert transitions with hold times on both edges, so an
input that flaps faster than its hold time never flaps an alert:

- raised once, when the condition has held for the rule's `raise_s`;
- updated while it lasts (severity only goes up; message changes at most every
  `update_every_s`; an escalation silences nothing: it clears the acknowledgement);
- cleared when the condition has been over for the rule's `clear_s`;
- acknowledged by a user: still active, but silenced.

Every transition is written to SQLite at once (never batched: an alert that was raised
survives a crash), published as a `system_alert` frame on `/ws/health/`, and raising or
clearing logs one record with structured fields for journald.

A transmitter that goes absent cannot be told apart from an RF dropout on the wire (Shure
receivers report the same sentinels). The rules classify by what happened around it:

- absent for less than `tx_off_confirm_s`, then back: an RF dropout (`rf_lost`, critical);
- absent right after the RF sat in the weak band: out of range (`rf_lost`, critical, live);
- otherwise absent for `tx_off_confirm_s`: switched off (`tx_off`, warning).

A transmitter never seen on air since the daemon started (a spare channel) raises nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from micboardd.aio import cancel_and_wait
from micboardd.alerts import store as store_alerts
from micboardd.alerts.model import Alert, AlertConfig, Kind, Severity, new_alert_id
from micboardd.alerts.rules import (
    METERS_ONLY_CHANGES,
    Step,
    Tracker,
    Verdict,
    Watch,
    device_verdicts,
    observe,
    quiet,
    quiet_band,
    receiver_verdict,
    settled,
    ssapi_verdict,
    step,
)
from micboardd.isotime import iso
from micboardd.model import Device
from micboardd.pacing import sleep_to_beat
from micboardd.sources.ports import (
    ConnectionChanged,
    DeviceChanged,
    DeviceRemoved,
    HubEvent,
    MeterDelivery,
)
from micboardd.state.hub import Hub
from micboardd.store.database import Store

log = logging.getLogger(__name__)

ALERT_TICK_S = 1.0  # hold times are whole seconds; re-evaluating every second is enough
# Alerts cleared longer ago than this are trimmed from the log, a few at a time, hourly.
ALERT_RETENTION_S = 90 * 86400
ALERT_TRIM_EVERY_S = 3600.0
ALERT_TRIM_ROWS = 500
# A change of one of these fields is evaluated at once (a transmitter coming or going
# changes `status`); meter changes (RF, audio, rf_quality) wait for the next tick, so
# meter-rate readings never run the whole rule table.
RULE_FIELDS = frozenset(
    {
        "battery_bars",
        "battery_minutes",
        "battery_level",
        "charging",
        "status",
        "interference",
        "encryption_error",
    }
)


# --- the engine ---

Publish = Callable[[str, dict[str, Any]], None]
CountSink = Callable[[str, int], None]

_LOG_LEVEL = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.ERROR,
}


class Alerts:
    """Evaluates the rules on hub events and every second; owns the alert log.

    `publish(alert_id, body)` is `FanOut.publish_alert`; `on_count(device_id, n)` (optional)
    receives the number of open alerts of a channel whenever it changes (tile badges).
    """

    def __init__(
        self,
        hub: Hub,
        store: Store,
        publish: Publish,
        *,
        clock: Callable[[], float] | None = None,
        config: AlertConfig | None = None,
        on_count: CountSink | None = None,
        tick_s: float | None = ALERT_TICK_S,
    ) -> None:
        self.hub = hub
        self.store = store
        self.publish = publish
        self.clock = clock or hub.clock
        self.config = config or AlertConfig()
        self._band = quiet_band(self.config)  # what the hub checks for a quiet channel
        self.on_count = on_count
        self.tick_s = tick_s
        self._trackers: dict[tuple[Kind, str], Tracker] = {}
        self._watches: dict[str, Watch] = {}
        self._ssapi: dict[str, tuple[str, str | None]] = {}
        self._counts: dict[str, int] = {}
        self._writes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._started = 0.0
        self._last_trim = 0.0

    # --- lifecycle ---

    async def start(self) -> None:
        """Reload open alerts (same ids, acks kept), subscribe to the hub, start the timers."""
        self._started = self.clock()
        for row in await store_alerts.select_open_alerts(self.store):
            alert = Alert.from_row(row)
            key = (alert.kind, alert.subject)
            self._trackers[key] = Tracker(alert.kind, alert.subject, alert=alert, restored=True)
            if alert.kind in (Kind.TX_OFF, Kind.RF_LOST) and alert.device_id is not None:
                # Still gone after the restart continues the same alert, not a new one.
                self._watches[alert.device_id] = Watch(
                    seen_on=True, gone_since=alert.started_at, faded=alert.kind is Kind.RF_LOST
                )
        # Meters that move inside a quiet channel's band are not even told (`_observe` marks
        # the channels: the hub's `meter_quiet`); the tick looks at every channel anyway.
        self._unsubscribe = self.hub.subscribe(self.on_event, meters=MeterDelivery.OUTSIDE_QUIET)
        self._tasks.append(asyncio.create_task(self._writer(), name="alerts-writer"))
        if self.tick_s:
            self._tasks.append(asyncio.create_task(self._ticker(self.tick_s), name="alerts-tick"))
        for device_id, dev in self.hub.devices.items():
            self._observe(device_id, dev)
        self.tick()

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for device_id in self._watches:
            self.hub.meter_quiet.pop(device_id, None)
        await self.flush()
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()

    async def flush(self) -> None:
        """Wait until every transition so far is in the database."""
        if any(not t.done() for t in self._tasks):
            await self._writes.join()

    async def _writer(self) -> None:
        while True:
            row = await self._writes.get()
            try:
                await store_alerts.upsert_alert(self.store, row)
            except Exception:
                log.exception("could not store alert %s", row.get("id"))
            finally:
                self._writes.task_done()

    async def _ticker(self, interval: float) -> None:
        while True:
            await sleep_to_beat(interval)  # with a read tick: no wake-up of its own
            try:
                self.tick()
                await self._maybe_trim()
            except Exception:
                log.exception("alert tick failed")

    async def _maybe_trim(self) -> None:
        now = self.clock()
        if now - self._last_trim >= ALERT_TRIM_EVERY_S:
            self._last_trim = now
            await store_alerts.trim_alerts(self.store, now - ALERT_RETENTION_S, ALERT_TRIM_ROWS)

    # --- inputs ---

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, DeviceChanged):
            device_id, changes = event.device_id, event.changes
            dev = self.hub.devices.get(device_id)
            if dev is None:
                return
            if changes in METERS_ONLY_CHANGES:
                watch = self._watches.get(device_id)
                if watch is not None and settled(watch, dev, self.config):
                    return  # nothing to note, and no rule reads meters alone
            self._observe(device_id, dev)
            if "device_id" in changes:  # a channel (re)appeared: show its open alerts
                self._recount(device_id, force=True)
            # isdisjoint, not `&`: no set is built for the meter readings that make up
            # nearly every event.
            if not RULE_FIELDS.isdisjoint(changes):
                self._evaluate_device(device_id, dev, self.clock())
        elif isinstance(event, DeviceRemoved):
            self._watches.pop(event.device_id, None)
            self.hub.meter_quiet.pop(event.device_id, None)
            self._close_subject(event.device_id, "channel removed")
        elif isinstance(event, ConnectionChanged):
            self._evaluate_receiver(event.receiver_id, self.clock())

    def system_api_health(self, endpoint: str, status: str, error: str | None = None) -> None:
        """Hook for the System API source: its health ("healthy"|"degraded"|"down")."""
        self._ssapi[endpoint] = (status, error)
        self._apply(Kind.SSAPI_DOWN, endpoint, ssapi_verdict(endpoint, status, error), None, None)

    def tick(self) -> None:
        """Re-evaluate everything: hold timers run out without new readings."""
        now = self.clock()
        for device_id, dev in self.hub.devices.items():
            self._observe(device_id, dev)
            self._evaluate_device(device_id, dev, now)
        for receiver_id in list(self.hub.receivers):
            self._evaluate_receiver(receiver_id, now)
        for endpoint, (status, error) in self._ssapi.items():
            self._apply(
                Kind.SSAPI_DOWN, endpoint, ssapi_verdict(endpoint, status, error), None, None
            )
        self._expire_restored(now)

    # --- evaluation ---

    def _online(self, dev: Device) -> bool:
        rx = self.hub.receivers.get(dev.receiver_id or "")
        return rx is not None and rx.online

    def _watch(self, device_id: str) -> Watch:
        # Not setdefault(device_id, Watch()): that builds a Watch for every reading.
        watch = self._watches.get(device_id)
        if watch is None:
            watch = self._watches[device_id] = Watch()
        return watch

    def _observe(self, device_id: str, dev: Device) -> None:
        watch = self._watch(device_id)
        observe(watch, dev, self._online(dev), self.clock(), self.config)
        # Whether this channel's meters may move unseen until the next look (the hub checks
        # the band: `settled`, without a call per sample).
        if quiet(watch):
            self.hub.meter_quiet[device_id] = self._band
        else:
            self.hub.meter_quiet.pop(device_id, None)

    def _evaluate_device(self, device_id: str, dev: Device, now: float) -> None:
        watch = self._watch(device_id)
        verdicts = device_verdicts(dev, watch, self._online(dev), now, self.config)
        trackers = self._trackers
        for kind, verdict in verdicts:
            # What _apply() would find first, checked here: most rules of most channels
            # say "not now" with nothing pending or open.
            if verdict.on is not True and (kind, device_id) not in trackers:
                continue
            self._apply(kind, device_id, verdict, device_id, dev.receiver_id)
        watch.dropout = None  # reported once

    def _evaluate_receiver(self, receiver_id: str, now: float) -> None:
        rx = self.hub.receivers.get(receiver_id)
        if rx is None:
            self._close_subject(receiver_id, "receiver removed")
            return
        self._apply(Kind.RX_OFFLINE, receiver_id, receiver_verdict(rx), None, receiver_id)

    def _apply(
        self,
        kind: Kind,
        subject: str,
        verdict: Verdict,
        device_id: str | None,
        receiver_id: str | None,
    ) -> None:
        key = (kind, subject)
        tracker = self._trackers.get(key)
        if tracker is None:
            if verdict.on is not True:
                return  # nothing pending, nothing open: keep no state
            tracker = self._trackers[key] = Tracker(kind, subject)
        now = self.clock()
        action = step(tracker, verdict, now, self.config.hold(kind), self.config.update_every_s)
        if action is Step.RAISE:
            assert tracker.true_since is not None
            tracker.alert = Alert(
                id=new_alert_id(),
                kind=kind,
                severity=verdict.severity,
                subject=subject,
                device_id=device_id,
                receiver_id=receiver_id,
                message=verdict.message,
                started_at=tracker.true_since,
                raised_at=now,
                updated_at=now,
            )
            self._emit(tracker.alert, Step.RAISE)
        elif action is Step.UPDATE and tracker.alert is not None:
            alert = tracker.alert
            if verdict.severity.rank > alert.severity.rank:
                alert.severity = verdict.severity
                alert.acked_at = None  # worse than what was acknowledged: sound again
            alert.message = verdict.message
            alert.updated_at = now
            self._emit(alert, Step.UPDATE)
        elif action is Step.CLEAR and tracker.alert is not None:
            self._clear(tracker, now)
        if tracker.alert is None and tracker.true_since is None:
            del self._trackers[key]

    def _clear(self, tracker: Tracker, now: float, note: str | None = None) -> None:
        alert = tracker.alert
        if alert is None:
            return
        alert.cleared_at = alert.updated_at = now
        if note:
            alert.message = f"{alert.message} ({note})"
        tracker.alert, tracker.true_since, tracker.false_since = None, None, None
        self._emit(alert, Step.CLEAR)

    def _close_subject(self, subject: str, note: str) -> None:
        now = self.clock()
        for key in [k for k in self._trackers if k[1] == subject]:
            self._clear(self._trackers.pop(key), now, note)

    def _expire_restored(self, now: float) -> None:
        if now - self._started < self.config.restore_grace_s:
            return
        for key, tracker in list(self._trackers.items()):
            if tracker.restored:
                del self._trackers[key]
                self._clear(tracker, now, "not seen since restart")

    # --- outputs ---

    def _emit(self, alert: Alert, what: Step) -> None:
        self._writes.put_nowait(alert.row())
        body = {**alert.as_dict(), "state": what.value, "timestamp": iso(alert.updated_at)}
        try:
            self.publish(alert.id, body)
        except Exception:
            log.exception("could not publish alert %s", alert.id)
        if what in (Step.RAISE, Step.CLEAR):
            level = _LOG_LEVEL[alert.severity] if what is Step.RAISE else logging.INFO
            log.log(
                level,
                "alert %s: %s",
                what.value,
                alert.message,
                extra={
                    "ALERT_ID": alert.id,
                    "ALERT_KIND": alert.kind.value,
                    "SEVERITY": alert.severity.value,
                    "DEVICE_ID": alert.device_id or "",
                    "RECEIVER_ID": alert.receiver_id or "",
                },
            )
        if alert.device_id is not None:
            self._recount(alert.device_id)

    def _recount(self, device_id: str, *, force: bool = False) -> None:
        n = sum(
            1
            for t in self._trackers.values()
            if t.alert is not None and t.alert.device_id == device_id
        )
        if force or self._counts.get(device_id, 0) != n:
            self._counts[device_id] = n
            dev = self.hub.devices.get(device_id)
            # Only for our own channels: a copy from another instance carries its owner's.
            if self.on_count is not None and dev and dev.receiver_id in self.hub.receivers:
                self.on_count(device_id, n)

    # --- views and commands ---

    def active(self) -> list[Alert]:
        alerts = [t.alert for t in self._trackers.values() if t.alert is not None]
        return sorted(alerts, key=lambda a: a.raised_at)

    def active_dicts(self) -> list[dict[str, Any]]:
        """Open alerts for `initial_data` on `/ws/health/`."""
        return [a.as_dict() for a in self.active()]

    async def ack(self, alert_id: str) -> Alert | None:
        """Acknowledge (silence) an alert, open or not; None when there is no such alert."""
        now = self.clock()
        alert = next((a for a in self.active() if a.id == alert_id), None)
        if alert is None:
            await self.flush()
            row = await store_alerts.select_alert(self.store, alert_id)
            if row is None:
                return None
            alert = Alert.from_row(row)
        if alert.acked_at is None:
            alert.acked_at = now
            log.info(
                "alert acknowledged: %s",
                alert.message,
                extra={"ALERT_ID": alert.id, "ALERT_KIND": alert.kind.value},
            )
            body = {**alert.as_dict(), "state": "acked", "timestamp": iso(now)}
            self.publish(alert.id, body)
        await self.flush()
        await store_alerts.upsert_alert(self.store, alert.row())
        return replace(alert)

    async def query(
        self,
        *,
        active: bool | None = None,
        since: float | None = None,
        device: str | None = None,
        limit: int = 200,
    ) -> list[Alert]:
        await self.flush()
        rows = await store_alerts.select_alerts(
            self.store, active=active, since=since, device=device, limit=limit
        )
        return [Alert.from_row(r) for r in rows]

    async def overlapping(
        self, device_id: str, receiver_id: str | None, start: float, end: float
    ) -> list[Alert]:
        """Alerts of a channel and its receiver active at some time in [start, end)."""
        await self.flush()
        rows = await store_alerts.alerts_overlapping(self.store, device_id, receiver_id, start, end)
        return [Alert.from_row(r) for r in rows]
