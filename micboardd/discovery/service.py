"""`Discovery`: SLP + mDNS feed the registry; each new device is probed, then reported.

Nothing is reported on a name alone: every new device, and every device that moved to a new
address, is confirmed with `probe()` first (TCP 2202, UDP for UHF-R). A host that does not
answer like a Shure receiver is recorded as rejected with the reason (shown by `health()`)
and probed again only after a growing delay, never in a tight loop. Discovery never opens a
session itself: its owner gets each confirmed `Candidate` through `on_candidate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from zeroconf.asyncio import AsyncZeroconf

from micboardd.discovery import SHURE_PORT, Candidate
from micboardd.discovery.mdns import Advertiser, MdnsService, ShureBrowser, new_zeroconf
from micboardd.discovery.probe import ProbeResult, probe
from micboardd.discovery.registry import (
    DeviceRecord,
    Event,
    Found,
    Moved,
    Registry,
    Returned,
    Sighting,
    Silent,
)
from micboardd.discovery.slp import (
    SLP_PORT,
    Announcement,
    BoundedOnce,
    Interface,
    SlpListener,
    ipv4_interfaces,
)
from micboardd.errors import ConnectionFailed, MicboardError, ProtocolError
from micboardd.model import Family

log = logging.getLogger(__name__)

CandidateCallback = Callable[[Candidate], Awaitable[None] | None]
EventCallback = Callable[[Event], None]
Prober = Callable[[str, int], Awaitable[ProbeResult]]

# Silence is judged against a 30 s limit; looking every 2 s keeps the flag within a few
# seconds of the truth and costs nothing.
MAINTENANCE_S = 2.0
# Interfaces come and go (a cable, DHCP, a Dante network brought up late); a new one is
# joined within 30 s, well inside the time a person waits for a receiver to appear.
RESCAN_S = 30.0
# A probe holds one connection for up to ~2 s; 8 at once confirms a 30-receiver venue in a
# few seconds without a burst of connections.
PROBE_CONCURRENCY = 8
# A rejected host is probed again after 60 s, doubling to at most 15 minutes: a receiver
# still booting gets in soon, a PC announcing on 8427 costs one connection in 15 minutes.
REJECT_RETRY_S = 60.0
REJECT_RETRY_MAX_S = 900.0
# An mDNS-only sighting has no ACN cid yet; SLP announces every ~2 s, so waiting 2.5 s lets
# the id be the cid (stable across DHCP changes) instead of the address.
IDENTIFY_GRACE_S = 2.5
# Log-once keys and rejected addresses remembered, oldest forgotten first (bounded memory).
MAX_LOGGED = 1024


@dataclass(frozen=True, slots=True)
class Rejection:
    receiver_id: str
    address: str
    port: int
    reason: str
    since: float  # wall clock (time.time())
    retry_in_s: float
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "receiver_id": self.receiver_id,
            "address": self.address,
            "port": self.port,
            "reason": self.reason,
            "since": self.since,
            "retry_in_s": self.retry_in_s,
            "attempts": self.attempts,
        }


@dataclass(frozen=True, slots=True)
class DiscoveryStats:
    packets: int  # SLP datagrams received
    announcements: int  # SLP announcements decoded
    malformed: int  # SLP datagrams that were not valid announcements
    ignored: int  # well-formed SLP that is no announcement, or not a receiver
    flooded: int  # SLP datagrams dropped by the per-source rate limit
    mdns_resolved: int
    rejected: int  # probes that found no supported receiver (cumulative)
    candidates: int  # receivers confirmed and reported (current)


@dataclass(slots=True)
class _Track:
    """Discovery's own view of a record: what was confirmed, what is being probed."""

    confirmed: tuple[str, int] | None = None
    task: asyncio.Task[None] | None = None
    identified: asyncio.Event | None = None  # set when an mDNS-only record learns its cid
    retry_at: float = 0.0
    failures: int = 0


def merge_identity(record: DeviceRecord, result: ProbeResult) -> tuple[Family, str, int]:
    """Family, model and channels from the probe, the receiver's own word (pure).

    One exception: ULX-D and QLX-D share a vocabulary, so a probe that got no MODEL cannot
    tell them apart; an announcement's DCID can.
    """
    family, model, channels = result.family, result.model, result.channels
    pair = {Family.ULXD, Family.QLXD}
    if (
        record.family in pair
        and family in pair
        and record.family is not family
        and record.channels == channels
    ):
        return record.family, record.model or model, channels
    return family, model, channels


