"""Retry timing and the circuit breaker: pure logic with an injected clock, no I/O.

`retry_delay` is the shared schedule (`micboardd.aio.backoff_delay`) yielding to a server's
`Retry-After`. `CircuitBreaker` stops sending after repeated failures, so a dead or
overloaded server is asked once per open period instead of once per device per poll.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from micboardd.aio import backoff_delay


def retry_delay(
    attempt: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (0 = the first retry).

    A `Retry-After` from the server wins over our own schedule (even when longer than the
    cap: the server knows when it will be back); our own schedule doubles up to `cap_s`.
    """
    if retry_after is not None and retry_after >= 0:
        return retry_after
    return backoff_delay(attempt, first_s=base_s, max_s=cap_s, rng=rng)


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_epoch)


class BreakerState(enum.StrEnum):
    CLOSED = "closed"  # requests flow
    OPEN = "open"  # requests refused until the open period ends
    HALF_OPEN = "half_open"  # one trial request allowed


@dataclass(slots=True)
class CircuitBreaker:
    """Opens after `threshold` consecutive failures, for `open_s`, doubling up to `max_open_s`
    while trial requests keep failing; one success closes it."""

    threshold: int
    open_s: float
    max_open_s: float
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    period_s: float = 0.0
    trial_in_flight: bool = False

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self.opened_at >= self.period_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def retry_in(self) -> float:
        """Seconds until a request will be let through (0 when closed or half open)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.period_s - self.clock())

    def allow(self) -> bool:
        """May a request go out now? In half-open state only one trial at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.period_s = 0.0
        self.trial_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.opened_at is not None:
            if self.trial_in_flight:
                # The trial failed: stay open, twice as long.
                self.period_s = min(self.max_open_s, self.period_s * 2)
                self.opened_at = self.clock()
            # else: a request sent before the breaker opened; it changes nothing.
        elif self.failures >= self.threshold:
            self.period_s = self.open_s
            self.opened_at = self.clock()
        self.trial_in_flight = False
