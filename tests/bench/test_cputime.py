"""The bench reads a process's CPU time finer than the clock tick, and the same as the kernel;
and how often it was woken."""

from __future__ import annotations

import subprocess
import sys

from micboardd.bench.cputime import CLK_TCK, process_cpu_s, ticks_cpu_s, wakeups

from ..helpers import wait_for

# A child working and sleeping in short turns, as the daemon does, until its stdin closes.
WORK_AND_SLEEP = """
import sys, threading, time
t = threading.Thread(target=sys.stdin.read, daemon=True)
t.start()
while t.is_alive():
    end = time.perf_counter() + 0.0013
    while time.perf_counter() < end:
        pass
    time.sleep(0.001)
"""


def test_a_working_process_s_cpu_time_is_read_finer_than_a_tick_and_as_proc_says() -> None:
    child = subprocess.Popen([sys.executable, "-c", WORK_AND_SLEEP], stdin=subprocess.PIPE)
    try:
        readings: list[float] = []

        def moved_finer_than_ticks() -> bool:
            readings.append(process_cpu_s(child.pid))
            # A reading that is not a whole number of ticks: the tick count cannot say it.
            return any(abs(r * CLK_TCK - round(r * CLK_TCK)) > 0.01 for r in readings)

        wait_for(moved_finer_than_ticks, 20.0, "a CPU time between two ticks")
        wait_for(lambda: ticks_cpu_s(child.pid) >= 0.1, 20.0, "the child working")
        ticks, fine = ticks_cpu_s(child.pid), process_cpu_s(child.pid)
        assert readings == sorted(readings)
        assert ticks - 2 / CLK_TCK <= fine < ticks + 0.25, (ticks, fine)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)


def test_a_process_that_sleeps_in_short_turns_is_counted_waking_each_time() -> None:
    child = subprocess.Popen([sys.executable, "-c", WORK_AND_SLEEP], stdin=subprocess.PIPE)
    try:
        first = wakeups(child.pid)
        # About 400 sleeps a second (1.3 ms of work, 1 ms of sleep): a hundred more soon.
        wait_for(lambda: wakeups(child.pid) >= first + 100, 20.0, "the child's wake-ups")
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
