"""Directly monitored receivers: manual entries (flags, config, REST) and their sessions.

For each receiver: probe it (family, model, channel count), register it with the hub, then
keep a session to it. A receiver that does not answer (yet) is retried with a capped backoff
and shown as disconnected with the reason; one that answers like no Shure receiver is shown
as `error` with the reason and retried slowly, never in a tight loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from micboardd.aio import cancel_and_wait
from micboardd.config import ReceiverAddress, Settings
from micboardd.discovery import Candidate
from micboardd.discovery.probe import ProbeResult, probe
from micboardd.errors import ConnectionFailed, MicboardError, NotFound, ProtocolError
from micboardd.hub import Hub
from micboardd.isotime import iso
from micboardd.model import SourceState
from micboardd.shure.families import FAMILIES
from micboardd.shure.session import ReceiverSession, backoff_delay
from micboardd.store import Store

if TYPE_CHECKING:
    from micboardd.discovery.registry import Event
    from micboardd.discovery.service import Discovery

log = logging.getLogger(__name__)

# A host that answered but not like a receiver is asked again only this often.
REJECTED_RETRY_S = 60.0


@dataclass(slots=True)
class Entry:
    receiver_id: str
    address: ReceiverAddress
    source: str  # "config", "manual", later "slp", "mdns", "system_api"
    task: asyncio.Task[None] | None = None
    session: ReceiverSession | None = None
    result: ProbeResult | None = None
    rejected: str | None = None
    meter_rate_ms: int | None = None  # this receiver's own interval; None: the global one
    created: float = field(default_factory=time.time)


def receiver_id_for(address: ReceiverAddress) -> str:
    """Until a receiver's ACN id or serial is known, its address is its id (ARCHITECTURE.md)."""
    return str(address)


