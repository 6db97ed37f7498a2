"""Receivers → "Rejected by discovery" in a real browser. Discovery multicasts, so the daemon,
the announcing boxes and Chromium all run in a private network namespace
(`rejected_scenario.py`); like the discovery tests this fails, never skips, without one."""

from __future__ import annotations

import sys

import pytest

from ..discovery.netns import run_in_netns

# The daemon, the probes and a Chromium start inside the namespace: a minute at most.
SCENARIO_TIMEOUT_S = 120.0


def test_rejected_candidates_are_listed_with_the_reason() -> None:
    proc = run_in_netns(
        [sys.executable, "-m", "tests.browser.rejected_scenario"], timeout=SCENARIO_TIMEOUT_S
    )
    if proc.returncode != 0:
        pytest.fail(
            f"rejected-list scenario failed (exit {proc.returncode})\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}",
            pytrace=False,
        )
    assert "rejected list rendered: 127.0.3.11, 127.0.3.12" in proc.stdout
