"""cancel_and_wait: absorbs only the cancelled task's own cancellation, never its caller's."""

from __future__ import annotations

import asyncio

import pytest

from micboardd.aio import cancel_and_wait

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
