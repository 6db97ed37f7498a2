"""Adaptive polling when no subscription is available: which device to ask next, and when.

Normal devices every 30 s, devices in an alert state (low battery, clipping) every 10 s,
offline devices every 60 s. Pure: the clock is passed in, nothing is awaited here.
"""

from __future__ import annotations

from collections.abc import Iterable

from micboardd.ssapi.mapping import is_alert
from micboardd.ssapi.models import DeviceDetails, DeviceState
from micboardd.ssapi.tuning import DEFAULT_TUNING, Tuning


def interval_for(details: DeviceDetails, tuning: Tuning = DEFAULT_TUNING) -> float:
    if details.info.state is not DeviceState.ONLINE:
        return tuning.poll_offline_s
    if is_alert(details):
        return tuning.poll_alert_s
    return tuning.poll_normal_s


class PollPlan:
    """When each device is next due. New devices are due at once."""

    def __init__(self, tuning: Tuning = DEFAULT_TUNING) -> None:
        self.tuning = tuning
        self.due_at: dict[str, float] = {}

    def track(self, device_ids: Iterable[str], now: float) -> None:
        """Follow exactly these devices: new ones are due now, vanished ones dropped."""
        wanted = set(device_ids)
        for device_id in list(self.due_at):
            if device_id not in wanted:
                del self.due_at[device_id]
        for device_id in wanted:
            self.due_at.setdefault(device_id, now)

    def all_due_now(self, now: float) -> None:
        """After the subscription drops: everything may have changed meanwhile."""
        for device_id in self.due_at:
            self.due_at[device_id] = now

    def polled(self, details: DeviceDetails, now: float) -> float:
        """Record a poll (or a failed one); returns the interval chosen."""
        interval = interval_for(details, self.tuning)
        self.due_at[details.device_id] = now + interval
        return interval

    def due(self, now: float) -> list[str]:
        """Devices due at `now`, most overdue first."""
        return sorted((d for d, t in self.due_at.items() if t <= now), key=self.due_at.__getitem__)

    def next_due(self) -> float | None:
        return min(self.due_at.values(), default=None)
