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
import contextlib
import enum
import logging
import secrets
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import store_history as sql
from .hub import (
    BATTERY_CRITICAL_BARS,
    BATTERY_CRITICAL_MINUTES,
    BATTERY_CRITICAL_PERCENT,
    BATTERY_REPLACE_BARS,
    BATTERY_REPLACE_MINUTES,
    BATTERY_REPLACE_PERCENT,
    CLIP_DBFS,
    ConnectionChanged,
    DeviceChanged,
    DeviceRemoved,
    Hub,
    HubEvent,
    iso,
)
from .model import DeviceDict
from .store import Store

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


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Kind(enum.StrEnum):
    BATTERY = "battery"
    TX_OFF = "tx_off"
    RF_WEAK = "rf_weak"
    RF_LOST = "rf_lost"
    INTERFERENCE = "interference"
    ENCRYPTION = "encryption"
    RX_OFFLINE = "rx_offline"
    CLIPPING = "clipping"
    SSAPI_DOWN = "ssapi_down"


DEVICE_KINDS = (
    Kind.BATTERY,
    Kind.TX_OFF,
    Kind.RF_WEAK,
    Kind.RF_LOST,
    Kind.INTERFERENCE,
    Kind.ENCRYPTION,
    Kind.CLIPPING,
)


@dataclass(frozen=True, slots=True)
class Hold:
    """How long a condition must hold before raising, and be over before clearing (s)."""

    raise_s: float
    clear_s: float


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Thresholds and hold times (docs/alerts.md); the defaults are the documented ones."""

    # Battery: the same limits as the tile colours (hub.py), so the alert and the tile agree.
    battery_low_bars: int = BATTERY_REPLACE_BARS
    battery_low_minutes: int = BATTERY_REPLACE_MINUTES
    battery_low_percent: int = BATTERY_REPLACE_PERCENT
    battery_critical_bars: int = BATTERY_CRITICAL_BARS
    battery_critical_minutes: int = BATTERY_CRITICAL_MINUTES
    battery_critical_percent: int = BATTERY_CRITICAL_PERCENT
    # Bars wobble at a boundary under load: a reading must hold; a fresh pack must read good.
    battery: Hold = Hold(raise_s=5.0, clear_s=10.0)
    # Longer than any dropout worth the name: the performer switched the transmitter off.
    tx_off_confirm_s: float = 3.0
    tx_off: Hold = Hold(raise_s=0.0, clear_s=2.0)
    # Digital receivers mute around -90..-95 dBm: below -85 there is little margin left.
    rf_weak_dbm: float = -85.0
    # Value hysteresis: a signal hovering at the threshold neither raises nor clears.
    rf_weak_clear_dbm: float = -80.0
    # A performer turning round dips the RF for a moment: only a sustained dip matters.
    rf_weak: Hold = Hold(raise_s=5.0, clear_s=5.0)
    # At or below this the receiver hears only noise (the noise floor is about -108 dBm).
    rf_lost_dbm: float = -95.0
    # Dropouts shorter than raise_s are inaudible; clear_s merges a burst into one alert.
    rf_lost: Hold = Hold(raise_s=0.3, clear_s=10.0)
    # RF in the weak band for fade_min_s within fade_window_s before the transmitter
    # vanished: it went out of range rather than being switched off.
    fade_min_s: float = 1.0
    fade_window_s: float = 10.0
    interference: Hold = Hold(raise_s=2.0, clear_s=10.0)
    encryption: Hold = Hold(raise_s=1.0, clear_s=5.0)
    # The session's silence watchdog already waits 2 s; reconnects within this go unnoticed.
    rx_offline: Hold = Hold(raise_s=5.0, clear_s=5.0)
    # Same clip level as the audio_peak tile status; repeated peaks, not a single one.
    clip_dbfs: float = CLIP_DBFS
    clip_count: int = 3
    clip_window_s: float = 10.0
    # Sustained clipping counts as one more peak per this many seconds.
    clip_repeat_s: float = 1.0
    clipping: Hold = Hold(raise_s=0.0, clear_s=20.0)
    ssapi_down: Hold = Hold(raise_s=10.0, clear_s=10.0)
    # Message refreshes (battery minutes, RF level) at most this often per alert.
    update_every_s: float = 30.0
    # Alerts still open from before a restart whose subject does not come back are closed.
    restore_grace_s: float = 60.0

    def hold(self, kind: Kind) -> Hold:
        holds: dict[Kind, Hold] = {
            Kind.BATTERY: self.battery,
            Kind.TX_OFF: self.tx_off,
            Kind.RF_WEAK: self.rf_weak,
            Kind.RF_LOST: self.rf_lost,
            Kind.INTERFERENCE: self.interference,
            Kind.ENCRYPTION: self.encryption,
            Kind.RX_OFFLINE: self.rx_offline,
            Kind.CLIPPING: self.clipping,
            Kind.SSAPI_DOWN: self.ssapi_down,
        }
        return holds[kind]


# --- the alert record ---


@dataclass(slots=True)
class Alert:
    id: str
    kind: Kind
    severity: Severity
    subject: str  # device id, receiver id or System API endpoint
    device_id: str | None
    receiver_id: str | None
    message: str
    started_at: float  # when the condition began (a dropout: when the signal went)
    raised_at: float
    updated_at: float
    cleared_at: float | None = None
    acked_at: float | None = None
    count: int = 1  # how often the condition came back while the alert was open

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    def row(self) -> dict[str, Any]:
        """As stored (epoch seconds)."""
        return {c: getattr(self, c) for c in sql.ALERT_COLUMNS}

    def as_dict(self) -> dict[str, Any]:
        """As served by the REST API and in `system_alert` frames (ISO-8601 times)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "severity": self.severity.value,
            "device_id": self.device_id,
            "receiver_id": self.receiver_id,
            "message": self.message,
            "active": self.active,
            "acked": self.acked_at is not None,
            "count": self.count,
            "started_at": iso(self.started_at),
            "raised_at": iso(self.raised_at),
            "updated_at": iso(self.updated_at),
            "cleared_at": iso(self.cleared_at) if self.cleared_at is not None else None,
            "acked_at": iso(self.acked_at) if self.acked_at is not None else None,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Alert:
        return cls(
            id=str(row["id"]),
            kind=Kind(row["kind"]),
            severity=Severity(row["severity"]),
            subject=str(row["subject"]),
            device_id=row["device_id"],
            receiver_id=row["receiver_id"],
            message=str(row["message"]),
            started_at=float(row["started_at"]),
            raised_at=float(row["raised_at"]),
            updated_at=float(row["updated_at"]),
            cleared_at=row["cleared_at"],
            acked_at=row["acked_at"],
            count=int(row["count"]),
        )


