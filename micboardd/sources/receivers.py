"""Directly monitored receivers: manual entries (flags, config, REST), discovered ones, and
the state machine that keeps each connected (`shure/machine.py`).

The machine probes on every connection, so what is monitored is what answers now; this
module keeps the hub and the store in step with what it found, and hands it the news from
discovery (an announcement wakes a receiver that is waiting to retry). What the machine
reads back is also discovery's yardstick for a move: a receiver is followed to a new
address only if the box there answers the same.

Discovery adds at most `MAX_DISCOVERED_RECEIVERS` receivers by itself; beyond that a
candidate is refused ("discovery limit reached") and listed as rejected. With
`discovery_approval` on, a new candidate is not monitored until an admin approves it
(`approve`, kept in the store so a restart does not ask again) or ignores it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from micboardd.config import (
    PROTOCOL_PORTS,
    ReceiverAddress,
    Settings,
    dashboard_may_set,
    with_dashboard,
)
from micboardd.discovery import Candidate
from micboardd.discovery.bounded import BoundedOnce
from micboardd.errors import ConfigError, MicboardError, NotFound
from micboardd.isotime import iso
from micboardd.model import SENNHEISER_FAMILIES, Family
from micboardd.sennheiser.sscv2_trust import PasswordBook
from micboardd.sources.ports import ProbeResult, ReceiverRegistry
from micboardd.sources.protocols import SessionNeeds, new_machine, removed
from micboardd.sources.session import SessionMachine
from micboardd.sources.store import Identity, ReceiverRows
from micboardd.store.database import Store

if TYPE_CHECKING:
    from micboardd.discovery.registry import Event
    from micboardd.discovery.service import Discovery

log = logging.getLogger(__name__)

# An announcement wakes a backing-off receiver at most this often: SLP repeats every ~2 s,
# and a flood of spoofed announcements must not turn into a flood of connections.
WAKE_MIN_INTERVAL_S = 2.0
SSCV2_PORT = PROTOCOL_PORTS["sscv2"]
SSCV2_APPROVAL_NOTE = " (SSCv2 receivers always are: their session sends the SSCv2 password)"
# The rejected list's reason when an announcement claims a monitored SSCv2 receiver moved.
SSCV2_NOT_FOLLOWED = (
    "announces a monitored SSCv2 receiver, which is not followed to a new address by "
    "itself (its session sends the SSCv2 password): add it at this address by hand"
)


def is_sscv2(candidate: Candidate) -> bool:
    """Discovery's probe moves an EW-DX that speaks SSCv2 to the SSCv2 port."""
    return candidate.family in SENNHEISER_FAMILIES and candidate.port == SSCV2_PORT


# Receivers discovery may bring in by itself (monitored, or waiting for approval). A big
# venue has a few dozen networked receivers (64 quads are 256 channels); a LAN announcing
# more is more likely spoofing than a show. Beyond it: add by address, or approve.
MAX_DISCOVERED_RECEIVERS = 64
DISCOVERY_LIMIT = (
    f"discovery limit reached ({MAX_DISCOVERED_RECEIVERS} receivers found on the network); "
    "add it by address if it is one of yours"
)
DISCOVERY_SOURCES = frozenset({"slp", "mdns", "discovery"})
# The row of the store's settings table that holds the dashboard's meter rate.
METER_RATE_SETTING = "meter_rate_ms"


@dataclass(slots=True)
class Entry:
    receiver_id: str
    address: ReceiverAddress
    source: str  # "config", "manual", "slp", "mdns", "discovery"
    machine: SessionMachine
    meter_rate_ms: int | None = None  # this receiver's own interval; None: the global one
    created: float = field(default_factory=time.time)
    woken_at: float = 0.0  # monotonic time of the last wake by an announcement


def receiver_id_for(address: ReceiverAddress) -> str:
    """Until a receiver's ACN id or serial is known, its address is its id (ARCHITECTURE.md).
    A protocol the port does not imply is part of it, without the `://` (ids go in URLs):
    `ssc1@127.0.0.1:4545`."""
    if address.protocol:
        return f"{address.protocol}@{address.host}:{address.port}"
    return str(address)


