"""Alerts in SQLite: every transition stored at once, acknowledgements survive a restart, an
open alert continues (same id) after a restart while its condition lasts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from micboardd.alerts.model import Kind
from micboardd.alerts.service import Alerts
from micboardd.alerts.store import select_alerts
from micboardd.model import Reading
from micboardd.store.database import Store
from tests.clocked_hub import ON_AIR, RX, Clock, make_hub


async def open_store(path: Path) -> Store:
    store = Store(path)
    await store.open()
    return store


def engine(clock: Clock, store: Store, frames: list[dict[str, Any]]) -> Alerts:
    return Alerts(make_hub(clock), store, lambda _id, body: frames.append(body), tick_s=None)


async def test_ack_and_open_alert_survive_a_restart(tmp_path: Path, clock: Clock) -> None:
    db = tmp_path / "micboardd.db"
    frames: list[dict[str, Any]] = []
    store = await open_store(db)
    alerts = engine(clock, store, frames)
    await alerts.start()
    alerts.hub.apply(RX, [_reading(1, battery_bars=2)])
    clock.t += 6
    alerts.tick()
    (alert,) = alerts.active()
    await alerts.ack(alert.id)
    await alerts.stop()
    await store.close()

    # The daemon comes back; the receiver reports the same tired battery.
    clock.t += 30
    frames.clear()
    store = await open_store(db)
    alerts = engine(clock, store, frames)
    await alerts.start()
    (restored,) = alerts.active()
    assert restored.id == alert.id and restored.acked_at is not None
    alerts.hub.apply(RX, [_reading(1, battery_bars=2)])
    clock.t += 120
    alerts.tick()
    assert [a.id for a in alerts.active()] == [alert.id]
    assert not any(f["state"] == "raised" for f in frames)
    assert alerts.active_dicts()[0]["acked"] is True
    await alerts.stop()
    await store.close()


async def test_restored_alert_of_a_channel_that_never_returns_is_closed(
    tmp_path: Path, clock: Clock
) -> None:
    db = tmp_path / "micboardd.db"
    frames: list[dict[str, Any]] = []
    store = await open_store(db)
    alerts = engine(clock, store, frames)
    await alerts.start()
    alerts.hub.apply(RX, [_reading(2, interference=True)])
    clock.t += 3
    alerts.tick()
    assert [a.kind for a in alerts.active()] == [Kind.INTERFERENCE]
    await alerts.stop()
    await store.close()

    store = await open_store(db)
    alerts = Alerts(make_hub(clock), store, lambda _id, body: frames.append(body), tick_s=None)
    alerts.hub.remove_receiver(RX)  # the receiver is gone from the rig
    await alerts.start()
    assert len(alerts.active()) == 1
    clock.t += 61
    alerts.tick()
    assert alerts.active() == []
    assert frames[-1]["state"] == "cleared"
    assert "not seen since restart" in frames[-1]["message"]
    await alerts.stop()
    rows = await select_alerts(store, active=False)
    assert len(rows) == 1 and rows[0]["cleared_at"] == clock.t
    await store.close()


async def test_transmitter_still_off_after_restart_keeps_its_alert(
    tmp_path: Path, clock: Clock
) -> None:
    db = tmp_path / "micboardd.db"
    frames: list[dict[str, Any]] = []
    store = await open_store(db)
    alerts = engine(clock, store, frames)
    await alerts.start()
    alerts.hub.apply(RX, [_reading(3)])
    alerts.hub.apply(RX, [_reading(3, tx_on=False)])
    for _ in range(4):
        clock.t += 1
        alerts.tick()
    (off,) = alerts.active()
    assert off.kind is Kind.TX_OFF
    await alerts.stop()
    await store.close()

    store = await open_store(db)
    frames.clear()
    alerts = engine(clock, store, frames)
    await alerts.start()
    alerts.hub.apply(RX, [_reading(3, tx_on=False)])
    clock.t += 120
    alerts.tick()
    assert [a.id for a in alerts.active()] == [off.id]
    alerts.hub.apply(RX, [_reading(3, tx_on=True)])
    clock.t += 3
    alerts.tick()
    assert alerts.active() == []
    assert [f["state"] for f in frames] == ["cleared"]
    await alerts.stop()
    await store.close()


async def test_query_filters(tmp_path: Path, clock: Clock) -> None:
    store = await open_store(tmp_path / "micboardd.db")
    frames: list[dict[str, Any]] = []
    alerts = engine(clock, store, frames)
    await alerts.start()
    alerts.hub.apply(RX, [_reading(1, encryption_error=True), _reading(2, interference=True)])
    clock.t += 3
    alerts.tick()
    mark = clock.t + 1
    clock.t += 10
    alerts.hub.apply(RX, [_reading(1, encryption_error=False)])
    clock.t += 6
    alerts.tick()
    everything = await alerts.query()
    assert {a.kind for a in everything} == {Kind.ENCRYPTION, Kind.INTERFERENCE}
    assert [a.kind for a in await alerts.query(active=True)] == [Kind.INTERFERENCE]
    assert [a.kind for a in await alerts.query(active=False)] == [Kind.ENCRYPTION]
    assert [a.kind for a in await alerts.query(device=f"{RX}:2")] == [Kind.INTERFERENCE]
    assert [a.kind for a in await alerts.query(since=mark)] == [Kind.ENCRYPTION]
    assert len(await alerts.query(device=RX)) == 2  # a receiver id: all of its channels
    assert len(await alerts.query(limit=1)) == 1
    await alerts.stop()
    await store.close()


def _reading(channel: int, **fields: Any) -> Reading:
    return Reading(channel, {**ON_AIR, **fields})