class ReceiverManager:
    def __init__(self, hub: Hub, store: Store, settings: Settings) -> None:
        self.hub = hub
        self.store = store
        self.settings = settings
        self.entries: dict[str, Entry] = {}
        self.ignored: set[str] = set()
        self.discovery: Discovery | None = None
        self.meter_rate_ms = settings.meter_rate_ms

    async def start(self) -> None:
        stored = await self.store.get_setting("meter_rate_ms")
        if stored and stored.isdigit() and self.settings.origins.get("meter_rate_ms") == "default":
            self.meter_rate_ms = int(stored)  # set from the dashboard; file/env/flags win
        for row in await self.store.fetchall(
            "SELECT id, address, port, source, ignored, meter_rate_ms FROM receivers "
            "ORDER BY created_at"
        ):
            if row["ignored"]:
                self.ignored.add(row["id"])
                if self.discovery is not None:
                    self.discovery.ignore(row["id"])
                continue
            entry = self._add(
                ReceiverAddress(row["address"], row["port"]), row["source"], row["id"]
            )
            entry.meter_rate_ms = row["meter_rate_ms"]
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
        now = time.time()
        await self.store.execute(
            "INSERT INTO receivers(id, address, port, source, created_at, updated_at) "
            "VALUES(?, ?, ?, 'manual', ?, ?) ON CONFLICT(id) DO UPDATE SET ignored = 0, "
            "updated_at = excluded.updated_at",
            (receiver_id, address.host, address.port, now, now),
        )
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
        await self.store.execute(
            "INSERT INTO receivers(id, address, port, source, ignored, created_at, updated_at) "
            "VALUES(?, ?, ?, ?, 1, ?, ?) ON CONFLICT(id) DO UPDATE SET ignored = 1",
            (
                receiver_id,
                entry.address.host,
                entry.address.port,
                entry.source,
                time.time(),
                time.time(),
            ),
        )
        self.hub.remove_receiver(receiver_id)
        self.ignored.add(receiver_id)
        if self.discovery is not None:
            self.discovery.ignore(receiver_id)  # a removed receiver must not be rediscovered
        log.info("receiver %s removed", entry.address, extra={"RECEIVER_ADDR": entry.address.host})

    async def set_meter_rate(self, meter_rate_ms: int) -> None:
        """New metering interval for every receiver, kept across restarts."""
        self.meter_rate_ms = meter_rate_ms
        await self.store.set_setting("meter_rate_ms", str(meter_rate_ms))
        for entry in self.entries.values():
            if entry.meter_rate_ms is None:
                await self._apply_meter_rate(entry)
        log.info("meter rate set to %d ms", meter_rate_ms)

    async def set_receiver_meter_rate(self, receiver_id: str, meter_rate_ms: int | None) -> None:
        """One receiver's own interval (None: follow the global one), kept across restarts."""
        entry = self.entries.get(receiver_id)
        if entry is None:
            raise NotFound(f"no receiver {receiver_id!r}")
        entry.meter_rate_ms = meter_rate_ms
        await self.store.execute(
            "UPDATE receivers SET meter_rate_ms = ?, updated_at = ? WHERE id = ?",
            (meter_rate_ms, time.time(), receiver_id),
        )
        if entry.source == "config":
            # A config-file receiver has no row yet: keep its override all the same.
            await self.store.execute(
                "INSERT OR IGNORE INTO receivers(id, address, port, source, meter_rate_ms, "
                "created_at, updated_at) VALUES(?, ?, ?, 'config', ?, ?, ?)",
                (
                    receiver_id,
                    entry.address.host,
                    entry.address.port,
                    meter_rate_ms,
                    time.time(),
                    time.time(),
                ),
            )
        await self._apply_meter_rate(entry)

    def meter_rate_for(self, receiver_id: str) -> int:
        entry = self.entries.get(receiver_id)
        if entry is not None and entry.meter_rate_ms is not None:
            return entry.meter_rate_ms
        return self.meter_rate_ms

    async def _apply_meter_rate(self, entry: Entry) -> None:
        if entry.session is None:
            return
        try:
            await entry.session.set_meter_rate(self.meter_rate_for(entry.receiver_id))
        except MicboardError as exc:
            log.debug("meter rate for %s applies on reconnect: %s", entry.address, exc)

    def discovered(self) -> list[dict[str, object]]:
        """What discovery found or rejected, and whether each is monitored or ignored."""
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

    async def on_discovered(self, candidate: Candidate) -> None:
        """A receiver discovery found and probed: monitor it, or follow it to a new address."""
        address = ReceiverAddress(candidate.address, candidate.port)
        if candidate.receiver_id in self.ignored:
            return
        entry = self.entries.get(candidate.receiver_id)
        if entry is None:
            if receiver_id_for(address) in self.entries:
                return  # already monitored under its address (typed in by hand)
            now = time.time()
            source = (
                "slp"
                if "slp" in candidate.via
                else "mdns"
                if "mdns" in candidate.via
                else "discovery"
            )
            await self.store.execute(
                "INSERT INTO receivers(id, address, port, family, model, name, serial, channels, "
                "source, created_at, updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET address = excluded.address, port = excluded.port, "
                "updated_at = excluded.updated_at",
                (
                    candidate.receiver_id,
                    address.host,
                    address.port,
                    candidate.family.value,
                    candidate.model,
                    candidate.name,
                    candidate.serial,
                    candidate.channels,
                    source,
                    now,
                    now,
                ),
            )
            log.info(
                "discovered %s %s at %s (%s)",
                candidate.model,
                candidate.name or "",
                address,
                ", ".join(sorted(candidate.via)),
                extra={"RECEIVER_ID": candidate.receiver_id, "RECEIVER_ADDR": address.host},
            )
            self._add(address, source, candidate.receiver_id, _result_of(candidate))
            return
        if entry.address != address:
            log.info(
                "receiver %s moved from %s to %s",
                candidate.receiver_id,
                entry.address,
                address,
                extra={"RECEIVER_ID": candidate.receiver_id, "RECEIVER_ADDR": address.host},
            )
            await self._stop_entry(entry)
            del self.entries[candidate.receiver_id]
            await self.store.execute(
                "UPDATE receivers SET address = ?, port = ?, updated_at = ? WHERE id = ?",
                (address.host, address.port, time.time(), candidate.receiver_id),
            )
            self._add(address, entry.source, candidate.receiver_id, _result_of(candidate))

    def on_discovery_event(self, event: Event) -> None:
        """Announcements only inform; a receiver's session alone decides online/offline."""
        log.debug("discovery: %s", event)

    # --- internals ---

    def _add(
        self,
        address: ReceiverAddress,
        source: str,
        receiver_id: str | None = None,
        result: ProbeResult | None = None,
    ) -> Entry:
        receiver_id = receiver_id or receiver_id_for(address)
        entry = Entry(receiver_id, address, source, result=result)
        self.entries[receiver_id] = entry
        if self.discovery is not None:
            self.discovery.add_known(receiver_id, address.host, address.port)
        self.hub.upsert_receiver(
            receiver_id, address=address.host, port=address.port, source="receiver"
        )
        entry.task = asyncio.create_task(self._bring_up(entry), name=f"receiver {address}")
        return entry

    async def _stop_entry(self, entry: Entry) -> None:
        if entry.task is not None and not entry.task.done():
            await cancel_and_wait(entry.task)
        if entry.session is not None:
            self.hub.commanders.pop(entry.receiver_id, None)
            await entry.session.stop()
            entry.session = None

    async def _bring_up(self, entry: Entry) -> None:
        attempt = 0
        extra = {"RECEIVER_ID": entry.receiver_id, "RECEIVER_ADDR": entry.address.host}
        while entry.result is None:
            self.hub.set_source_state(entry.receiver_id, SourceState.CONNECTING)
            try:
                entry.result = await probe(entry.address.host, entry.address.port)
                break
            except ProtocolError as exc:
                reason = f"not a supported Shure receiver: {exc}"
                if entry.rejected != reason:
                    log.warning("%s rejected: %s", entry.address, reason, extra=extra)
                entry.rejected = reason
                self.hub.set_source_state(entry.receiver_id, SourceState.ERROR, error=reason)
                delay = REJECTED_RETRY_S
            except (ConnectionFailed, MicboardError, OSError) as exc:
                if attempt == 0:
                    log.warning("receiver %s does not answer: %s", entry.address, exc, extra=extra)
                self.hub.set_source_state(
                    entry.receiver_id, SourceState.DISCONNECTED, error=str(exc)
                )
                delay = backoff_delay(attempt)
            attempt += 1
            await asyncio.sleep(delay)
        result, entry.rejected = entry.result, None
        log.info(
            "receiver %s is a %s (%s, %d channel%s)",
            entry.address,
            result.model,
            result.family.value,
            result.channels,
            "" if result.channels == 1 else "s",
            extra={**extra, "MODEL": result.model},
        )
        self.hub.upsert_receiver(
            entry.receiver_id,
            address=entry.address.host,
            port=entry.address.port,
            family=result.family,
            model=result.model,
            channels=result.channels,
        )
        await self.store.execute(
            "UPDATE receivers SET family = ?, model = ?, channels = ?, name = ?, updated_at = ? WHERE id = ?",
            (
                result.family.value,
                result.model,
                result.channels,
                result.name,
                time.time(),
                entry.receiver_id,
            ),
        )
        session = ReceiverSession(
            self.hub,
            entry.receiver_id,
            entry.address.host,
            entry.address.port,
            FAMILIES[result.family],
            channels=result.channels,
            meter_rate_ms=self.meter_rate_for(entry.receiver_id),
        )
        entry.session = session
        self.hub.commanders[entry.receiver_id] = session
        await session.start()


def _result_of(candidate: Candidate) -> ProbeResult:
    """Discovery already probed the candidate: no need to ask the receiver twice."""
    transport = "udp" if "udp" in candidate.via else "tcp"
    return ProbeResult(
        candidate.family,
        candidate.model,
        candidate.channels,
        transport,
        candidate.name,
        candidate.firmware,
    )