class ReceiverManager:
    def __init__(self, hub: ReceiverRegistry, store: Store, settings: Settings) -> None:
        self.hub = hub
        self.store = store
        self.rows = ReceiverRows(store)
        self.settings = settings
        self.entries: dict[str, Entry] = {}
        self.ignored: set[str] = set()
        self.needs = SessionNeeds(store, PasswordBook.for_settings(settings))
        self.discovery: Discovery | None = None
        self.meter_rate_ms = settings.meter_rate_ms
        self.approval = settings.discovery_approval
        self._told_waiting = BoundedOnce(MAX_DISCOVERED_RECEIVERS * 4)
        # Discovered receivers being written to the store: they count toward the limit
        # already (probes finish concurrently).
        self._adding: set[str] = set()

    async def start(self) -> None:
        await self._load_meter_rate()
        for row in await self.rows.all():
            if row["ignored"]:
                self.ignored.add(row["id"])
                if self.discovery is not None:
                    self.discovery.ignore(row["id"])
                continue
            self._add(
                ReceiverAddress(row["address"], row["port"], row["protocol"]),
                row["source"],
                row["id"],
                stored_identity(row["family"], row["model"], row["channels"]),
                meter_rate_ms=row["meter_rate_ms"],
            )
        for address in self.settings.receivers:
            receiver_id = receiver_id_for(address)
            if receiver_id not in self.entries and receiver_id not in self.ignored:
                self._add(address, "config")

    async def stop(self) -> None:
        entries = list(self.entries.values())
        await asyncio.gather(*(self._stop_entry(e) for e in entries), return_exceptions=True)

    # --- REST operations ---

    async def add(self, address: ReceiverAddress) -> str:
        receiver_id = receiver_id_for(address)
        if receiver_id in self.entries:
            return receiver_id
        await self.rows.add(receiver_id, address, "manual")
        self.ignored.discard(receiver_id)
        if self.discovery is not None:
            self.discovery.unignore(receiver_id)
        self._add(address, "manual")
        log.info("receiver %s added", address, extra={"RECEIVER_ADDR": address.host})
        return receiver_id

    async def remove(self, receiver_id: str) -> None:
        entry = self.entries.get(receiver_id)
        if entry is None:
            raise NotFound(f"no receiver {receiver_id!r}")
        await self._stop_entry(entry)
        del self.entries[receiver_id]
        # A receiver from the config file would come back on restart: remember it as ignored.
        await self.rows.ignore(receiver_id, entry.address, entry.source)
        self.hub.remove_receiver(receiver_id)
        self.ignored.add(receiver_id)
        if self.discovery is not None:
            self.discovery.ignore(receiver_id)  # a removed receiver must not be rediscovered
        # What its protocol kept (an SSCv2 certificate pin): adding it again starts afresh.
        await removed(entry.address, self.needs)
        log.info("receiver %s removed", entry.address, extra={"RECEIVER_ADDR": entry.address.host})

    def credentials_changed(self, protocol: str) -> int:
        """A password for `protocol` was saved: its receivers waiting to retry (a missing or
        refused password) try again now instead of in a minute. Returns how many were woken."""
        woken = 0
        for entry in self.entries.values():
            if entry.address.kind == protocol:
                entry.machine.wake()
                woken += 1
        return woken

    async def _load_meter_rate(self) -> None:
        """The dashboard's meter rate, where it wins (config.py `with_dashboard`)."""
        saved = await self.store.get_setting(METER_RATE_SETTING)
        if not saved:
            return
        try:
            settings = with_dashboard(self.settings, {"meter_rate_ms": saved})
        except ConfigError as exc:
            log.warning("%s; metering every %d ms", exc, self.meter_rate_ms)
            return
        self.meter_rate_ms = settings.meter_rate_ms

    async def set_meter_rate(self, meter_rate_ms: int) -> None:
        """New metering interval for every receiver, kept across restarts."""
        self.meter_rate_ms = meter_rate_ms
        await self.store.set_setting(METER_RATE_SETTING, str(meter_rate_ms))
        for entry in self.entries.values():
            if entry.meter_rate_ms is None:
                await self._apply_meter_rate(entry)
        log.info("meter rate set to %d ms", meter_rate_ms)
        if not dashboard_may_set(self.settings, "meter_rate_ms"):
            log.warning(
                "the meter rate from the dashboard lasts until micboardd restarts: "
                "meter_rate_ms = %d from %s wins over the dashboard",
                self.settings.meter_rate_ms,
                self.settings.origins.get("meter_rate_ms"),
            )

    async def set_receiver_meter_rate(self, receiver_id: str, meter_rate_ms: int | None) -> None:
        """One receiver's own interval (None: follow the global one), kept across restarts."""
        entry = self.entries.get(receiver_id)
        if entry is None:
            raise NotFound(f"no receiver {receiver_id!r}")
        entry.meter_rate_ms = meter_rate_ms
        # A config-file receiver has no row yet: it gets one to keep its override.
        await self.rows.set_meter_rate(receiver_id, entry.address, entry.source, meter_rate_ms)
        await self._apply_meter_rate(entry)

    def meter_rate_for(self, receiver_id: str) -> int:
        entry = self.entries.get(receiver_id)
        if entry is not None and entry.meter_rate_ms is not None:
            return entry.meter_rate_ms
        return self.meter_rate_ms

    async def _apply_meter_rate(self, entry: Entry) -> None:
        try:
            await entry.machine.set_meter_rate(self.meter_rate_for(entry.receiver_id))
        except MicboardError as exc:
            log.debug("meter rate for %s applies on reconnect: %s", entry.address, exc)

    def discovered(self) -> list[dict[str, object]]:
        """What discovery found or rejected; whether each is monitored, ignored or waiting
        for an admin's approval (`discovery_approval`)."""
        if self.discovery is None:
            return []
        out: list[dict[str, object]] = []
        for c in self.discovery.candidates.values():
            out.append(
                {
                    "receiver_id": c.receiver_id,
                    "address": c.address,
                    "port": c.port,
                    "model": c.model,
                    "family": c.family.value,
                    "channels": c.channels,
                    "name": c.name,
                    "via": sorted(c.via),
                    "monitored": c.receiver_id in self.entries,
                    "ignored": c.receiver_id in self.ignored,
                    "announced": self.discovery.announced(c.receiver_id),
                    "waiting": self._waiting(c),
                    "rejected": None,
                }
            )
        for key, rejection in self.discovery.rejected.items():
            # Where and since when, so the crew sees which box it was (discovery/confirm.py).
            row: dict[str, object] = dict(rejection.as_dict())
            row.update(receiver_id=key, rejected=rejection.reason, since=iso(rejection.since))
            out.append(row)
        return out

    # --- discovery ---

    def _needs_approval(self, candidate: Candidate) -> bool:
        """Approval mode; and always for an SSCv2 receiver, whose session logs in with the
        SSCv2 password: only a crew member may decide to send it to an address somebody
        announced (docs/security.md "Discovery")."""
        return self.approval or is_sscv2(candidate)

    def _waiting(self, candidate: Candidate) -> bool:
        """Found, not monitored, not ignored: waiting for an admin's approval."""
        return (
            self._needs_approval(candidate)
            and candidate.receiver_id not in self.entries
            and candidate.receiver_id not in self.ignored
            and receiver_id_for(ReceiverAddress(candidate.address, candidate.port))
            not in self.entries
        )

    def _discovered_count(self, besides: str) -> int:
        """Receivers discovery brought in: monitored, or waiting for approval."""
        count = sum(1 for e in self.entries.values() if e.source in DISCOVERY_SOURCES)
        count += len(self._adding - {besides})
        if self.discovery is not None:
            count += sum(
                1
                for c in self.discovery.candidates.values()
                if c.receiver_id != besides and self._waiting(c)
            )
        return count

    async def on_discovered(self, candidate: Candidate) -> str | None:
        """A receiver discovery found and probed: monitor it, let it wait for approval, or
        follow it to a new address. Returns why it is refused (the discovery limit)."""
        address = ReceiverAddress(candidate.address, candidate.port)
        if candidate.receiver_id in self.ignored:
            return None
        entry = self.entries.get(candidate.receiver_id)
        if entry is None:
            if receiver_id_for(address) in self.entries:
                return None  # already monitored under its address (typed in by hand)
            if self._discovered_count(besides=candidate.receiver_id) >= MAX_DISCOVERED_RECEIVERS:
                return DISCOVERY_LIMIT
            if self._needs_approval(candidate):
                if self._told_waiting.first(candidate.receiver_id):
                    log.info(
                        "discovered %s at %s: waiting for an admin's approval%s",
                        candidate.model,
                        address,
                        SSCV2_APPROVAL_NOTE if is_sscv2(candidate) else "",
                        extra={"RECEIVER_ID": candidate.receiver_id, "RECEIVER_ADDR": address.host},
                    )
                return None
            await self._monitor(candidate)
            return None
        if entry.address != address and is_sscv2(candidate):
            return SSCV2_NOT_FOLLOWED
        if entry.address != address:
            log.info(
                "receiver %s moved from %s to %s",
                candidate.receiver_id,
                entry.address,
                address,
                extra={"RECEIVER_ID": candidate.receiver_id, "RECEIVER_ADDR": address.host},
            )
            await self._stop_entry(entry)
            await self.rows.move(candidate.receiver_id, address)
            # Swapped with no await in between: the receiver is never missing from `entries`
            # (a reader polling it mid-move would otherwise find no such receiver).
            del self.entries[candidate.receiver_id]
            self._add(
                address,
                entry.source,
                candidate.receiver_id,
                _result_of(candidate),
                meter_rate_ms=entry.meter_rate_ms,
            )
        return None

    async def _monitor(self, candidate: Candidate) -> None:
        """Monitor a discovered receiver from now on, and after a restart (the store)."""
        address = ReceiverAddress(candidate.address, candidate.port)
        source = (
            "slp" if "slp" in candidate.via else "mdns" if "mdns" in candidate.via else "discovery"
        )
        self._adding.add(candidate.receiver_id)
        try:
            identity = Identity(
                candidate.family.value,
                candidate.model,
                candidate.channels,
                candidate.name,
                candidate.serial,
            )
            await self.rows.discovered(candidate.receiver_id, address, identity, source)
        finally:
            self._adding.discard(candidate.receiver_id)
        log.info(
            "discovered %s at %s (%s), id %s",
            candidate.model,
            address,
            ", ".join(sorted(candidate.via)),
            candidate.receiver_id,
            extra={"RECEIVER_ID": candidate.receiver_id, "RECEIVER_ADDR": address.host},
        )
        self._add(address, source, candidate.receiver_id, _result_of(candidate))

    def _candidate(self, receiver_id: str) -> Candidate:
        candidate = self.discovery.candidates.get(receiver_id) if self.discovery else None
        if candidate is None:
            raise NotFound(f"discovery has found no receiver {receiver_id!r}")
        return candidate

    async def approve(self, receiver_id: str) -> str:
        """An admin approves a discovered receiver: monitored now and after a restart."""
        candidate = self._candidate(receiver_id)
        if receiver_id in self.entries:
            return receiver_id
        self.ignored.discard(receiver_id)
        await self._monitor(candidate)
        log.info(
            "receiver %s at %s approved by an admin",
            receiver_id,
            candidate.address,
            extra={"RECEIVER_ID": receiver_id, "RECEIVER_ADDR": candidate.address},
        )
        return receiver_id

    async def ignore_discovered(self, receiver_id: str) -> None:
        """An admin ignores a discovered (or rejected) receiver: not monitored, not listed
        as waiting, and still ignored after a restart. Adding it by address undoes it."""
        if receiver_id in self.entries:
            await self.remove(receiver_id)
            return
        discovery = self.discovery
        candidate = discovery.candidates.get(receiver_id) if discovery else None
        rejection = discovery.rejected.get(receiver_id) if discovery else None
        if candidate is not None:
            host, port = candidate.address, candidate.port
        elif rejection is not None:
            host, port = rejection.address, rejection.port
        else:
            raise NotFound(f"discovery has found no receiver {receiver_id!r}")
        await self.rows.ignore(receiver_id, ReceiverAddress(host, port), "discovery")
        self.ignored.add(receiver_id)
        if discovery is not None:
            discovery.ignore(receiver_id)
        log.info(
            "discovered receiver %s at %s ignored by an admin",
            receiver_id,
            host,
            extra={"RECEIVER_ID": receiver_id, "RECEIVER_ADDR": host},
        )

    def on_discovery_event(self, event: Event) -> None:
        """Announcements only inform: a receiver's machine alone decides online/offline, but
        one that is waiting to retry is told at once that its receiver is announcing."""
        from micboardd.discovery.registry import Heard

        if not isinstance(event, Heard):
            log.debug("discovery: %s", event)
            return
        entry = self.entries.get(event.receiver_id)
        if entry is None or entry.address.host != event.address:
            return
        now = time.monotonic()
        if now - entry.woken_at >= WAKE_MIN_INTERVAL_S:
            entry.woken_at = now
            entry.machine.wake()

    # --- internals ---

    def _add(
        self,
        address: ReceiverAddress,
        source: str,
        receiver_id: str | None = None,
        identity: ProbeResult | None = None,
        *,
        meter_rate_ms: int | None = None,
    ) -> Entry:
        receiver_id = receiver_id or receiver_id_for(address)
        machine = new_machine(
            address,
            self.hub,
            receiver_id,
            meter_rate_ms=self.meter_rate_ms if meter_rate_ms is None else meter_rate_ms,
            identity=identity,
            on_identified=functools.partial(self._identified, receiver_id),
            needs=self.needs,
        )
        entry = Entry(receiver_id, address, source, machine, meter_rate_ms)
        self.entries[receiver_id] = entry
        if self.discovery is not None:
            self.discovery.add_known(receiver_id, address.host, address.port, identity=identity)
        # What it was last time (store, discovery's probe): its tiles show, rx_offline,
        # until it answers; the machine's own probe then says what it is now.
        self.hub.upsert_receiver(
            receiver_id,
            address=address.host,
            port=address.port,
            source="receiver",
            family=identity.family if identity else Family.UNKNOWN,
            model=identity.model if identity else None,
            channels=identity.channels if identity else 0,
        )
        self.hub.commanders[receiver_id] = machine
        machine.start()
        return entry

    async def _stop_entry(self, entry: Entry) -> None:
        self.hub.commanders.pop(entry.receiver_id, None)
        await entry.machine.stop()

    async def _identified(self, receiver_id: str, result: ProbeResult) -> None:
        """The machine's probe said what answers: the hub, the store and discovery follow."""
        entry = self.entries.get(receiver_id)
        if entry is None:
            return
        if self.discovery is not None:
            self.discovery.identified(receiver_id, result)
        rx = self.hub.receivers.get(receiver_id)
        if rx is not None and (rx.family, rx.model, rx.channels) == (
            result.family,
            result.model,
            result.channels,
        ):
            return
        self.hub.upsert_receiver(
            receiver_id,
            address=entry.address.host,
            port=entry.address.port,
            family=result.family,
            model=result.model,
            channels=result.channels,
        )
        await self.rows.identified(
            receiver_id,
            Identity(result.family.value, result.model, result.channels, result.name),
        )


def stored_identity(
    family: str | None, model: str | None, channels: int | None
) -> ProbeResult | None:
    """What a receiver was when last seen (a store row), if that is enough to show its tiles."""
    fam = Family(family) if family else Family.UNKNOWN
    if fam is Family.UNKNOWN or not model or not channels:
        return None
    udp = fam is Family.UHFR or fam in SENNHEISER_FAMILIES
    return ProbeResult(fam, model, channels, "udp" if udp else "tcp")


def _result_of(candidate: Candidate) -> ProbeResult:
    """What discovery's probe found: the tiles show at once (the machine asks again)."""
    transport = "udp" if candidate.family is Family.UHFR else "tcp"
    return ProbeResult(
        candidate.family,
        candidate.model,
        candidate.channels,
        transport,
        candidate.name,
        candidate.firmware,
    )
