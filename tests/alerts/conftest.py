"""Fixtures for the alerts tests: a clock that moves when a test says so, a store, and a hub
with one online receiver wired to the alerts engine (tests/clocked_hub.py holds the pieces the
history tests share)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from micboardd.alerts.model import AlertConfig
from micboardd.alerts.service import Alerts
from micboardd.model import Reading
from micboardd.state.hub import Hub
from micboardd.store.database import Store
from tests.clocked_hub import ON_AIR, RX, Clock, make_hub


@dataclass
class Rig:
    """A hub with receiver `rx1` (4 channels) online and the engines under test."""

    clock: Clock
    hub: Hub
    store: Store
    alerts: Alerts
    frames: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def read(self, channel: int, **fields: Any) -> None:
        self.hub.apply(RX, [Reading(channel, fields)])

    def run(self, seconds: float, step: float = 0.5) -> None:
        """Let time pass, ticking the hub and the alerts as the daemon does."""
        end = self.clock.t + seconds
        while self.clock.t < end - 1e-9:
            self.clock.t = min(end, self.clock.t + step)
            self.hub.tick()
            self.alerts.tick()

    def raised(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Frames of alerts being raised (one per alert), optionally of one kind."""
        return [
            body
            for _, body in self.frames
            if body["state"] == "raised" and (kind is None or body["kind"] == kind)
        ]

    def states(self, kind: str) -> list[str]:
        return [body["state"] for _, body in self.frames if body["kind"] == kind]

    def open(self, kind: str) -> list[str]:
        return [a.id for a in self.alerts.active() if a.kind == kind]


def without_id(body: dict[str, Any]) -> dict[str, Any]:
    """An alert frame but its id (random: new_alert_id), to compare two engines' frames."""
    return {k: v for k, v in body.items() if k != "id"}


async def engine_on_hub(
    clock: Clock, store: Store, channels: int = 4
) -> tuple[Hub, Alerts, list[tuple[str, Any]]]:
    """A hub with `channels` transmitters on air, an alert engine started on it (no timer:
    the test ticks), and the frames it publishes."""
    hub = make_hub(clock, channels)
    frames: list[tuple[str, Any]] = []
    alerts = Alerts(hub, store, lambda alert_id, body: frames.append((alert_id, body)), tick_s=None)
    await alerts.start()
    for ch in range(1, channels + 1):
        hub.apply(RX, [Reading(ch, ON_AIR)])
    return hub, alerts, frames


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = Store(tmp_path / "micboardd.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def rig(clock: Clock, store: Store) -> AsyncIterator[Rig]:
    hub = make_hub(clock)
    frames: list[tuple[str, dict[str, Any]]] = []
    counts: dict[str, int] = {}

    def count(device_id: str, n: int) -> None:
        counts[device_id] = n

    alerts = Alerts(
        hub,
        store,
        lambda alert_id, body: frames.append((alert_id, body)),
        config=AlertConfig(),
        on_count=count,
        tick_s=None,
    )
    await alerts.start()
    r = Rig(clock, hub, store, alerts, frames, counts)
    for ch in range(1, 5):
        r.read(ch, **ON_AIR)
    try:
        yield r
    finally:
        await alerts.stop()
