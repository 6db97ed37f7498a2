"""The daemon's parts, built in one place (daemon/wiring.py): the stop order it writes down,
and a failure half-way stopping exactly what had started."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
import pytest

from micboardd.config import Settings
from micboardd.daemon.run import Daemon
from micboardd.daemon.wiring import Source
from micboardd.web.context import AppContext
from tests.helpers import async_wait_for


def settings(tmp_path: Path, port: int = 0) -> Settings:
    return Settings(host="127.0.0.1", port=port, state_dir=tmp_path, discovery=False)


def store_threads() -> list[threading.Thread]:
    """aiosqlite runs each open connection on a thread of its own."""
    return [t for t in threading.enumerate() if isinstance(t, aiosqlite.Connection)]


def port_answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Recorder:
    """A source that notes what it saw of the rest of the daemon when it was stopped."""

    ctx: AppContext
    fail: bool = False
    started: bool = False
    seen_at_stop: dict[str, bool] = field(default_factory=dict)

    async def start(self) -> None:
        self.started = True
        if self.fail:
            raise RuntimeError("this source cannot start")

    async def stop(self) -> None:
        assert self.ctx.http_port is not None
        assert self.ctx.history is not None
        self.seen_at_stop = {
            "web serving": port_answers(self.ctx.http_port),
            "database open": await self.ctx.store.ping(),
            "history writing": self.ctx.history._task is not None,
        }


async def test_sources_stop_after_the_web_and_history_before_the_database(
    tmp_path: Path,
) -> None:
    made: list[Recorder] = []

    def sources(ctx: AppContext) -> list[Source]:
        made.append(Recorder(ctx))
        return list(made)

    daemon = Daemon(settings(tmp_path), source_factory=sources)
    task = asyncio.create_task(daemon.run())
    await async_wait_for(lambda: daemon.ctx is not None or task.done(), 15, "the daemon up")
    assert made and made[0].started
    daemon.request_stop("test over")
    assert await task == 0
    assert made[0].seen_at_stop == {
        "web serving": False,
        "database open": True,
        "history writing": False,
    }
    assert not store_threads()


async def test_a_source_failing_to_start_stops_what_had_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    made: list[Recorder] = []

    def sources(ctx: AppContext) -> list[Source]:
        made.extend([Recorder(ctx), Recorder(ctx, fail=True), Recorder(ctx)])
        return list(made)

    caplog.set_level(logging.INFO, logger="micboardd")
    daemon = Daemon(settings(tmp_path), source_factory=sources)
    async with asyncio.timeout(15):
        assert await daemon.run() == 1
    first, failing, never = made
    assert first.seen_at_stop["database open"] and failing.seen_at_stop["database open"]
    assert not never.started and not never.seen_at_stop
    assert "a source failed to start" in caplog.text and "stopped" in caplog.text
    assert not store_threads()


async def test_a_busy_port_stops_the_start_and_closes_the_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        daemon = Daemon(settings(tmp_path, port))
        async with asyncio.timeout(15):
            assert await daemon.run() == 1
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text
    assert daemon.ctx is None  # never got as far as serving
    assert not store_threads()
