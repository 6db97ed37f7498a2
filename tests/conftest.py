from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import DaemonProcess, daemon_env

DaemonFactory = Callable[..., DaemonProcess]


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "micboardd.toml"
    path.write_text("# empty: tests never read /etc/micboardd\n")
    return path


@pytest.fixture
def make_daemon(tmp_path: Path, empty_config: Path) -> Iterator[DaemonFactory]:
    """Start `micboardd run` processes on ephemeral ports; all are stopped at teardown."""
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
