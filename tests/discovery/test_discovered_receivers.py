"""What the daemon does with what discovery found: the receiver manager, discovery and the
store wired as the daemon wires them, sightings fed to discovery as its listeners would feed
them (the address rules are `test_service.py`'s; the multicast is `test_netns.py`'s).

A monitored receiver is followed to a new address only when the box there answers the same
(real simulated receivers on loopback, real probes); discovery adds at most
`MAX_DISCOVERED_RECEIVERS`; with `discovery_approval` new ones wait for an admin, whose
decision survives a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from micboardd.config import ReceiverAddress, Settings, resolve
from micboardd.discovery.confirm import REJECT_RETRY_S
from micboardd.discovery.registry import Sighting
from micboardd.discovery.service import Discovery
from micboardd.errors import NotFound
from micboardd.model import Family
from micboardd.shure.probe import ProbeResult
from micboardd.sim.receiver import SimReceiver
from micboardd.sources.receivers import (
    DISCOVERY_LIMIT,
    MAX_DISCOVERED_RECEIVERS,
    SSCV2_NOT_FOLLOWED,
    ReceiverManager,
)
from micboardd.state.hub import Hub
from micboardd.store.database import Store

from ..helpers import async_wait_for

CID = "dd47e0d7-0000-11dd-a000-000eddcccccc"
AD4Q = ProbeResult(Family.AXIENT, "AD4Q", 4, "tcp", "RX", "1.0")


def cid_of(i: int) -> str:
    return f"dd{i:06x}-0000-11dd-a000-000eddcccccc"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def any_receiver(host: str, port: int) -> ProbeResult:
    """A probe that finds an AD4Q wherever it looks (the manager's machines still connect
    for real, to loopback addresses where nothing listens)."""
    await asyncio.sleep(0)
    return AD4Q


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "micboardd.db")
    await store.open()
    yield store
    await store.close()


def settings_for(tmp_path: Path, **values: object) -> Settings:
    config = tmp_path / "micboardd.toml"
    config.write_text("")
    return resolve(values, environ={}, config_path=config)


class Wired:
    """A manager and its discovery, started; `stop()` undoes it."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        prober: Callable[[str, int], Awaitable[ProbeResult]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.hub = Hub()
        self.manager = ReceiverManager(self.hub, store, settings)
        extra: dict[str, object] = {}
        if prober is not None:
            extra["prober"] = prober
        if clock is not None:
            extra["clock"] = clock
        self.discovery = Discovery(
            ("127.0.0.1",),
            self.manager.on_discovered,
            http_port=None,
            advertise=False,
            on_event=self.manager.on_discovery_event,
            slp=False,
            mdns=False,
            **extra,  # type: ignore[arg-type]
        )
        self.manager.discovery = self.discovery

    async def start(self) -> Wired:
        await self.manager.start()
        await self.discovery.start()
        return self

    async def stop(self) -> None:
        await self.discovery.stop()
        await self.manager.stop()

    async def settle(self) -> None:
        await asyncio.gather(*self.discovery.confirmer._probes)


async def test_a_monitored_receiver_is_followed_only_to_a_box_that_answers_the_same(
    tmp_path: Path, store: Store
) -> None:
    wired = await Wired(store, settings_for(tmp_path)).start()  # real probes, real time
    discovery, manager, hub = wired.discovery, wired.manager, wired.hub
    rx = SimReceiver("AD4Q", "127.0.16.10", 2202, device_id="STAGE L")
    impostor = SimReceiver("AD4Q", "127.0.16.66", 2202, device_id="EVIL")
    moved: SimReceiver | None = None
    try:
        await rx.start()
        await impostor.start()
        discovery.observe(Sighting("slp", rx.host, cid=CID))
        await async_wait_for(lambda: CID in hub.receivers and hub.receivers[CID].online, 10)

        # Somebody else announces its cid from another address; a probe there finds an AD4Q
        # with another name: not followed, listed as rejected with why.
        discovery.observe(Sighting("slp", impostor.host, cid=CID))
        rejection = await async_wait_for(lambda: discovery.rejected.get(impostor.host), 10)
        assert rejection is not None and "(name differs)" in rejection.reason, rejection
        assert "EVIL" not in rejection.reason
        assert manager.entries[CID].address.host == rx.host and hub.receivers[CID].online
        rows = {r["receiver_id"]: r for r in manager.discovered()}
        assert rows[impostor.host]["rejected"] == rejection.reason
        assert rows[CID]["monitored"] is True and rows[CID]["address"] == rx.host

        # The receiver really moves (DHCP): the same box answers at the new address.
        await rx.close()
        moved = SimReceiver("AD4Q", "127.0.16.11", 2202, device_id="STAGE L")
        await moved.start()
        discovery.observe(Sighting("slp", moved.host, cid=CID))
        await async_wait_for(lambda: manager.entries[CID].address.host == moved.host, 10)
        await async_wait_for(lambda: hub.receivers[CID].online, 10)
        row = await store.fetchall("SELECT address FROM receivers WHERE id = ?", (CID,))
        assert [r["address"] for r in row] == [moved.host]
    finally:
        await wired.stop()
        await rx.close()
        await impostor.close()
        if moved is not None:
            await moved.close()


