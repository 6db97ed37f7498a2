"""A real `redis-server` on a loopback port, started and stopped by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_DEADLINE_S = 10.0
PORT_ATTEMPTS = 3  # a free port can be taken between our probe and redis binding it


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """One redis-server process; `start()` again (same port) after `stop()` or `kill()`."""

    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        for attempt in range(PORT_ATTEMPTS):
            if not self.port or attempt:
                self.port = free_port()
            if self._spawn():
                return self
        raise AssertionError(f"redis-server did not start on a free port {PORT_ATTEMPTS} times")

    def start_on_port(self) -> RedisServer:
        """Start on the port already chosen (a client may be retrying it)."""
        if not self._spawn():
            raise AssertionError(f"redis-server did not start on port {self.port}")
        return self

    def _spawn(self) -> bool:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # port taken, most likely
            if ping(self.port):
                return True
            time.sleep(0.02)
        self.stop()
        raise AssertionError(f"redis-server on port {self.port} did not answer PING in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server on a free loopback port; stopped at teardown."""
    server = _new_server(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stopped_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A free port with no Redis on it yet: `start_on_port()` brings it up."""
    server = _new_server(tmp_path)
    server.port = free_port()
    yield server
    server.stop()


def _new_server(tmp_path: Path) -> RedisServer:
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed (make testdeps installs it)")
    workdir = tmp_path / "redis"
    workdir.mkdir(exist_ok=True)
    return RedisServer(workdir)
