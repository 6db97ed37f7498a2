"""Test helpers: wait on conditions with deadlines (never fixed sleeps), run the daemon."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
# The project's shared reference files (seed clients, captures) live beside the repository on
# the build machines and in CI, never inside it: a fresh clone has no `../shared`.
SHARED_DIR = REPO.parent / "shared"
# CI sets this so a missing reference file fails there instead of skipping.
# Not MICBOARDD_-prefixed: the daemon the tests start reads every MICBOARDD_* variable as a
# setting and refuses an unknown one.
REQUIRE_SHARED_ENV = "TESTS_REQUIRE_SHARED"
DEFAULT_DEADLINE_S = 10.0
POLL_S = 0.02
_LISTENING = re.compile(r"listening on https?://([\d.]+):(\d+)")


def wait_for(
    predicate: Callable[[], T], timeout: float = DEFAULT_DEADLINE_S, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(POLL_S)


async def async_wait_for(
    predicate: Callable[[], Any],
    timeout: float = DEFAULT_DEADLINE_S,
    what: str = "condition",
) -> Any:
    """Poll `predicate` (plain or async) until truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value) or isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        await asyncio.sleep(POLL_S)


@dataclass
class DaemonProcess:
    """`micboardd run` as a real process on an ephemeral loopback port."""

    args: Sequence[str]
    state_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    port: int = 0
    _reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def start(self, wait: bool = True) -> DaemonProcess:
        self.lines.clear()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "micboardd", *self.args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait:
            self.wait_listening()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _listening(self) -> bool:
        """True once the daemon logged its port; fails at once if the daemon died."""
        for line in self.lines:
            m = _LISTENING.search(line)
            if m:
                self.port = int(m.group(2))
                return True
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log}")
        return False

    def wait_listening(self, timeout: float = 20.0) -> None:
        wait_for(self._listening, timeout, "the daemon to listen")

    async def async_wait_listening(self, timeout: float = 20.0) -> None:
        """Like wait_listening, without blocking the test's event loop (simulators run there)."""
        await async_wait_for(self._listening, timeout, "the daemon to listen")

    async def async_get(self, path: str) -> Any:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(self.url + path)
            response.raise_for_status()
            return response.json()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5.0, **kw)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(2.0)
        return code

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait_exit(10.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5.0)
            raise


def daemon_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment minus anything that would leak a real configuration in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICBOARDD_")}
    for key in (
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "JOURNAL_STREAM",
        "INVOCATION_ID",
    ):
        env.pop(key, None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def shared_file(relative: str) -> Path:
    """A file from `../shared`; the calling test skips (or, with TESTS_REQUIRE_SHARED=1,
    fails) when it is absent, as on a fresh clone of the repository alone."""
    path = SHARED_DIR / relative
    if not path.is_file():
        why = (
            f"{path} not found: this test needs the project's shared reference files beside "
            "the repository (../shared), which a fresh clone does not have"
        )
        if os.environ.get(REQUIRE_SHARED_ENV) == "1":
            pytest.fail(f"{why} ({REQUIRE_SHARED_ENV}=1)")
        pytest.skip(why)
    return path
