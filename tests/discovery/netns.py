"""Run code inside a private network namespace, so multicast never reaches a real network.

`unshare -n` gives the child a namespace with only `lo`; we bring it up and route the
multicast range to it, so SLP and mDNS go from one socket of the namespace to another and
nowhere else. This needs root (CI runs as root). Without it the tests that multicast FAIL
with a clear message: skipping them would hide that discovery went untested.

`guard()` is the second lock: code meant for the namespace refuses to run anywhere an
interface other than `lo` exists.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Bring loopback up and send the whole multicast range through it (SLP 239.255.254.253,
# mDNS 224.0.0.251); the namespace has no other interface.
SETUP = "ip link set lo up && ip route add 224.0.0.0/4 dev lo"
# One scenario: a few seconds of announcing and probing, far less on an idle machine.
DEFAULT_TIMEOUT_S = 45.0


def unavailable() -> str | None:
    """Why a private namespace cannot be made here, or None if it can."""
    if os.geteuid() != 0:
        return "needs root to create a network namespace (unshare -n); CI runs as root"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (util-linux / iproute2)"
    return None


def run_in_netns(
    argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run `argv` in a fresh private network namespace; fails the test if none can be made."""
    reason = unavailable()
    if reason is not None:
        pytest.fail(f"discovery tests must run in a private network namespace: {reason}")
    env = {**os.environ, "PYTHONPATH": str(REPO), "DISCOVERY_NETNS_TEST": "1"}
    env.pop("MICBOARDD_CONFIG", None)
    cmd = ["unshare", "-n", "--", "sh", "-c", f'{SETUP} && exec "$@"', "netns", *argv]
    return subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_scenario(name: str, *args: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """Run `tests/discovery/scenarios.py NAME` in a namespace; its stdout if it passed."""
    proc = run_in_netns(
        [sys.executable, "-m", "tests.discovery.scenarios", name, *args], timeout=timeout
    )
    if proc.returncode != 0:
        pytest.fail(
            f"scenario {name!r} failed (exit {proc.returncode})\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}",
            pytrace=False,
        )
    return proc.stdout


def guard() -> None:
    """Exit unless this process is alone with `lo` (inside the namespace `run_in_netns` made)."""
    names = sorted(name for _, name in socket.if_nameindex())
    if names != ["lo"] or os.environ.get("DISCOVERY_NETNS_TEST") != "1":
        sys.exit(f"refusing to multicast outside a private network namespace (interfaces {names})")
