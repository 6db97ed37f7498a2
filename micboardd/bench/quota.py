"""A CPU quota for one process, for the benchmark's Pi-class scenario: a child cgroup with
`cpu.max` (cgroup v2) or `cpu.cfs_quota_us` (v1), made for the run and removed after it.

Needs root and a writable cgroup hierarchy (a container often has neither); `CpuQuota.open`
then raises `QuotaUnavailable` saying why, and the benchmark prints that instead of figures.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# The scheduler's accounting period: what systemd's CPUQuota= uses (100 ms).
PERIOD_US = 100_000


class QuotaUnavailable(Exception):
    """No CPU quota can be set here (the message says why)."""


class CpuQuota:
    """A cgroup limiting its processes to `share` of one core."""

    def __init__(self, path: Path, parent_procs: Path) -> None:
        self.path = path
        self.parent_procs = parent_procs
        self.pids: list[int] = []

    @classmethod
    def open(cls, share: float, name: str = "", period_us: int = 0) -> CpuQuota:
        """`share` of one core per `period_us` (default PERIOD_US), in a cgroup of this
        process's own (two benchmarks at once must not share one quota)."""
        name = name or f"micboardd-bench-{os.getpid()}"
        period_us = period_us or PERIOD_US
        quota_us = int(period_us * share)
        try:
            if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2, unified
                if "cpu" not in (CGROUP_ROOT / "cgroup.controllers").read_text().split():
                    raise QuotaUnavailable("cgroup v2 without the cpu controller")
                with contextlib.suppress(OSError):
                    (CGROUP_ROOT / "cgroup.subtree_control").write_text("+cpu")
                path = CGROUP_ROOT / name
                path.mkdir(exist_ok=True)
                (path / "cpu.max").write_text(f"{quota_us} {period_us}")
                return cls(path, CGROUP_ROOT / "cgroup.procs")
            v1 = CGROUP_ROOT / "cpu"
            if not (v1 / "cpu.cfs_quota_us").exists():
                raise QuotaUnavailable(f"no cgroup cpu controller under {CGROUP_ROOT}")
            path = v1 / name
            path.mkdir(exist_ok=True)
            (path / "cpu.cfs_period_us").write_text(str(period_us))
            (path / "cpu.cfs_quota_us").write_text(str(quota_us))
            return cls(path, v1 / "cgroup.procs")
        except PermissionError as exc:
            raise QuotaUnavailable(f"cgroups not writable here (run as root): {exc}") from exc
        except OSError as exc:
            raise QuotaUnavailable(f"cannot make a cgroup: {exc}") from exc

    def add(self, pid: int) -> None:
        """Move a process (all its threads) into the quota."""
        (self.path / "cgroup.procs").write_text(str(pid))
        self.pids.append(pid)

    def throttled_s(self) -> float:
        """Time the quota held the processes back so far."""
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "throttled_usec":
                return int(value) / 1e6
            if key == "throttled_time":  # v1: nanoseconds
                return int(value) / 1e9
        return 0.0

    def close(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(OSError):
                if os.path.exists(f"/proc/{pid}"):
                    self.parent_procs.write_text(str(pid))
        with contextlib.suppress(OSError):
            self.path.rmdir()
