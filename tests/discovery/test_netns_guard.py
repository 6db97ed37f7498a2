"""The namespace helpers themselves: the guard refuses the host namespace."""

from __future__ import annotations

import subprocess
import sys

from .netns import REPO, run_in_netns


def test_scenarios_refuse_to_run_outside_a_namespace() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.discovery.scenarios", "mixed"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode != 0
    assert "refusing to multicast outside a private network namespace" in proc.stderr


def test_the_namespace_has_only_loopback_with_a_multicast_route() -> None:
    code = (
        "import socket, subprocess;"
        "print(sorted(n for _, n in socket.if_nameindex()));"
        "print(subprocess.run(['ip', 'route', 'show', 'table', 'all'],"
        " capture_output=True, text=True).stdout)"
    )
    proc = run_in_netns([sys.executable, "-c", code], timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "['lo']"
    assert "224.0.0.0/4 dev lo" in proc.stdout
