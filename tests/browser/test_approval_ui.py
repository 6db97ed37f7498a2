"""Receivers → "Waiting for approval" in a real browser (`discovery_approval`). Discovery
multicasts, so the daemon, the announced receivers and Chromium all run in a private network
namespace (`approval_scenario.py`); like the discovery tests this fails, never skips,
without one."""

from __future__ import annotations

import sys

import pytest

from ..discovery.netns import run_in_netns

# The daemon (started twice), the probes and a Chromium inside the namespace.
SCENARIO_TIMEOUT_S = 150.0


def test_an_admin_approves_or_ignores_receivers_waiting_for_approval() -> None:
    proc = run_in_netns(
        [sys.executable, "-m", "tests.browser.approval_scenario"], timeout=SCENARIO_TIMEOUT_S
    )
    if proc.returncode != 0:
        pytest.fail(
            f"approval scenario failed (exit {proc.returncode})\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}",
            pytrace=False,
        )
    assert "remembered across a restart" in proc.stdout
