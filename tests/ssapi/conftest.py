"""Fixtures for the System API tests: the fake server, a key file, a store, started sources.

Every source, fake and store made here is closed at teardown (the root conftest fails a test
that leaves asyncio tasks running).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from micboardd.config import Settings
from micboardd.sim.fake_ssapi import DEFAULT_KEY, FakeSystemApi
from micboardd.sim.fake_ssapi_devices import FakeDevice
from micboardd.ssapi.source import SystemApiSource
from micboardd.ssapi.tuning import Tuning
from micboardd.state.hub import Hub
from micboardd.store.database import Store

# Small numbers so failure scenarios play out within a second or two. Polling stays slow
# (the defaults) unless a test asks otherwise: live updates must come by subscription.
FAST = Tuning(
    connect_timeout_s=2.0,
    read_timeout_s=2.0,
    request_deadline_s=3.0,
    retry_base_s=0.02,
    retry_cap_s=0.2,
    breaker_threshold=5,
    breaker_open_s=0.3,
    breaker_max_open_s=1.0,
    failure_retry_base_s=0.05,
    failure_retry_cap_s=0.3,
    unauthorized_retry_s=0.2,
    health_refresh_s=0.5,
    subscribe_retry_s=0.5,
    ws_open_timeout_s=3.0,
)


@dataclass(frozen=True, slots=True)
class TlsSettings(Settings):
    """Settings with the two TLS keys the issue-5 wiring adds to config.py."""

    ssapi_ca_file: Path | None = None
    ssapi_fingerprint: str | None = None


def write_key(path: Path, key: str = DEFAULT_KEY, mode: int = 0o600) -> Path:
    path.write_text(key + "\n")
    os.chmod(path, mode)
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return write_key(tmp_path / "sharedkey.txt")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "state" / "micboardd.db")
    await s.open()
    yield s
    await s.close()


FakeFactory = Callable[..., Awaitable[FakeSystemApi]]


@pytest.fixture
async def make_fake() -> AsyncIterator[FakeFactory]:
    started: list[FakeSystemApi] = []

    async def factory(devices: list[FakeDevice] | None = None, **kw: Any) -> FakeSystemApi:
        api = FakeSystemApi(devices, **kw)
        started.append(api)
        await api.start()
        return api

    yield factory
    for api in started:
        await api.close()


@pytest.fixture
async def fake(make_fake: FakeFactory) -> FakeSystemApi:
    return await make_fake()


@dataclass
class Running:
    """A started source with what it published."""

    source: SystemApiSource
    hub: Hub
    health: list[dict[str, Any]] = field(default_factory=list)
    connections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_health(self) -> dict[str, Any]:
        return self.health[-1] if self.health else {}


SourceFactory = Callable[..., Awaitable[Running]]


@pytest.fixture
async def make_source(store: Store, key_file: Path) -> AsyncIterator[SourceFactory]:
    started: list[SystemApiSource] = []

    async def factory(
        api: FakeSystemApi,
        *,
        hub: Hub | None = None,
        tuning: Tuning = FAST,
        key: Path | None = None,
        fingerprint: str | None = None,
        ca_file: Path | None = None,
    ) -> Running:
        settings = TlsSettings(
            ssapi_url=api.url,
            ssapi_key_file=key or key_file,
            ssapi_fingerprint=fingerprint,
            ssapi_ca_file=ca_file,
        )
        running = Running(source=None, hub=hub or Hub())  # type: ignore[arg-type]
        running.source = SystemApiSource(
            running.hub,
            store,
            settings,
            lambda _endpoint, body: running.health.append(body),
            publish_connection=running.connections.append,
            tuning=tuning,
        )
        started.append(running.source)
        await running.source.start()
        return running

    yield factory
    for source in started:
        await source.stop()
