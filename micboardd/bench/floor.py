"""This machine's floor for a daemon that wakes on a tick: the CPU of an empty event loop
(uvloop, as the daemon runs) whose only work is a timer every `READ_TICK_S`.

A wake-up is not free, and on a virtual machine it is dear: the build machine's VM spent
0.42-0.50 % of a core on an empty loop waking 40 times a second (about 100 µs a wake-up,
and the code after it runs with the CPU's caches cold). The daemon's no-client figure
stands on this floor; printed beside it, runs on different days and machines can be told
apart from changes of the code.

Run directly with ``python -m micboardd.bench.floor``.
"""

from __future__ import annotations

import subprocess
import sys

from micboardd.pacing import READ_TICK_S

FLOOR_WINDOW_S = 5.0  # long enough for a few hundred wake-ups; short beside the bench

# Run in a child: a process of its own, with nothing else on its loop, as the daemon is.
_CHILD = """
import asyncio, sys, time
try:
    import uvloop
    run = uvloop.run
except ImportError:
    run = asyncio.run
period, window = float(sys.argv[1]), float(sys.argv[2])

async def main() -> None:
    loop = asyncio.get_running_loop()
    def tick() -> None:
        loop.call_later(period, tick)
    loop.call_later(period, tick)
    await asyncio.sleep(1.0)  # started and settled
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(window)
    print(100 * (time.process_time() - cpu) / (time.monotonic() - wall))

run(main())
"""


def empty_loop_percent(window_s: float = FLOOR_WINDOW_S, period_s: float = READ_TICK_S) -> float:
    """% of a core an empty event loop spends waking every `period_s`."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(period_s), str(window_s)],
        capture_output=True,
        text=True,
        check=True,
        timeout=window_s + 30,
    )
    return float(out.stdout.strip())


if __name__ == "__main__":
    print(
        f"an empty event loop waking every {READ_TICK_S * 1000:g} ms: "
        f"{empty_loop_percent():.3f} % of a core"
    )