async def test_discovery_adds_at_most_its_limit_and_lists_the_rest_as_rejected(
    tmp_path: Path, store: Store
) -> None:
    clock = Clock()
    wired = await Wired(store, settings_for(tmp_path), any_receiver, clock).start()
    discovery, manager = wired.discovery, wired.manager
    try:
        hosts = [f"127.0.17.{i + 1}" for i in range(MAX_DISCOVERED_RECEIVERS + 1)]
        for i, host in enumerate(hosts):
            discovery.observe(Sighting("slp", host, cid=cid_of(i)))
        await wired.settle()
        assert len(manager.entries) == MAX_DISCOVERED_RECEIVERS
        over = [cid for cid, r in discovery.rejected.items() if r.reason == DISCOVERY_LIMIT]
        assert len(over) == 1 and over[0] not in manager.entries
        listed = [r for r in manager.discovered() if r["rejected"] == DISCOVERY_LIMIT]
        assert [r["receiver_id"] for r in listed] == over
        # One goes: the next offer of the refused one (after the retry delay) gets the slot.
        await manager.remove(next(iter(manager.entries)))
        clock.now += REJECT_RETRY_S
        discovery.confirmer.retry_due(clock.now)
        await wired.settle()
        assert over[0] in manager.entries and over[0] not in discovery.rejected
    finally:
        await wired.stop()


async def test_with_approval_new_receivers_wait_and_an_admins_decision_survives_a_restart(
    tmp_path: Path, store: Store
) -> None:
    settings = settings_for(tmp_path, discovery_approval="true")
    wired = await Wired(store, settings, any_receiver).start()
    mine, theirs = cid_of(1), cid_of(2)
    try:
        wired.discovery.observe(Sighting("slp", "127.0.18.1", cid=mine))
        wired.discovery.observe(Sighting("slp", "127.0.18.2", cid=theirs))
        await wired.settle()
        assert wired.manager.entries == {} and wired.hub.receivers == {}
        rows = {r["receiver_id"]: r for r in wired.manager.discovered()}
        assert {k: (r["waiting"], r["monitored"]) for k, r in rows.items()} == {
            mine: (True, False),
            theirs: (True, False),
        }
        with pytest.raises(NotFound):
            await wired.manager.approve(cid_of(3))
        assert await wired.manager.approve(mine) == mine
        await wired.manager.ignore_discovered(theirs)
        rows = {r["receiver_id"]: r for r in wired.manager.discovered()}
        assert rows[mine]["monitored"] is True and rows[mine]["waiting"] is False
        assert theirs not in rows  # ignored: no longer listed
        assert mine in wired.hub.receivers
    finally:
        await wired.stop()

    # A restart: the approved one is monitored at once, the ignored one stays ignored.
    again = await Wired(store, settings, any_receiver).start()
    try:
        assert list(again.manager.entries) == [mine]
        assert again.manager.entries[mine].address.host == "127.0.18.1"
        again.discovery.observe(Sighting("slp", "127.0.18.1", cid=mine))
        again.discovery.observe(Sighting("slp", "127.0.18.2", cid=theirs))
        await again.settle()
        assert not any(r["waiting"] for r in again.manager.discovered())
        assert theirs in again.manager.ignored and theirs not in again.discovery.candidates
    finally:
        await again.stop()


EWDX_V2 = ProbeResult(Family.EWDX, "EW-DX EM 4 Dante", 4, "sscv2", port=443)


async def an_sscv2_ewdx(host: str, port: int) -> ProbeResult:
    """What discovery's probe reports for an EW-DX that speaks SSCv2 (on 443)."""
    await asyncio.sleep(0)
    return EWDX_V2


async def test_an_sscv2_receiver_waits_for_an_admin_even_without_approval_mode(
    tmp_path: Path, store: Store
) -> None:
    """Its session logs in with the SSCv2 password: an announcement alone must not make the
    daemon send it anywhere. Approval is one tap; a claimed move is not followed."""
    wired = await Wired(store, settings_for(tmp_path), an_sscv2_ewdx).start()
    ewdx = cid_of(7)
    try:
        wired.discovery.observe(Sighting("mdns", "127.0.19.1", cid=ewdx))
        await wired.settle()
        assert wired.manager.entries == {} and wired.hub.receivers == {}
        rows = {r["receiver_id"]: r for r in wired.manager.discovered()}
        assert (rows[ewdx]["waiting"], rows[ewdx]["monitored"]) == (True, False)

        assert await wired.manager.approve(ewdx) == ewdx
        assert wired.manager.entries[ewdx].address == ReceiverAddress("127.0.19.1", 443)

        # Somebody announces the same receiver at another address: listed as rejected,
        # the session stays where the crew approved it.
        wired.discovery.observe(Sighting("mdns", "127.0.19.66", cid=ewdx))
        await wired.settle()
        rejection = await async_wait_for(lambda: wired.discovery.rejected.get(ewdx), 10)
        assert rejection is not None and rejection.reason == SSCV2_NOT_FOLLOWED
        assert wired.manager.entries[ewdx].address.host == "127.0.19.1"
    finally:
        await wired.stop()
