"""An announcement of a monitored receiver wakes its machine while it waits to retry: the
manager, discovery and the machine wired as the daemon wires them, a simulated receiver on
loopback, and the sighting fed to discovery as its SLP listener would feed it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from micboardd.config import resolve
from micboardd.discovery.registry import Sighting
from micboardd.discovery.service import Discovery
from micboardd.shure import machine as machine_mod
from micboardd.sim.receiver import SimReceiver
from micboardd.sources.receivers import ReceiverManager
from micboardd.state.hub import Hub
from micboardd.store.database import Store

from ..helpers import async_wait_for


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "micboardd.db")
    await store.open()
    yield store
    await store.close()


async def test_an_slp_announcement_wakes_a_backing_off_receiver(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A schedule so long that only the announcement can explain a prompt return.
    monkeypatch.setattr(machine_mod, "BACKOFF_FIRST_S", 120.0)
    monkeypatch.setattr(machine_mod, "BACKOFF_MAX_S", 120.0)
    config = tmp_path / "micboardd.toml"
    config.write_text("")
    async with SimReceiver("ULXD4D") as rx:
        settings = resolve({"receivers": [rx.address]}, environ={}, config_path=config)
        hub = Hub()
        manager = ReceiverManager(hub, store, settings)
        discovery = Discovery(
            ("127.0.0.1",),
            manager.on_discovered,
            http_port=None,
            advertise=False,
            on_event=manager.on_discovery_event,
            slp=False,
            mdns=False,
        )
        manager.discovery = discovery
        await manager.start()
        machine = manager.entries[rx.address].machine
        try:
            await async_wait_for(lambda: hub.receivers[rx.address].online, what="online")
            await rx.power_loss()
            await async_wait_for(lambda: machine.phase.value == "backoff", what="backing off")
            await rx.power_restore()
            assert machine.phase.value == "backoff"  # 120 s to go
            discovery.observe(Sighting("slp", rx.host, cid="dd000001-0000-11dd-a000-000eddcccccc"))
            await async_wait_for(lambda: hub.receivers[rx.address].online, 5, "woken, online")
            # A flood of announcements wakes it at most once per WAKE_MIN_INTERVAL_S.
            woken = manager.entries[rx.address].woken_at
            for _ in range(50):
                discovery.observe(Sighting("slp", rx.host))
            assert manager.entries[rx.address].woken_at == woken
        finally:
            await manager.stop()
