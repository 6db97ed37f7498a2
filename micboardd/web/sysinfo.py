"""Process figures for system_health: CPU share since the last call, resident memory."""

from __future__ import annotations

import os
import resource
import time

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * _PAGE / 1_048_576, 1)
    except (OSError, ValueError, IndexError):
        # Not Linux: ru_maxrss is the peak, in KiB on Linux and bytes on macOS; good enough.
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class CpuMeter:
    """Share of one core used by this process between two calls of `percent()`."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._cpu = time.process_time()

    def percent(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        span = wall - self._wall
        share = (cpu - self._cpu) / span * 100 if span > 0 else 0.0
        self._wall, self._cpu = wall, cpu
        return round(share, 1)
