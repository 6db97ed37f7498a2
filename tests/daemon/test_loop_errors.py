"""The daemon's own loop exception handler: one readable line per bug, counted per kind in
/api/health and /metrics. The daemon runs in this process on a real loop (asyncio's and
uvloop, the one production uses) and real callbacks raise inside it."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from micboardd.daemon import loop_errors
from micboardd.daemon.loop_errors import LOG_BURST, MAX_KINDS, LoopErrors, describe
from micboardd.daemon.run import Daemon
from micboardd.sources.ports import HubEvent
from micboardd.web.context import AppContext
from tests.helpers import async_wait_for

pytestmark = pytest.mark.both_loops  # the handler sees what each loop hands it

# One line: what, where (callback and innermost frame), the message, the count so far.
LINE = re.compile(
    r"^unexpected (?P<kind>\w+) in (?P<where>.+?) at (?P<at>tests/daemon/test_loop_errors\.py:\d+ "
    r"\(\w+\)): (?P<message>.+) \[(?P<count>\d+) so far\]$"
)


@dataclass
class Exploding:
    """A callback's owner with a repr of many kilobytes, as FanOut and AppContext have."""

    ctx: AppContext
    ballast: list[int] = field(default_factory=lambda: list(range(5000)))

    def boom(self) -> None:
        raise ValueError("the callback broke")

    def on_event(self, event: HubEvent) -> None:
        raise KeyError("a listener broke")


def explode() -> None:
    raise ValueError("a plain function broke")


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == loop_errors.__name__]


async def test_a_raising_callback_is_one_line_and_counted_in_health_and_metrics(
    daemon_in_process: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = daemon_in_process
    assert daemon.ctx is not None
    caplog.set_level(logging.INFO)
    owner = Exploding(daemon.ctx)
    loop = asyncio.get_running_loop()
    loop.call_soon(owner.boom)
    loop.call_later(0.01, owner.boom)  # a TimerHandle: uvloop names neither callback
    unsubscribe = daemon.ctx.hub.subscribe(owner.on_event)
    daemon.ctx.hub.upsert_receiver("rx", address="127.0.0.9")  # one ConnectionChanged
    unsubscribe()
    await async_wait_for(lambda: len(lines(caplog)) >= 3, what="three lines")

    out = lines(caplog)
    assert len(out) == 3, out
    for line in out:
        assert len(line) < 300 and "\n" not in line, line
        assert "AppContext(" not in line and "ballast" not in line, "no repr of the owner"
    parsed = [m.groupdict() for line in out if (m := LINE.match(line))]
    assert len(parsed) == 3, out
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for p in parsed:
        by_kind.setdefault(p["kind"], []).append(p)
    assert [(p["where"], p["message"], p["count"]) for p in by_kind["ValueError"]] == [
        ("callback Exploding.boom", "the callback broke", "1"),
        ("callback Exploding.boom", "the callback broke", "2"),
    ]
    (listener,) = by_kind["KeyError"]
    assert listener["where"] == "hub listener Exploding.on_event on ConnectionChanged"
    assert listener["at"].endswith("(on_event)")
    assert not any(r.exc_info for r in caplog.records), "the traceback only at DEBUG"

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{daemon.port}", timeout=5) as client:
        health = (await client.get("/api/health")).json()
        metrics = (await client.get("/metrics")).text
    expected_loop = "uvloop" if "uvloop" in type(loop).__module__ else "asyncio"
    assert health["event_loop"] == {
        "implementation": expected_loop,
        "exceptions": 3,
        "exceptions_by_kind": {"KeyError": 1, "ValueError": 2},
    }
    assert 'micboardd_loop_exceptions_total{kind="ValueError"} 2\n' in metrics
    assert 'micboardd_loop_exceptions_total{kind="KeyError"} 1\n' in metrics


async def test_the_traceback_is_logged_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    handler = LoopErrors()
    handler.install(asyncio.get_running_loop())
    caplog.set_level(logging.DEBUG, logger=loop_errors.__name__)
    try:
        asyncio.get_running_loop().call_soon(explode)
        await async_wait_for(lambda: len(caplog.records) >= 2, what="the line and its traceback")
    finally:
        handler.uninstall()
    first, second = caplog.records[:2]
    assert first.levelno == logging.ERROR and first.exc_info is None
    assert second.levelno == logging.DEBUG and second.exc_info is not None


async def test_an_unretrieved_task_exception_names_the_task() -> None:
    async def fails() -> None:
        raise RuntimeError("x" * 1000)

    task = asyncio.create_task(fails(), name="poller")
    await asyncio.gather(task, return_exceptions=True)
    line = describe(
        {
            "message": "Task exception was never retrieved",
            "exception": task.exception(),
            "future": task,
        }
    )
    assert line.startswith("unexpected RuntimeError in task poller (")
    assert "fails) at tests/daemon/test_loop_errors.py:" in line
    assert len(line) < 400 and line.endswith("…")


def test_a_report_without_exception_and_the_bounds() -> None:
    now = [0.0]
    handler = LoopErrors(clock=lambda: now[0])
    assert describe({"message": "Task was destroyed but it is pending!\n" + "y" * 900}).startswith(
        "unexpected event-loop report in the event loop: Task was destroyed"
    )
    for i in range(MAX_KINDS + 5):
        handler.report({"exception": type(f"Error{i}", (Exception,), {})()})
    assert len(handler.counts) == MAX_KINDS + 1 and handler.counts["other"] == 5


def test_a_repeating_bug_is_logged_a_few_times_per_window_and_always_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    handler = LoopErrors(clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger=loop_errors.__name__)
    for _ in range(100):
        handler.report({"exception": ValueError("again")})
    assert handler.counts == {"ValueError": 100}
    assert len(caplog.records) == LOG_BURST + 1  # the burst, then "counted, not logged"
    assert "counted, not logged" in caplog.records[-1].getMessage()
    now[0] = loop_errors.LOG_WINDOW_S
    handler.report({"exception": ValueError("again")})
    assert caplog.records[-1].getMessage().endswith("[101 so far]")
