"""The alert rules and their state machine, as pure functions (alerts.py runs them).

Every rule maps what the hub knows about one subject (a channel, a receiver, the System API)
to a `Verdict`: the condition holds (True), is over (False), or nothing can be said right now
(None, e.g. while the receiver is offline). `step()` turns verdicts into transitions with hold
times on both edges, so an input that flaps faster than its hold time never flaps an alert.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from micboardd.alerts.model import Alert, AlertConfig, Hold, Kind, Severity
from micboardd.model import Device, RfQuality, number
from micboardd.sources.ports import QuietBand
from micboardd.state.status import METER_SET

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
    settle_until: float = 0.0  # message updates are not throttled until then (see step)


# A battery alert's message is built from readings that arrive separately (bars come before
# the minutes left): right after it is raised or escalated, one message change within this
# long is sent at once instead of waiting for the update throttle. Other kinds keep their
# first message (a dropout must not become the transient "RF lost" that follows it).
MESSAGE_SETTLE_S = 3.0
SETTLING_KINDS = frozenset({Kind.BATTERY})


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
            if now - t.true_since < hold.raise_s:
                return Step.NONE
            t.settle_until = now + MESSAGE_SETTLE_S
            return Step.RAISE
        if t.false_since is not None or new_episode:
            t.alert.count += 1  # came back while the alert was still open
            t.false_since = None
        if v.severity.rank > t.alert.severity.rank:
            t.settle_until = now + MESSAGE_SETTLE_S
            return Step.UPDATE
        if v.severity.rank < t.alert.severity.rank:
            return Step.NONE  # severity never goes down while open: keep the worse message
        if v.message != t.alert.message:
            if now <= t.settle_until and t.kind in SETTLING_KINDS:
                t.settle_until = 0.0  # one refinement; after that, the throttle again
                return Step.UPDATE
            if now - t.alert.updated_at >= update_every_s:
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
    # The RF held when the transmitter came back on: read while it was off (the noise
    # floor), it says nothing about the transmitter until a sample moves it (see fresh_rf).
    stale_rf: float | None = None
    peaks: deque[float] = field(default_factory=deque)
    peak_high: bool = False


# The RF grades that say a transmitter is on air (`tx_presence`): all but none and unknown.
ON_AIR_GRADES: frozenset[str | None] = frozenset(
    q.value for q in RfQuality if q not in (RfQuality.NONE, RfQuality.UNKNOWN)
)


def tx_presence(dev: Device, rx_online: bool) -> bool | None:
    """Whether a transmitter is on air: `rf_quality` is "none" exactly when the receiver says
    there is none; None while offline or when the family cannot tell."""
    if not rx_online:
        return None
    quality = dev.rf_quality
    if quality == "none":
        return False
    if quality in ON_AIR_GRADES:
        return True
    return None


def fresh_rf(dev: Device, w: Watch) -> float | None:
    """The channel's RF in dBm, None while it is still the reading from before the
    transmitter came back on.

    A receiver says a transmitter is there (a REP) before its next meter sample carries the
    transmitter's RF: 100 ms at the fastest meter rate, seconds with slow meters or a busy
    box, for ever with meters switched off by another controller. Until then the RF held is
    the noise floor of the absent transmitter, and "RF lost while on" would be a false
    CRITICAL for a transmitter being switched on. The hub shows meters only beyond their
    deadband, so a transmitter that came on with no RF at all (its noise floor reading
    exactly as before) is not told from one not yet measured.
    """
    rf = number(dev.rf_signal)
    return None if rf is not None and rf == w.stale_rf else rf


# Changes that leave a transmitter's presence as it was: meters alone (their RF quality and
# the status follow as changes of their own).
METERS_ONLY = METER_SET  # the hub's meters; not rf_quality (presence reads it)
# Every non-empty mix of them, for a membership test (a frozenset's hash is kept: one lookup
# per event instead of a subset test).
METERS_ONLY_CHANGES = frozenset(
    frozenset(key for bit, key in enumerate(sorted(METERS_ONLY)) if mask >> bit & 1)
    for mask in range(1, 1 << len(METERS_ONLY))
)


def quiet(w: Watch) -> bool:
    """Whether nothing is pending for a channel: the transmitter was on air at the last look,
    no fade, weak RF, stale RF or clip peaks being timed. Then a change of METERS_ONLY fields
    inside `quiet_band` changes nothing (`settled`)."""
    if w.present is not True or w.gone_since is not None or w.faded or not w.seen_on:
        return False
    return w.weak_since is None and w.stale_rf is None and not w.peak_high and not w.peaks


def quiet_band(cfg: AlertConfig) -> QuietBand:
    """The hub's `meter_quiet` band of a quiet channel: RF above the weak threshold, the peak
    below clipping, the transmitter still on air (a change of grade that says it is gone or
    unknown is a presence edge for `observe`)."""
    return QuietBand(cfg.rf_weak_dbm, cfg.clip_dbfs, ON_AIR_GRADES)


def settled(w: Watch, dev: Device, cfg: AlertConfig) -> bool:
    """Whether `observe` would change nothing after a change of METERS_ONLY fields: `quiet`,
    and the device inside `quiet_band` (what the hub checks for a quiet channel). Meters
    move ten times a second on every channel; this is what nearly all of them look like."""
    if not quiet(w):
        return False
    rf, peak = number(dev.rf_signal), number(dev.peak_level)
    floor, ceiling, grades = quiet_band(cfg)
    inside = (rf is None or rf > floor) and (peak is None or peak < ceiling)
    return inside and dev.rf_quality in grades


def observe(w: Watch, dev: Device, rx_online: bool, now: float, cfg: AlertConfig) -> None:
    """Bookkeeping on every reading (cheap): presence edges, RF fade, clip peaks."""
    present = tx_presence(dev, rx_online)
    if present is True:
        if w.present is False:
            w.stale_rf = number(dev.rf_signal)
        elif w.stale_rf is not None and number(dev.rf_signal) != w.stale_rf:
            w.stale_rf = None  # a sample moved it: the transmitter's own RF
        short = w.gone_since is not None and now - w.gone_since < cfg.tx_off_confirm_s
        if w.present is False and w.gone_since is not None and short and not w.faded:
            w.dropout = (w.gone_since, now)
        w.gone_since, w.faded, w.seen_on = None, False, True
        rf = fresh_rf(dev, w)  # only read here: RF says nothing without a transmitter
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
    peak = number(dev.peak_level) if present is not False else None
    if peak is not None and peak >= cfg.clip_dbfs:
        if not w.peak_high or (w.peaks and now - w.peaks[-1] >= cfg.clip_repeat_s):
            w.peaks.append(now)
        w.peak_high = True
    else:
        w.peak_high = False
    while w.peaks and now - w.peaks[0] > cfg.clip_window_s:
        w.peaks.popleft()


# --- the rules (pure) ---


def who(dev: Device) -> str:
    """How a person names a channel: performer or channel name, and where it is."""
    where = f"{dev.receiver_id} ch {dev.channel}"
    name = dev.performer or dev.name
    return f"{name} ({where})" if name else where


def battery_rule(dev: Device, w: Watch, cfg: AlertConfig) -> Verdict:
    if w.present is not True or dev.charging is True:
        return NO_EVIDENCE if w.present is not True else OVER
    bars, minutes = number(dev.battery_bars), number(dev.battery_minutes)
    percent = number(dev.battery_level)
    if bars is None and minutes is None and percent is None:
        return NO_EVIDENCE
    if bars is not None or minutes is not None:
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


def tx_off_rule(dev: Device, w: Watch, now: float, cfg: AlertConfig) -> Verdict:
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


def rf_lost_rule(dev: Device, w: Watch, now: float, cfg: AlertConfig) -> Verdict:
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
        rf = fresh_rf(dev, w)
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


def rf_weak_rule(dev: Device, w: Watch, cfg: AlertConfig) -> Verdict:
    if w.present is not True:
        return NO_EVIDENCE
    rf = fresh_rf(dev, w)
    if rf is None:
        return NO_EVIDENCE
    if rf <= cfg.rf_weak_dbm:
        return Verdict(True, Severity.WARNING, f"{who(dev)}: RF weak ({rf:.0f} dBm)")
    if rf >= cfg.rf_weak_clear_dbm:
        return OVER
    return NO_EVIDENCE


def flag_rule(dev: Device, rx_online: bool, key: str, severity: Severity, text: str) -> Verdict:
    value = getattr(dev, key) if rx_online else None
    if value is True:
        return Verdict(True, severity, f"{who(dev)}: {text}")
    if value is False:
        return OVER
    return NO_EVIDENCE


def clipping_rule(dev: Device, w: Watch, cfg: AlertConfig) -> Verdict:
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
    dev: Device, w: Watch, rx_online: bool, now: float, cfg: AlertConfig
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
    if rx.online:
        return OVER
    label = f"{rx.model or 'receiver'} {rx.id}"
    reason = f" ({rx.error})" if rx.error else ""
    return Verdict(True, Severity.CRITICAL, f"Receiver {label} is offline{reason}")


def ssapi_verdict(endpoint: str, status: str, error: str | None) -> Verdict:
    reason = f": {error}" if error else ""
    if status == "down":
        return Verdict(True, Severity.WARNING, f"System API {endpoint} is down{reason}")
    if status == "degraded":
        return Verdict(True, Severity.INFO, f"System API {endpoint} is degraded{reason}")
    return OVER