def new_alert_id() -> str:
    return secrets.token_hex(8)


# --- verdicts and the state machine ---


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a rule says now: on True/False/None (no evidence), and how bad, in words."""

    on: bool | None
    severity: Severity = Severity.WARNING
    message: str = ""
    since: float | None = None  # the condition began earlier than now (a dropout)


NO_EVIDENCE = Verdict(None)
OVER = Verdict(False)


class Step(enum.Enum):
    NONE = "none"
    RAISE = "raised"
    UPDATE = "updated"
    CLEAR = "cleared"


@dataclass(slots=True)
class Tracker:
    """One rule for one subject: hold timers and the open alert, if any."""

    kind: Kind
    subject: str
    true_since: float | None = None
    false_since: float | None = None
    alert: Alert | None = None
    restored: bool = False  # open alert loaded from the store, no evidence seen yet
    episode: float | None = None  # start of the latest occurrence a verdict reported


def step(t: Tracker, v: Verdict, now: float, hold: Hold, update_every_s: float) -> Step:
    """Advance a tracker by one verdict; returns what should happen to its alert."""
    if v.on is True:
        t.restored = False
        start = now if v.since is None else v.since
        t.true_since = start if t.true_since is None else min(t.true_since, start)
        new_episode = v.since is not None and v.since != t.episode
        if v.since is not None:
            t.episode = v.since
        if t.alert is None:
            t.false_since = None
            return Step.RAISE if now - t.true_since >= hold.raise_s else Step.NONE
        if t.false_since is not None or new_episode:
            t.alert.count += 1  # came back while the alert was still open
            t.false_since = None
        if v.severity.rank > t.alert.severity.rank:
            return Step.UPDATE
        if v.severity.rank < t.alert.severity.rank:
            return Step.NONE  # severity never goes down while open: keep the worse message
        if v.message != t.alert.message and now - t.alert.updated_at >= update_every_s:
            return Step.UPDATE
        return Step.NONE
    if v.on is False:
        t.restored = False
        t.true_since = None
        if t.alert is None:
            return Step.NONE
        if t.false_since is None:
            t.false_since = now
        return Step.CLEAR if now - t.false_since >= hold.clear_s else Step.NONE
    # No evidence: a pending raise starts again, an open alert stays open.
    if t.alert is None:
        t.true_since = None
    else:
        t.false_since = None
    return Step.NONE


# --- what the rules remember about a channel between readings ---


@dataclass(slots=True)
class Watch:
    seen_on: bool = False  # a transmitter has been on air since we started
    present: bool | None = None
    gone_since: float | None = None
    faded: bool = False
    weak_since: float | None = None
    weak_until: float | None = None
    dropout: tuple[float, float] | None = None  # a short absence that just ended
    peaks: deque[float] = field(default_factory=deque)
    peak_high: bool = False


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def tx_presence(dev: Mapping[str, Any], rx_online: bool) -> bool | None:
    """Whether a transmitter is on air: `rf_quality` is "none" exactly when the receiver says
    there is none; None while offline or when the family cannot tell."""
    if not rx_online:
        return None
    quality = dev.get("rf_quality")
    if quality == "none":
        return False
    if quality in ("excellent", "good", "fair", "poor"):
        return True
    return None


def observe(
    w: Watch, dev: Mapping[str, Any], rx_online: bool, now: float, cfg: AlertConfig
) -> None:
    """Bookkeeping on every reading (cheap): presence edges, RF fade, clip peaks."""
    present = tx_presence(dev, rx_online)
    rf = number(dev.get("rf_signal"))
    if present is True:
        short = w.gone_since is not None and now - w.gone_since < cfg.tx_off_confirm_s
        if w.present is False and w.gone_since is not None and short and not w.faded:
            w.dropout = (w.gone_since, now)
        w.gone_since, w.faded, w.seen_on = None, False, True
        if rf is not None and cfg.rf_lost_dbm < rf <= cfg.rf_weak_dbm:
            w.weak_since = now if w.weak_since is None else w.weak_since
            w.weak_until = now
        elif rf is not None and rf > cfg.rf_weak_dbm:
            w.weak_since = None
    elif present is False and w.present is True:
        w.gone_since = now
        w.faded = (
            w.weak_since is not None
            and w.weak_until is not None
            and w.weak_until - w.weak_since >= cfg.fade_min_s
            and now - w.weak_until <= cfg.fade_window_s
        )
        w.weak_since = w.weak_until = None
    if present is not None:
        w.present = present
    peak = number(dev.get("peak_level")) if present is not False else None
    if peak is not None and peak >= cfg.clip_dbfs:
        if not w.peak_high or (w.peaks and now - w.peaks[-1] >= cfg.clip_repeat_s):
            w.peaks.append(now)
        w.peak_high = True
    else:
        w.peak_high = False
    while w.peaks and now - w.peaks[0] > cfg.clip_window_s:
        w.peaks.popleft()


# --- the rules (pure) ---


def who(dev: Mapping[str, Any]) -> str:
    """How a person names a channel: performer or channel name, and where it is."""
    where = f"{dev.get('receiver_id')} ch {dev.get('channel')}"
    name = dev.get("performer") or dev.get("name")
    return f"{name} ({where})" if name else where


def battery_rule(dev: Mapping[str, Any], w: Watch, cfg: AlertConfig) -> Verdict:
    if w.present is not True or dev.get("charging") is True:
        return NO_EVIDENCE if w.present is not True else OVER
    bars, minutes = number(dev.get("battery_bars")), number(dev.get("battery_minutes"))
    percent = number(dev.get("battery_level"))
    if bars is None and minutes is None and percent is None:
        return NO_EVIDENCE
    known = [v for v in (bars, minutes) if v is not None]
    if known:
        crit = (bars is not None and bars <= cfg.battery_critical_bars) or (
            minutes is not None and minutes <= cfg.battery_critical_minutes
        )
        low = (bars is not None and bars <= cfg.battery_low_bars) or (
            minutes is not None and minutes <= cfg.battery_low_minutes
        )
    else:
        assert percent is not None
        crit = percent <= cfg.battery_critical_percent
        low = percent <= cfg.battery_low_percent
    if not low and not crit:
        return OVER
    parts = []
    if bars is not None:
        parts.append(f"{int(bars)} bar{'s' if bars != 1 else ''}")
    if minutes is not None:
        parts.append(f"about {int(minutes)} min left")
    if not parts and percent is not None:
        parts.append(f"{int(percent)} %")
    detail = ", ".join(parts)
    if crit:
        return Verdict(
            True, Severity.CRITICAL, f"{who(dev)}: battery critical, change now ({detail})"
        )
    return Verdict(True, Severity.WARNING, f"{who(dev)}: battery low ({detail})")


def tx_off_rule(dev: Mapping[str, Any], w: Watch, now: float, cfg: AlertConfig) -> Verdict:
    if w.present is None:
        return NO_EVIDENCE
    if w.present:
        return OVER
    if w.gone_since is None:
        return NO_EVIDENCE  # never seen on air since we started: a spare, or off already
    if w.faded:
        return OVER  # went out of range: rf_lost says so
    if now - w.gone_since < cfg.tx_off_confirm_s:
        return NO_EVIDENCE
    return Verdict(True, Severity.WARNING, f"{who(dev)}: transmitter switched off", w.gone_since)


def rf_lost_rule(dev: Mapping[str, Any], w: Watch, now: float, cfg: AlertConfig) -> Verdict:
    if w.present is None:
        return NO_EVIDENCE
    if w.present:
        if w.dropout is not None:
            start, end = w.dropout
            return Verdict(
                True,
                Severity.CRITICAL,
                f"{who(dev)}: RF dropout, no signal for {end - start:.1f} s",
                start,
            )
        rf = number(dev.get("rf_signal"))
        if rf is not None and rf <= cfg.rf_lost_dbm:
            return Verdict(
                True, Severity.CRITICAL, f"{who(dev)}: RF lost while the transmitter is on"
            )
        return OVER
    if w.gone_since is not None and w.faded:
        return Verdict(
            True, Severity.CRITICAL, f"{who(dev)}: RF lost, transmitter out of range", w.gone_since
        )
    if w.gone_since is not None and now - w.gone_since < cfg.tx_off_confirm_s:
        return NO_EVIDENCE  # a dropout or a switch-off: its length will tell
    return OVER


def rf_weak_rule(dev: Mapping[str, Any], w: Watch, cfg: AlertConfig) -> Verdict:
    if w.present is not True:
        return NO_EVIDENCE
    rf = number(dev.get("rf_signal"))
    if rf is None:
        return NO_EVIDENCE
    if rf <= cfg.rf_weak_dbm:
        return Verdict(True, Severity.WARNING, f"{who(dev)}: RF weak ({rf:.0f} dBm)")
    if rf >= cfg.rf_weak_clear_dbm:
        return OVER
    return NO_EVIDENCE


def flag_rule(
    dev: Mapping[str, Any], rx_online: bool, key: str, severity: Severity, text: str
) -> Verdict:
    value = dev.get(key) if rx_online else None
    if value is True:
        return Verdict(True, severity, f"{who(dev)}: {text}")
    if value is False:
        return OVER
    return NO_EVIDENCE


def clipping_rule(dev: Mapping[str, Any], w: Watch, cfg: AlertConfig) -> Verdict:
    if len(w.peaks) >= cfg.clip_count:
        return Verdict(
            True,
            Severity.WARNING,
            f"{who(dev)}: audio clipping ({len(w.peaks)} peaks in {cfg.clip_window_s:.0f} s)",
        )
    if not w.peaks:
        return OVER
    return NO_EVIDENCE


def device_verdicts(
    dev: Mapping[str, Any], w: Watch, rx_online: bool, now: float, cfg: AlertConfig
) -> Iterator[tuple[Kind, Verdict]]:
    yield Kind.BATTERY, battery_rule(dev, w, cfg)
    yield Kind.TX_OFF, tx_off_rule(dev, w, now, cfg)
    yield Kind.RF_LOST, rf_lost_rule(dev, w, now, cfg)
    yield Kind.RF_WEAK, rf_weak_rule(dev, w, cfg)
    yield (
        Kind.INTERFERENCE,
        flag_rule(dev, rx_online, "interference", Severity.WARNING, "RF interference detected"),
    )
    yield (
        Kind.ENCRYPTION,
        flag_rule(
            dev, rx_online, "encryption_error", Severity.CRITICAL, "encryption mismatch, no audio"
        ),
    )
    yield Kind.CLIPPING, clipping_rule(dev, w, cfg)


def receiver_verdict(rx: Any) -> Verdict:
    label = f"{rx.model or 'receiver'} {rx.id}"
    if rx.online:
        return OVER
    reason = f" ({rx.error})" if rx.error else ""
    return Verdict(True, Severity.CRITICAL, f"Receiver {label} is offline{reason}")


def ssapi_verdict(endpoint: str, status: str, error: str | None) -> Verdict:
    reason = f": {error}" if error else ""
    if status == "down":
        return Verdict(True, Severity.WARNING, f"System API {endpoint} is down{reason}")
    if status == "degraded":
        return Verdict(True, Severity.INFO, f"System API {endpoint} is degraded{reason}")
    return OVER


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
        for row in await sql.select_open_alerts(self.store):
            alert = Alert.from_row(row)
            key = (alert.kind, alert.subject)
            self._trackers[key] = Tracker(alert.kind, alert.subject, alert=alert, restored=True)
            if alert.kind in (Kind.TX_OFF, Kind.RF_LOST) and alert.device_id is not None:
                # Still gone after the restart continues the same alert, not a new one.
                self._watches[alert.device_id] = Watch(
                    seen_on=True, gone_since=alert.started_at, faded=alert.kind is Kind.RF_LOST
                )
        self._unsubscribe = self.hub.subscribe(self.on_event)
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
        await self.flush()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def flush(self) -> None:
        """Wait until every transition so far is in the database."""
        if any(not t.done() for t in self._tasks):
            await self._writes.join()

    async def _writer(self) -> None:
        while True:
            row = await self._writes.get()
            try:
                await sql.upsert_alert(self.store, row)
            except Exception:
                log.exception("could not store alert %s", row.get("id"))
            finally:
                self._writes.task_done()

    async def _ticker(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick()
                await self._maybe_trim()
            except Exception:
                log.exception("alert tick failed")

    async def _maybe_trim(self) -> None:
        now = self.clock()
        if now - self._last_trim >= ALERT_TRIM_EVERY_S:
            self._last_trim = now
            await sql.trim_alerts(self.store, now - ALERT_RETENTION_S, ALERT_TRIM_ROWS)

    # --- inputs ---

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, DeviceChanged):
            dev = self.hub.devices.get(event.device_id)
            if dev is None:
                return
            self._observe(event.device_id, dev)
            if "device_id" in event.changes:  # a channel (re)appeared: show its open alerts
                self._recount(event.device_id, force=True)
            if event.changes & RULE_FIELDS:
                self._evaluate_device(event.device_id, dev, self.clock())
        elif isinstance(event, DeviceRemoved):
            self._watches.pop(event.device_id, None)
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

    def _online(self, dev: DeviceDict) -> bool:
        rx = self.hub.receivers.get(dev["receiver_id"])
        return rx is not None and rx.online

    def _observe(self, device_id: str, dev: DeviceDict) -> None:
        watch = self._watches.setdefault(device_id, Watch())
        observe(watch, dev, self._online(dev), self.clock(), self.config)

    def _evaluate_device(self, device_id: str, dev: DeviceDict, now: float) -> None:
        watch = self._watches.setdefault(device_id, Watch())
        verdicts = device_verdicts(dev, watch, self._online(dev), now, self.config)
        for kind, verdict in verdicts:
            self._apply(kind, device_id, verdict, device_id, dev["receiver_id"])
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
            if self.on_count is not None and dev and dev["receiver_id"] in self.hub.receivers:
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
            row = await sql.select_alert(self.store, alert_id)
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
        await sql.upsert_alert(self.store, alert.row())
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
        rows = await sql.select_alerts(
            self.store, active=active, since=since, device=device, limit=limit
        )
        return [Alert.from_row(r) for r in rows]

    async def overlapping(
        self, device_id: str, receiver_id: str | None, start: float, end: float
    ) -> list[Alert]:
        """Alerts of a channel and its receiver active at some time in [start, end)."""
        await self.flush()
        rows = await sql.alerts_overlapping(self.store, device_id, receiver_id, start, end)
        return [Alert.from_row(r) for r in rows]