class Discovery:
    """Runs SLP and mDNS discovery plus the appliance's own mDNS advertisement."""

    def __init__(
        self,
        interfaces: tuple[str, ...],
        on_candidate: CandidateCallback,
        http_port: int | None,
        advertise: bool = True,
        *,
        on_event: EventCallback | None = None,
        ignored: Iterable[str] = (),
        slp: bool = True,
        mdns: bool = True,
        slp_port: int = SLP_PORT,
        prober: Prober = probe,
        clock: Callable[[], float] = time.monotonic,
        list_interfaces: Callable[[], list[Interface]] = ipv4_interfaces,
        hostname: str | None = None,
    ) -> None:
        self.interfaces = interfaces
        self.hostname = hostname  # "Micboard on <hostname>"; default: this host's name
        self.on_candidate = on_candidate
        self.on_event = on_event
        self.http_port = http_port
        self.advertise = advertise and http_port is not None
        self.registry = Registry(ignored)
        self.candidates: dict[str, Candidate] = {}
        self.rejected: dict[str, Rejection] = {}
        self.rejected_total = 0
        self.slp_error: str | None = None
        self.mdns_error: str | None = None
        self._use_slp = slp
        self._use_mdns = mdns
        self._prober = prober
        self._clock = clock
        self._list_interfaces = list_interfaces
        self._slp = SlpListener(
            interfaces,
            self.handle_announcement,
            port=slp_port,
            clock=clock,
            list_interfaces=list_interfaces,
        )
        self._azc: AsyncZeroconf | None = None
        self._browser: ShureBrowser | None = None
        self._advertiser: Advertiser | None = None
        self._tracks: dict[DeviceRecord, _Track] = {}
        self._slots = asyncio.Semaphore(PROBE_CONCURRENCY)
        self._maintenance: asyncio.Task[None] | None = None
        self._advertising: asyncio.Task[None] | None = None
        self._logged = BoundedOnce(MAX_LOGGED)
        self._not_receivers = 0
        self._last_addresses: list[str] = []
        self._running = False
        self._probing: set[tuple[str, int]] = set()
        self._probes: set[asyncio.Task[None]] = set()  # every probe task, until it is done
        # (address, port) -> monotonic time before which it is not probed again; bounded.
        self._rejected_at: dict[tuple[str, int], float] = {}

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening and advertising. Network failures are logged, never raised."""
        if self._running:
            return
        self._running = True
        if self._use_slp:
            try:
                await self._slp.start()
            except ConnectionFailed as exc:
                self.slp_error = str(exc)
                log.error("SLP discovery is off: %s", exc)
        if self._use_mdns or self.advertise:
            await self._start_mdns()
        self._maintenance = asyncio.get_running_loop().create_task(
            self._maintain(), name="discovery maintenance"
        )

    async def _start_mdns(self) -> None:
        try:
            self._azc = new_zeroconf(self.interfaces)
        except (OSError, RuntimeError) as exc:
            self.mdns_error = f"cannot start mDNS: {exc}"
            if self._logged.first(("mdns-start", self.mdns_error)):
                log.error(
                    "mDNS discovery and advertising are off (retried every %.0f s): %s",
                    RESCAN_S,
                    exc,
                )
            return
        if self.mdns_error is not None:
            log.info("mDNS discovery and advertising are on")
        self.mdns_error = None
        if self._use_mdns:
            self._browser = ShureBrowser(self._azc, self.handle_mdns)
            await self._browser.start()
        if self.advertise and self.http_port is not None:
            # Claiming a host name takes a second or two: never hold up the daemon's start.
            self._last_addresses = self._advertised_addresses()
            self._advertiser = Advertiser(
                self._azc, self.http_port, self._last_addresses, hostname=self.hostname
            )
            self._advertising = asyncio.get_running_loop().create_task(
                self._advertise(self._advertiser), name="mDNS advertise"
            )

    async def _advertise(self, advertiser: Advertiser) -> None:
        try:
            await advertiser.start()
        except (OSError, RuntimeError, MicboardError) as exc:
            log.warning("cannot advertise the web UI over mDNS: %s", exc)

    async def stop(self) -> None:
        """Stop everything; the mDNS goodbyes are sent before this returns."""
        if not self._running:
            return
        self._running = False
        tasks = list(self._probes)
        for task in (self._maintenance, self._advertising):
            if task is not None:
                tasks.append(task)
        self._maintenance = self._advertising = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._browser is not None:
            await self._browser.stop()
            self._browser = None
        if self._advertiser is not None:
            await self._advertiser.stop()
            self._advertiser = None
        if self._azc is not None:
            with contextlib.suppress(Exception):  # best-effort at shutdown
                await self._azc.async_close()
            self._azc = None
        await self._slp.stop()

    # --- what the owner can ask for -----------------------------------------------------------

    @property
    def host_name(self) -> str | None:
        """The mDNS host name the appliance claimed (`micboard.local`), if advertising."""
        host = self._advertiser.host if self._advertiser is not None else None
        return host[:-1] if host else None

    def add_known(
        self,
        receiver_id: str,
        address: str,
        port: int = SHURE_PORT,
        *,
        via: str = "manual",
        cid: str | None = None,
        serial: str | None = None,
        mac: str | None = None,
    ) -> None:
        """A receiver the owner already monitors (manual, System API) under `receiver_id`.

        It is never reported as new; if it announces itself from another address it is
        re-probed there and reported again with the same id and the new address.
        """
        sighting = Sighting(via, address, port, cid=cid, serial=serial, mac=mac)
        record = self.registry.add_known(receiver_id, sighting, self._clock())
        self._track(record).confirmed = (record.address, record.port)

    def forget(self, receiver_id: str) -> None:
        record = self.registry.get(receiver_id)
        if record is not None:
            self._drop(record)
            self.registry.forget(receiver_id)

    def ignore(self, key: str) -> list[str]:
        """Ignore a device (id, cid, serial, MAC or address); returns the ids it hid."""
        ids = self.registry.ignore(key)
        for receiver_id in ids:
            self.candidates.pop(receiver_id, None)
            self.rejected.pop(receiver_id, None)
            record = self.registry.get(receiver_id)
            if record is not None:
                self._drop(record)
        return ids

    def unignore(self, key: str) -> list[str]:
        """Stop ignoring; the device is found, probed and reported again when next seen."""
        return self.registry.unignore(key)

    def announced(self, receiver_id: str) -> bool | None:
        """Whether the device announced itself within 30 s; None if discovery never saw it."""
        record = self.registry.get(receiver_id)
        return None if record is None else record.announced

    @property
    def stats(self) -> DiscoveryStats:
        slp = self._slp.stats
        mdns = self._browser.stats.resolved if self._browser is not None else 0
        return DiscoveryStats(
            packets=slp.packets,
            announcements=slp.announcements,
            malformed=slp.malformed,
            ignored=slp.ignored + self._not_receivers,
            flooded=slp.flooded,
            mdns_resolved=mdns,
            rejected=self.rejected_total,
            candidates=len(self.candidates),
        )

    def health(self) -> dict[str, Any]:
        """Everything `/api/health` shows about discovery, JSON-ready."""
        s = self.stats
        return {
            "slp": {
                "listening": self._slp.running,
                "interfaces": [str(i) for i in self._slp.joined.values()],
                "error": self.slp_error,
            },
            "mdns": {
                "browsing": self._browser is not None,
                "advertised_as": self.host_name,
                "error": self.mdns_error,
            },
            "packets": s.packets,
            "announcements": s.announcements,
            "malformed": s.malformed,
            "ignored": s.ignored,
            "flooded": s.flooded,
            "rejected": s.rejected,
            "candidates": s.candidates,
            "devices": [
                {
                    "receiver_id": r.receiver_id,
                    "address": r.address,
                    "via": sorted(r.via),
                    "model": r.model,
                    "announced": r.announced,
                    "ignored": r.ignored,
                }
                for r in self.registry.records()
            ],
            "rejections": [r.as_dict() for r in self.rejected.values()],
        }

    # --- sightings ---------------------------------------------------------------------------

    def handle_announcement(self, ann: Announcement) -> None:
        if ann.receiver is False:
            self._not_receivers += 1
            if self._logged.first(("not-receiver", ann.cid)):
                log.info(
                    "SLP: %s at %s (%s) is not a receiver micboardd monitors; ignored",
                    ann.model or ann.function or "a device",
                    ann.address,
                    ann.name or ann.cid,
                )
            return
        self.observe(
            Sighting(
                "slp",
                ann.address,
                cid=ann.cid,
                mac=ann.mac,
                model=ann.model,
                family=ann.family,
                channels=ann.channels,
                name=ann.name,
                band=ann.band,
            )
        )

    def handle_mdns(self, service: MdnsService) -> None:
        self.observe(
            Sighting(
                "mdns",
                service.address,
                service.port,
                serial=service.serial,
                mac=service.mac,
                model=service.model,
                family=service.family,
                channels=service.channels,
            )
        )

    def observe(self, sighting: Sighting) -> None:
        """Feed one sighting (SLP, mDNS, or the owner's System API inventory)."""
        now = self._clock()
        record, events = self.registry.observe(sighting, now)
        for event in events:
            self._handle(event)
        if record is None:
            return
        track = self._tracks.get(record)
        if track is not None and track.identified is not None and record.cid is not None:
            track.identified.set()
        self._maybe_confirm(record, now)

    def _handle(self, event: Event) -> None:
        if isinstance(event, Found):
            r = event.record
            log.debug("discovered %s at %s via %s", r.model or "a device", r.address, r.via)
        elif isinstance(event, Moved):
            log.info(
                "receiver %s moved from %s to %s",
                event.receiver_id,
                event.old_address,
                event.new_address,
                extra={"RECEIVER_ID": event.receiver_id, "RECEIVER_ADDR": event.new_address},
            )
            self.rejected.pop(event.receiver_id, None)
            track = self._tracks.get(event.record)
            if track is not None:
                track.retry_at, track.failures = 0.0, 0
        elif isinstance(event, Silent):
            log.info(
                "receiver %s stopped announcing itself (its session decides if it is online)",
                event.receiver_id,
                extra={"RECEIVER_ID": event.receiver_id},
            )
        elif isinstance(event, Returned):
            log.info(
                "receiver %s announces itself again",
                event.receiver_id,
                extra={"RECEIVER_ID": event.receiver_id},
            )
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("discovery event handler failed on %s", event)

    # --- confirming ----------------------------------------------------------------------------

    def _track(self, record: DeviceRecord) -> _Track:
        track = self._tracks.get(record)
        if track is None:
            track = self._tracks[record] = _Track()
        return track

    def _drop(self, record: DeviceRecord) -> None:
        track = self._tracks.pop(record, None)
        if track is not None and track.task is not None:
            track.task.cancel()

    def _maybe_confirm(self, record: DeviceRecord, now: float) -> None:
        if record.ignored or not self._running:
            return
        track = self._track(record)
        if track.task is not None and not track.task.done():
            return
        where = (record.address, record.port)
        if track.confirmed == where or now < track.retry_at or where in self._probing:
            return
        # Another device record at the same address was just rejected (a host announcing
        # many cids): share its verdict instead of probing the host again.
        if now < self._rejected_at.get(where, 0.0):
            track.retry_at = self._rejected_at[where]
            return
        track.task = asyncio.get_running_loop().create_task(
            self._confirm(record, track), name=f"probe {record.address}"
        )
        self._probes.add(track.task)
        track.task.add_done_callback(self._probes.discard)

    async def _confirm(self, record: DeviceRecord, track: _Track) -> None:
        if record.cid is None and not record.pinned and "slp" not in record.via:
            track.identified = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(track.identified.wait(), IDENTIFY_GRACE_S)
            track.identified = None
        while True:
            address, port = record.address, record.port
            self._probing.add((address, port))
            try:
                async with self._slots:
                    result = await self._prober(address, port)
            except ProtocolError as exc:
                reason: str | None = f"not a supported Shure receiver: {exc}"
            except (ConnectionFailed, OSError) as exc:
                reason = f"no receiver answers on port {port}: {exc}"
            except Exception as exc:  # a bug in the probe: back off like a rejection
                log.exception("probing %s:%d failed", address, port)
                reason = f"probe failed: {exc!r}"
            else:
                reason = None
            finally:
                self._probing.discard((address, port))
            if (record.address, record.port) == (address, port):
                break  # else it moved while we probed: probe the new address
        if reason is not None:
            self._reject(record, track, reason)
            return
        await self._accept(record, track, result)

    def _reject(self, record: DeviceRecord, track: _Track, reason: str) -> None:
        track.failures += 1
        delay = min(REJECT_RETRY_MAX_S, REJECT_RETRY_S * 2 ** (track.failures - 1))
        track.retry_at = self._clock() + delay
        self.rejected_total += 1
        previous = self.rejected.get(record.receiver_id)
        self.rejected[record.receiver_id] = Rejection(
            record.receiver_id,
            record.address,
            record.port,
            reason,
            previous.since if previous and previous.reason == reason else time.time(),
            delay,
            track.failures,
        )
        self._remember_rejected((record.address, record.port), track.retry_at)
        extra = {"RECEIVER_ID": record.receiver_id, "RECEIVER_ADDR": record.address}
        if self._logged.first(("rejected", record.address, record.port, reason)):
            log.warning(
                "%s announced itself but was rejected: %s (next try in %.0f s)",
                record.address,
                reason,
                delay,
                extra=extra,
            )
        else:
            log.debug("%s still rejected: %s", record.address, reason, extra=extra)

    def _remember_rejected(self, where: tuple[str, int], retry_at: float) -> None:
        self._rejected_at.pop(where, None)
        self._rejected_at[where] = retry_at
        while len(self._rejected_at) > MAX_LOGGED:
            self._rejected_at.pop(next(iter(self._rejected_at)))

    async def _accept(self, record: DeviceRecord, track: _Track, result: ProbeResult) -> None:
        family, model, channels = merge_identity(record, result)
        if record.family is not None and record.family is not family:
            log.info(
                "%s announced itself as %s but answers as %s; trusting the receiver",
                record.address,
                record.model,
                model,
            )
        self.registry.pin(record)
        track.confirmed, track.failures, track.retry_at = (record.address, record.port), 0, 0.0
        self.rejected.pop(record.receiver_id, None)
        self._rejected_at.pop((record.address, record.port), None)
        candidate = Candidate(
            receiver_id=record.receiver_id,
            address=record.address,
            port=record.port,
            family=family,
            model=model,
            channels=channels,
            via=frozenset(record.via | {"probe"}),
            cid=record.cid,
            serial=record.serial,
            name=record.name or result.name,
            mac=record.mac,
            band=record.band,
            firmware=result.firmware,
        )
        previous = self.candidates.get(record.receiver_id)
        self.candidates[record.receiver_id] = candidate
        if previous is None:
            log.info(
                "found %s (%d channel%s) at %s via %s, id %s",
                model,
                channels,
                "" if channels == 1 else "s",
                record.address,
                "+".join(sorted(candidate.via)),
                record.receiver_id,
                extra={
                    "RECEIVER_ID": record.receiver_id,
                    "RECEIVER_ADDR": record.address,
                    "MODEL": model,
                },
            )
        await self._report(candidate)

    async def _report(self, candidate: Candidate) -> None:
        try:
            outcome = self.on_candidate(candidate)
            if inspect.isawaitable(outcome):
                await outcome
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handling discovered receiver %s failed", candidate)

    # --- housekeeping --------------------------------------------------------------------------

    def _advertised_addresses(self) -> list[str]:
        if self.interfaces:
            return list(self.interfaces)
        try:
            found = self._list_interfaces()
        except OSError:
            return []
        outside = [i.address for i in found if not i.address.startswith("127.")]
        return sorted(set(outside or [i.address for i in found]))

    async def _maintain(self) -> None:
        next_rescan = self._clock() + RESCAN_S
        while True:
            await asyncio.sleep(MAINTENANCE_S)
            try:
                next_rescan = await self._maintain_once(next_rescan)
            except Exception:
                log.exception("discovery housekeeping failed; trying again")

    async def _maintain_once(self, next_rescan: float) -> float:
        now = self._clock()
        for event in self.registry.tick(now):
            self._handle(event)
        for record, track in list(self._tracks.items()):
            if self.registry.get(record.receiver_id) is not record:
                self._drop(record)  # forgotten or evicted
            elif track.retry_at and now >= track.retry_at:
                self._maybe_confirm(record, now)
        if now >= next_rescan:
            next_rescan = now + RESCAN_S
            await self._rescan()
        return next_rescan

    async def _rescan(self) -> None:
        self._slp.rescan()
        if self._azc is None and (self._use_mdns or self.advertise):
            await self._start_mdns()  # its interface may have appeared
            if self._azc is not None:
                return
        addresses = self._advertised_addresses()
        if addresses == self._last_addresses:
            return
        self._last_addresses = addresses
        if self._azc is not None and not self.interfaces:
            try:
                await self._azc.async_update_interfaces()
            except (OSError, RuntimeError) as exc:
                log.warning("mDNS: cannot follow the interface change: %s", exc)
        if self._advertiser is not None:
            try:
                await self._advertiser.update_addresses(addresses)
            except (OSError, RuntimeError) as exc:
                log.warning("mDNS: cannot update the advertised addresses: %s", exc)
