from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path

import pytest
import uvloop

from micboardd.config import Settings
from micboardd.daemon import logs
from micboardd.daemon.run import Daemon

from .helpers import DaemonProcess, async_wait_for, daemon_env

DaemonFactory = Callable[..., DaemonProcess]

# The event loops async tests run on. The daemon runs on uvloop (cli.py, as uvicorn[standard]
# brings it); asyncio's own loop behaves differently in places (uvloop's call_at returns a
# plain Handle for a time under a millisecond ahead: issue 21). Tests marked `both_loops`
# (the daemon's timing: fan-out, receiver sessions, the WebSocket protocol) run on each;
# the rest on asyncio's, so the suite does not take twice as long.
ASYNCIO_ONLY: Mapping[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop
}
BOTH_LOOPS: Mapping[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


# A task still running after a test's fixtures were torn down is a leak (a session, a timer,
# a server that outlived its test). Tasks that were just cancelled need a few loop passes to
# finish (a TLS handshake being torn down, a connection's reader): they get this long.
LEFTOVER_GRACE_S = 2.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every async test gets the leftover-task guard (sync tests have no loop to check)."""
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.fixturenames.insert(0, "no_leftover_tasks")


@pytest.fixture
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running after its fixtures are torn down."""
    yield
    current = asyncio.current_task()

    def left() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if t is not current and not t.done()]

    deadline = asyncio.get_running_loop().time() + LEFTOVER_GRACE_S
    while left() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)  # polling the condition, with a deadline
    assert not left(), f"tasks left behind: {left()}"


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return BOTH_LOOPS if item.get_closest_marker("both_loops") else ASYNCIO_ONLY


@pytest.fixture
async def daemon_in_process(tmp_path: Path) -> AsyncIterator[Daemon]:
    """`micboardd run` in this process, on the test's loop (no receivers): for looking
    inside the running daemon (its loop, its tables)."""
    d = Daemon(Settings(host="127.0.0.1", port=0, state_dir=tmp_path, discovery=False))
    task = asyncio.create_task(d.run(), name="daemon")
    await async_wait_for(lambda: (d.ctx is not None and d.ctx.http_port) or task.done())
    assert not task.done(), "the daemon did not start"
    try:
        yield d
    finally:
        d.request_stop("test over")
        async with asyncio.timeout(10):
            assert await task == 0


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "micboardd.toml"
    path.write_text("# empty: tests never read /etc/micboardd\n")
    return path


@pytest.fixture
def make_daemon(
    tmp_path: Path, empty_config: Path, request: pytest.FixtureRequest
) -> Iterator[DaemonFactory]:
    """Start `micboardd run` processes on ephemeral ports; all are stopped at teardown.

    The test fails if a daemon logged a traceback or an ERROR line other than a critical
    alert (a bug on uvloop shows up there first), unless it is marked
    `daemon_errors_expected`.
    """
    started: list[DaemonProcess] = []

    def factory(
        *extra: str,
        state_dir: Path | None = None,
        env: dict[str, str] | None = None,
        wait: bool = True,
        config: Path | None = None,
    ) -> DaemonProcess:
        state = state_dir or tmp_path / "state"
        args = [
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--state-dir",
            str(state),
            "--no-discovery",
            "--config",
            str(config or empty_config),
            *extra,
        ]
        d = DaemonProcess(args=args, state_dir=state, env=daemon_env(env))
        started.append(d)
        return d.start(wait=wait)

    yield factory
    for d in started:
        d.stop()
    if request.node.get_closest_marker("daemon_errors_expected") is None:
        bad = [
            line
            for d in started
            for line in d.lines
            if logs.is_fault_line(line) or logs.is_traceback_line(line)
        ]
        if bad:
            pytest.fail("the daemon logged errors:\n" + "\n".join(bad[:20]), pytrace=False)
