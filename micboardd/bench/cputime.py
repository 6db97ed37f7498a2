"""CPU time of another process, to the nanosecond where the system can say, and how often it
was woken.

`/proc/<pid>/stat` counts in clock ticks (1/100 s): over a 5 s window that is 0.2 % of a core
per tick, a tenth of the 2 % an ingest figure is judged against, and ratios of two such
figures (100 phones over 10) moved by ±0.3 from that alone. Linux gives every process a
CPU-time clock (`clock_getcpuclockid`, all its threads) read to the nanosecond; the tick
count stays the fallback where it cannot be had.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _libc() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None
    return lib if hasattr(lib, "clock_getcpuclockid") else None


_LIBC = _libc()


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` (every thread) so far."""
    if _LIBC is not None:
        clock = ctypes.c_int()
        if _LIBC.clock_getcpuclockid(pid, ctypes.byref(clock)) == 0:
            try:
                return time.clock_gettime(clock.value)
            except OSError:
                pass  # gone, or not ours to read: the tick count says the same or raises
    return ticks_cpu_s(pid)


def wakeups(pid: int) -> int:
    """Times process `pid`'s threads have gone to sleep and been woken so far (voluntary
    context switches): each wake-up costs CPU of its own and runs the code after it cold."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return total


def ticks_cpu_s(pid: int) -> float:
    """The same from /proc/<pid>/stat, in whole clock ticks."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
