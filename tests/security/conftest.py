"""A daemon with the admin password and the viewer PIN set, and the route table to test."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import DaemonFactory
from ..helpers import DaemonProcess
from .admin import ADMIN_PASSWORD, set_secret
from .routes import Route, route_table

# Long enough not to turn up by chance in counters, ports or ids in any answer.
VIEWER_PIN_LONG = "90817263"


@pytest.fixture(scope="session")
def routes(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Route], list[str]]:
    return route_table(tmp_path_factory.mktemp("routes"))


@pytest.fixture
async def secured(make_daemon: DaemonFactory) -> DaemonProcess:
    """Admin password and viewer PIN both set: every role has something to prove."""
    d = make_daemon()
    await set_secret(d.state_dir, ADMIN_PASSWORD)
    await set_secret(d.state_dir, VIEWER_PIN_LONG, "--viewer-pin")
    return d


def state_path(d: DaemonProcess) -> Path:
    return d.state_dir / "micboardd.db"
