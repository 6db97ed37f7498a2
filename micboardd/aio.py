"""asyncio helpers that keep cancellation honest on Python 3.11 (Debian bookworm's Python).

Two patterns lose a cancellation there, and a lost cancellation is a task that was told to
stop and keeps running (a receiver session that stayed connected and held up a shutdown):
- `asyncio.wait_for` returns normally when its inner await finishes in the same loop pass as
  the cancel (banned by ruff's TID251; use `async with asyncio.timeout()`);
- `with suppress(CancelledError): await task` after `task.cancel()` absorbs the caller's own
  cancellation along with the task's. `cancel_and_wait` absorbs only the task's.
"""

from __future__ import annotations

import asyncio
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
