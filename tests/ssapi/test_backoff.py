"""Retry timing and the circuit breaker, with an injected clock (no sleeping)."""

from __future__ import annotations

import pytest

from micboardd.ssapi.backoff import BreakerState, CircuitBreaker, parse_retry_after, retry_delay


def state(breaker: CircuitBreaker) -> BreakerState:
    """The property, read through a call so mypy does not narrow it between clock steps."""
    return breaker.state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_retry_delay_doubles_to_the_cap_with_jitter() -> None:
    plain = [retry_delay(n, base_s=0.5, cap_s=5.0, rng=lambda: 0.5) for n in range(6)]
    assert plain == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    low = retry_delay(0, base_s=1.0, cap_s=5.0, rng=lambda: 0.0)
    high = retry_delay(0, base_s=1.0, cap_s=5.0, rng=lambda: 1.0)
    assert low == pytest.approx(0.75) and high == pytest.approx(1.25)


def test_retry_after_wins_over_our_schedule() -> None:
    assert retry_delay(0, base_s=0.5, cap_s=5.0, retry_after=7.0) == 7.0
    assert retry_delay(3, base_s=0.5, cap_s=5.0, retry_after=0.0) == 0.0


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now) == pytest.approx(30.0)
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_breaker_opens_after_threshold_and_half_opens_for_one_trial() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, open_s=10.0, max_open_s=40.0, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_in() == pytest.approx(10.0)
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.allow()  # the one trial
    assert not breaker.allow()  # no second request while the trial is out
    breaker.record_failure()  # trial failed: open twice as long
    assert state(breaker) is BreakerState.OPEN and breaker.retry_in() == pytest.approx(20.0)
    clock.now += 20.0
    assert breaker.allow()
    breaker.record_failure()
    clock.now += 40.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.retry_in() == pytest.approx(40.0)  # capped at max_open_s
    clock.now += 40.0
    assert breaker.allow()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED and breaker.failures == 0
    assert breaker.allow() and breaker.allow()


def test_a_late_failure_from_before_opening_does_not_extend_the_pause() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, open_s=10.0, max_open_s=40.0, clock=clock)
    breaker.record_failure()
    clock.now += 5
    breaker.record_failure()  # a request that was already in flight
    assert breaker.retry_in() == pytest.approx(5.0)


def test_when_the_source_tries_again() -> None:
    from micboardd.ssapi.errors import (
        BadResponse,
        CircuitOpen,
        ServerError,
        TlsMismatch,
        Unauthorized,
    )
    from micboardd.ssapi.tuning import Tuning, next_attempt_in

    t = Tuning(failure_retry_base_s=2.0, failure_retry_cap_s=60.0, unauthorized_retry_s=60.0)
    assert [next_attempt_in(BadResponse("x"), n, t) for n in (1, 2, 3, 6, 7)] == [
        2.0,
        4.0,
        8.0,
        60.0,
        60.0,
    ]
    assert next_attempt_in(Unauthorized("x"), 1, t) == 60.0
    assert next_attempt_in(TlsMismatch("x"), 9, t) == 60.0
    assert next_attempt_in(CircuitOpen("x", retry_in=30.0), 1, t) == 30.0
    assert next_attempt_in(ServerError("x", retry_after=120.0), 1, t) == 120.0
    assert next_attempt_in(ServerError("x", retry_after=0.0), 1, t) == 2.0
