"""cancel_and_wait absorbs only the cancelled task's own cancellation, never its caller's;
the one retry schedule (backoff_delay, Backoff)."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from micboardd.aio import Backoff, backoff_delay, cancel_and_wait

pytestmark = pytest.mark.both_loops  # cancellation and timeouts


async def forever() -> None:
    await asyncio.Event().wait()


async def test_cancelled_tasks_end_and_none_is_fine() -> None:
    tasks = [asyncio.create_task(forever()) for _ in range(3)]
    await asyncio.sleep(0)
    await cancel_and_wait(tasks[0], None, *tasks[1:])
    assert all(t.cancelled() for t in tasks)
    await cancel_and_wait()  # nothing to do


async def test_a_task_that_failed_on_its_own_raises_its_exception() -> None:
    async def broken() -> None:
        raise ValueError("bug")

    task = asyncio.create_task(broken())
    other = asyncio.create_task(forever())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="bug"):
        await cancel_and_wait(task, other)
    assert other.cancelled(), "the others still end first"


async def test_the_callers_own_cancellation_is_raised() -> None:
    # A task that takes a while to end (cleanup on cancel): its caller is cancelled meanwhile,
    # and a stop() under a timeout must not run on as if nothing happened.
    cleaning = asyncio.Event()
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await forever()
        finally:
            cleaning.set()
            await release.wait()

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancel_and_wait(task))
    await cleaning.wait()
    stopper.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    assert stopper.cancelled() and task.cancelled()


async def test_a_timeout_around_a_slow_stop_fires() -> None:
    async def ignores_cancel_once() -> None:
        try:
            await forever()
        except asyncio.CancelledError:
            await forever()  # a misbehaving task: cleanup that never ends on its own

    task = asyncio.create_task(ignores_cancel_once())
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await cancel_and_wait(task)
    assert task.cancelled(), "the timeout's cancellation reached the task as well"


# --- the one retry schedule ---


def test_backoff_doubles_from_its_first_delay_up_to_the_cap_with_jitter() -> None:
    delay = partial(backoff_delay, first_s=0.5, max_s=3.0)
    assert [delay(n, rng=lambda: 0.5) for n in range(5)] == pytest.approx([0.5, 1, 2, 3, 3])
    assert delay(60, rng=lambda: 1.0) == pytest.approx(3.75)  # +25 %
    assert delay(60, rng=lambda: 0.0) == pytest.approx(2.25)  # -25 %
    assert delay(-1, rng=lambda: 0.5) == pytest.approx(0.5)


def test_backoff_counts_attempts_and_starts_over_after_a_long_enough_success() -> None:
    b = Backoff(first_s=1.0, max_s=8.0, reset_after_s=10.0, rng=lambda: 0.5)
    assert [b.next_delay(0.1) for _ in range(3)] == pytest.approx([1, 2, 4])
    assert b.next_delay(ran_for_s=10.0) == pytest.approx(1)  # the link was healthy
    assert b.next_delay(0.1) == pytest.approx(2)


async def test_a_wake_cuts_the_wait_short_and_is_used_up() -> None:
    b = Backoff(first_s=1.0, max_s=8.0, reset_after_s=10.0)
    waiting = asyncio.create_task(b.wait(60.0))
    await asyncio.sleep(0)
    b.wake()
    async with asyncio.timeout(5):
        assert await waiting is True
    assert await b.wait(0.01) is False  # the wake was consumed
    b.wake()  # a wake before the wait still counts: the news came while connecting
    assert await b.wait(60.0) is True
