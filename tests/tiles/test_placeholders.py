"""Placeholders in the hub: a device nothing feeds, never OK, never alerting, never replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from micboardd.alerts.model import AlertConfig
from micboardd.alerts.service import Alerts
from micboardd.history.service import History, HistoryConfig
from micboardd.model import DEVICE_FIELDS
from micboardd.sources.ports import DeviceChanged, DeviceRemoved, HubEvent
from micboardd.state.groups import Groups
from micboardd.state.hub import Hub
from micboardd.store.database import Store
from micboardd.tiles.photos import Photos
from micboardd.tiles.placeholders import PlaceholderFields, Placeholders, placeholder_id_of


def test_a_placeholder_is_a_device_that_stays_unmonitored() -> None:
    hub = Hub(instance="stage-a")
    events: list[HubEvent] = []
    hub.subscribe(events.append)
    hub.put_placeholder("placeholder:1", performer="Dave", name="BP14", model="PSM900")
    dev = hub.devices["placeholder:1"]
    assert tuple(msgspec.structs.asdict(dev)) == DEVICE_FIELDS
    assert (dev.status, dev.battery_status, dev.instance) == (
        "unmonitored",
        "unknown",
        "stage-a",
    )
    assert isinstance(events[-1], DeviceChanged) and events[-1].changes == frozenset(DEVICE_FIELDS)
    hub.tick()
    hub.apply("placeholder", [])  # no receiver by that id: nothing happens
    assert hub.devices["placeholder:1"].status == "unmonitored"

    # Another instance's device of the same id never replaces it.
    assert not hub.put_remote(msgspec.structs.replace(dev, status="good", instance="stage-b"))
    hub.drop_remote("placeholder:1")
    assert hub.devices["placeholder:1"].status == "unmonitored"
    # Photos are served by the box that stores them: another box's device arrives without.
    assert hub.put_remote(
        msgspec.structs.replace(dev, device_id="rxB:1", photo="0123abcd", instance="b")
    )
    assert hub.devices["rxB:1"].photo is None

    events.clear()
    hub.put_placeholder("placeholder:1", performer="Dave", name="BP14", model="PSM900")
    assert events == []  # nothing changed, nothing said
    hub.put_placeholder("placeholder:1", performer="Anna", name="BP14", model=None)
    assert isinstance(events[-1], DeviceChanged)
    assert events[-1].changes == frozenset({"performer", "model"})
    hub.set_user("placeholder:1", performer="Anna", group="Rack")  # as groups.py does
    assert hub.devices["placeholder:1"].group == "Rack"
    hub.drop_placeholder("placeholder:1")
    assert isinstance(events[-1], DeviceRemoved) and "placeholder:1" not in hub.devices


async def test_placeholders_raise_no_alerts(tmp_path: Path) -> None:
    store = Store(tmp_path / "micboardd.db")
    await store.open()
    try:
        hub = Hub()
        raised: list[tuple[str, dict[str, Any]]] = []
        alerts = Alerts(hub, store, lambda kind, a: raised.append((kind, a)), config=AlertConfig())
        hub.subscribe(alerts.on_event)
        groups = Groups(store, hub)
        placeholders = Placeholders(store, hub, groups, Photos(store, hub))
        row = await placeholders.save(None, PlaceholderFields.clean("IEM 3", "Drums", ""))
        alerts.tick()
        assert raised == [] and alerts.active_dicts() == []
        assert placeholder_id_of("placeholder:1") == row.id == 1
        assert placeholder_id_of("10.0.0.5:1") is None
        assert placeholder_id_of("nonsense") is None
    finally:
        await store.close()


async def test_placeholders_leave_no_history(tmp_path: Path) -> None:
    """Nothing is ever measured on a placeholder: not a byte of show history for it."""
    store = Store(tmp_path / "micboardd.db")
    await store.open()
    try:
        now = [1_700_000_000.0]
        hub = Hub(clock=lambda: now[0])
        hub.put_placeholder("placeholder:1", performer="Spare", name=None, model=None)
        history = History(hub, store, clock=lambda: now[0], config=HistoryConfig(), tick_s=None)
        await history.start()
        hub.put_placeholder("placeholder:2", performer="Drums", name="IEM 3", model=None)
        for _ in range(150):  # two and a half minutes
            now[0] += 1.0
            history.tick()
        assert await history.flush() == 0
        await history.stop()
        assert await store.fetchall("SELECT * FROM history_devices") == []
    finally:
        await store.close()
