"""The beat (micboardd.pacing): periodic work lands on whole multiples of its period on the
loop's clock, so timers of different tasks fall due in the same millisecond."""

from __future__ import annotations

import asyncio
import random

import pytest

from micboardd.pacing import (
    READ_TICK_S,
    beat_after,
    beat_at_or_after,
    next_beat,
    sleep_to_beat,
)


def on_grid(t: float, period: float) -> bool:
    return round(t * 1000) % round(period * 1000) == 0


def test_the_next_beat_is_after_now_on_the_grid_and_within_one_period() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        now = rng.uniform(0, 1e6)
        for period in (READ_TICK_S, 0.1, 1.0, 5.0):
            beat = next_beat(now, period)
            assert now < beat <= now + period + 0.001
            assert on_grid(beat, period)


def test_a_now_that_is_a_beat_waits_for_the_next_one() -> None:
    # 23795.3 * 1000 is 23795299.999999996 as a float: still the beat at .300, so the next
    # is .325 (a floor would have given .300 again: a timer due now, run twice).
    assert next_beat(23795.3) == pytest.approx(23795.325)
    assert next_beat(100.0, 1.0) == 101.0


def test_a_deadline_moves_to_the_beat_never_earlier_and_at_most_one_period_later() -> None:
    rng = random.Random(6)
    for _ in range(2000):
        when = rng.uniform(0, 1e6)
        beat = beat_at_or_after(when)
        assert when <= beat < when + READ_TICK_S + 0.001
        assert on_grid(beat, READ_TICK_S)
    assert beat_at_or_after(23795.3) == 23795.3  # on the beat: kept
    assert beat_at_or_after(23795.300000001) == pytest.approx(23795.325)


@pytest.mark.both_loops
async def test_sleeping_to_the_beat_wakes_no_sooner_than_the_beat() -> None:
    loop = asyncio.get_running_loop()
    for period in (READ_TICK_S, 0.05):
        beat = next_beat(loop.time(), period)
        await sleep_to_beat(period)
        assert loop.time() >= beat


@pytest.mark.both_loops
async def test_a_delay_from_now_ends_on_a_beat_no_sooner() -> None:
    loop = asyncio.get_running_loop()
    for delay in (0.0, 0.01, 2.0, -1.0):
        before = loop.time()
        beat = beat_after(delay)
        assert beat >= before + max(delay, 0.0)
        assert on_grid(beat, READ_TICK_S)
