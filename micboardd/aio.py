"""asyncio helpers: cancellation that stays honest on Python 3.11, and the one retry schedule.

On Python 3.11 (Debian bookworm's Python) two patterns lose a cancellation, and a lost cancellation is a task that was told to
stop and keeps running (a receiver session that stayed connected and held up a shutdown):
- `asyncio.wait_for` returns normally when its inner await finishes in the same loop pass as
  the cancel (banned by ruff's TID251; use `async with asyncio.timeout()`);
- `with suppress(CancelledError): await task` after `task.cancel()` absorbs the caller's own
  cancellation along with the task's. `cancel_and_wait` absorbs only the task's.

Every reconnect and retry in the code base (receivers, the System API, Redis) waits by
`backoff_delay`; `Backoff` adds the attempt counter and a wait that news can cut short.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel `tasks` (None and finished ones are fine) and wait until all have ended.

    A task ending by its cancellation is the expected outcome. If the caller is cancelled
    while waiting, that cancellation is raised at once (every task has been cancelled; the
    one awaited has ended). If a task ended with an exception of its own, the first such
    exception is raised once all have ended.
    """
    pending = [t for t in tasks if t is not None]
    for task in pending:
        task.cancel()
    failure: BaseException | None = None
    for task in pending:
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the caller itself is being cancelled: not ours to absorb
        except Exception as exc:
            failure = failure or exc
    if failure is not None:
        raise failure


# Jitter of every retry schedule: +-25 % keeps a venue's receivers (or several instances)
# that failed together from retrying in step after a power cut.
BACKOFF_JITTER = 0.25


def backoff_delay(
    attempt: int,
    *,
    first_s: float,
    max_s: float,
    jitter: float = BACKOFF_JITTER,
    rng: Callable[[], float] = random.random,
) -> float:
    """The one retry schedule: `first_s`, doubling per attempt up to `max_s`, +-`jitter`.

    `attempt` counts from 0 (the first retry). Pure apart from `rng`.
    """
    base = min(max_s, first_s * 2.0 ** min(max(attempt, 0), 32))
    return max(0.0, base * (1 + jitter * (2 * rng() - 1)))


class Backoff:
    """A retry schedule with its attempt counter, and a wait that a caller can cut short.

    `wake()` ends the current (or next) wait at once: an announcement that a device is back
    is better news than any timer. A success that lasted `reset_after_s` starts it over.
    """

    def __init__(
        self,
        *,
        first_s: float,
        max_s: float,
        reset_after_s: float,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self.reset_after_s = reset_after_s
        self.attempt = 0
        self._rng = rng
        self._woken = asyncio.Event()

    def next_delay(self, ran_for_s: float = 0.0) -> float:
        """The wait before the next try, given how long the last one ran."""
        if ran_for_s >= self.reset_after_s:
            self.attempt = 0
        delay = backoff_delay(self.attempt, first_s=self.first_s, max_s=self.max_s, rng=self._rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0

    def wake(self) -> None:
        self._woken.set()

    async def wait(self, delay: float) -> bool:
        """Sleep `delay` s unless woken first; True when woken."""
        try:
            async with asyncio.timeout(delay):
                await self._woken.wait()
        except TimeoutError:
            return False
        finally:
            woken = self._woken.is_set()
            self._woken.clear()
        return woken


# --- reporting a bug that was caught to keep going ---------------------------------------------

# A callable's name in a log line is cut to this many characters.
MAX_WHERE_CHARS = 80


def callable_name(fn: object) -> str:
    """A callable's qualified name (`FanOut.flush`), never its repr."""
    inner = getattr(fn, "func", None)  # functools.partial
    if inner is not None and inner is not fn:
        return callable_name(inner)
    name = getattr(fn, "__qualname__", None)
    if isinstance(name, str):
        name = " ".join(name.split())
        return name if len(name) <= MAX_WHERE_CHARS else name[: MAX_WHERE_CHARS - 1] + "…"
    return type(fn).__qualname__


def report_to_loop(exc: BaseException, where: str) -> bool:
    """Hand an exception we caught (to keep going) to the running loop's handler, which
    logs and counts it like any other (`daemon/loop_errors.py`); `where` names what failed
    ("hub listener X.y").

    Returns False when no loop is running: the caller then logs it itself.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    loop.call_exception_handler({"message": f"{where} failed", "exception": exc, "where": where})
    return True


def loop_implementation() -> str:
    """`uvloop` or `asyncio`: whose event loop is running (the daemon's is uvloop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "none"
    return type(loop).__module__.split(".", 1)[0]
