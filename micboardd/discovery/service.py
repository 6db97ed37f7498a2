"""`Discovery`: SLP + mDNS (`_shure._tcp`, `_ssc._udp`) feed the registry; each new device is
probed, then reported.

Nothing is reported on a name alone: every new device, and every device that moved to a new
address, is confirmed by a probe first, chosen by its port (`probes.py`: Shure on 2202,
SSCv2 on 443, SSCv2 then SSC v1 on 45). A host that does not answer like a receiver we know
is recorded as rejected with the reason (shown by `health()`) and probed again only after a
growing delay, never in a tight loop. Discovery never opens a session itself: its owner gets
each confirmed `Candidate` through `on_candidate`.

Before anything is probed, the address must pass `addresses.refusal`: the packet's own
source (SLP), or an address that announced its host name itself (mDNS, `mdns_witness.py`),
on the subnet of the interface the packet arrived on, and a receiver control port. Refused
sightings are counted (`refused`) and logged once per address and reason; they make no
record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from zeroconf.asyncio import AsyncZeroconf

from micboardd.discovery import SHURE_PORT, Candidate
from micboardd.discovery.addresses import Interface, LinkMap, refusal
from micboardd.discovery.bounded import BoundedOnce
from micboardd.discovery.confirm import CandidateCallback, Confirmer, Prober, Rejection
from micboardd.discovery.mdns import (
    SHURE_SERVICE,
    SSC_SERVICE,
    Advertiser,
    MdnsBrowser,
    MdnsService,
    new_zeroconf,
)
from micboardd.discovery.mdns_witness import MdnsWitness
from micboardd.discovery.multicast import ipv4_interfaces
from micboardd.discovery.probes import prober_for
from micboardd.discovery.registry import (
    Event,
    Found,
    Heard,
    Moved,
    Registry,
    Returned,
    Sighting,
    Silent,
)
from micboardd.discovery.slp import SLP_PORT, SlpListener
from micboardd.discovery.slp_parse import Announcement
from micboardd.errors import ConnectionFailed, MicboardError
from micboardd.pacing import sleep_to_beat
from micboardd.shure.probe import ProbeResult

log = logging.getLogger(__name__)

EventCallback = Callable[[Event], None]

# Silence is judged against a 30 s limit; looking every 2 s keeps the flag within a few
# seconds of the truth and costs nothing.
MAINTENANCE_S = 2.0
# Interfaces come and go (a cable, DHCP, a Dante network brought up late); a new one is
# joined within 30 s, well inside the time a person waits for a receiver to appear.
RESCAN_S = 30.0
# What mDNS browses for: Shure receivers, and EW-DX receivers (SSC, either version).
MDNS_SERVICES = (SHURE_SERVICE, SSC_SERVICE)
# Log-once keys remembered, oldest forgotten first (bounded memory).
MAX_LOGGED = 1024


@dataclass(frozen=True, slots=True)
class DiscoveryStats:
    packets: int  # SLP datagrams received
    announcements: int  # SLP announcements decoded
    malformed: int  # SLP datagrams that were not valid announcements
    ignored: int  # well-formed SLP that is no announcement, or not a receiver
    flooded: int  # SLP datagrams dropped by the per-source rate limit
    mdns_resolved: int
    mdns_unconfirmed: int  # mDNS services whose address never announced the host itself
    refused: int  # sightings at an address discovery may not connect to (addresses.py)
    rejected: int  # probes that found no supported receiver (cumulative)
    candidates: int  # receivers confirmed and reported (current)


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
        prober: Prober | None = None,
        clock: Callable[[], float] = time.monotonic,
        list_interfaces: Callable[[], list[Interface]] = ipv4_interfaces,
        hostname: str | None = None,
    ) -> None:
        self.interfaces = interfaces
        self.hostname = hostname  # "Micboard on <hostname>"; default: this host's name
        self.on_event = on_event
        self.http_port = http_port
        self.advertise = advertise and http_port is not None
        self.registry = Registry(ignored)
        self.slp_error: str | None = None
        self.mdns_error: str | None = None
        self._use_slp = slp
        self._use_mdns = mdns
        self._clock = clock
        self._list_interfaces = list_interfaces
        self._slp = SlpListener(
            interfaces,
            self.handle_announcement,
            port=slp_port,
            clock=clock,
            list_interfaces=list_interfaces,
        )
        self.links = LinkMap(interfaces, list_interfaces, clock)
        self._witness = MdnsWitness(interfaces, clock=clock, list_interfaces=list_interfaces)
        self.refused = 0
        self._azc: AsyncZeroconf | None = None
        self._browsers: list[MdnsBrowser] = []
        self._advertiser: Advertiser | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._advertising: asyncio.Task[None] | None = None
        self._logged = BoundedOnce(MAX_LOGGED)
        self.confirmer = Confirmer(
            self.registry,
            on_candidate,
            prober or prober_for(),
            clock,
            self._logged,
            on_moved=self._handle,
        )
        self._not_receivers = 0
        self._last_addresses: list[str] = []
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening and advertising. Network failures are logged, never raised."""
        if self._running:
            return
        self._running = True
        self.confirmer.running = True
        self.links.scan()
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
            try:
                self._witness.start()
            except OSError as exc:
                # Without it no mDNS address can be believed: browsing would find nothing.
                self.mdns_error = f"cannot listen to mDNS answers: {exc.strerror or exc}"
                log.error("mDNS discovery is off: %s", self.mdns_error)
            else:
                for service_type in MDNS_SERVICES:
                    browser = MdnsBrowser(self._azc, self.handle_mdns, self._witness, service_type)
                    await browser.start()
                    self._browsers.append(browser)
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
        await self.confirmer.stop()
        tasks = []
        for task in (self._maintenance, self._advertising):
            if task is not None:
                tasks.append(task)
        self._maintenance = self._advertising = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for browser in self._browsers:
            await browser.stop()
        self._browsers = []
        self._witness.stop()
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
    def candidates(self) -> dict[str, Candidate]:
        """Receivers confirmed by a probe, by receiver id."""
        return self.confirmer.candidates

    @property
    def rejected(self) -> dict[str, Rejection]:
        """Hosts that announced themselves but do not answer as a receiver, with why."""
        return self.confirmer.rejected

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
        identity: ProbeResult | None = None,
    ) -> None:
        """A receiver the owner already monitors (manual, System API) under `receiver_id`.

        It is never reported as new. If it announces itself from another address it is
        probed there, and reported again with the same id and the new address only if it
        answers as `identity` (what answered at the old address; see `identified`).
        """
        sighting = Sighting(via, address, port, cid=cid, serial=serial, mac=mac)
        record = self.registry.add_known(receiver_id, sighting, self._clock())
        self.confirmer.known(record, identity)

    def identified(self, receiver_id: str, identity: ProbeResult) -> None:
        """The owner's session read what answers at the receiver's address now: a move is
        followed only to a box that answers the same."""
        record = self.registry.get(receiver_id)
        if record is not None:
            self.confirmer.identified(record, identity)

    def forget(self, receiver_id: str) -> None:
        record = self.registry.get(receiver_id)
        if record is not None:
            self.confirmer.drop(record)
            self.registry.forget(receiver_id)

    def ignore(self, key: str) -> list[str]:
        """Ignore a device (id, cid, serial, MAC or address); returns the ids it hid."""
        ids = self.registry.ignore(key)
        for receiver_id in ids:
            self.confirmer.forget(receiver_id)
            record = self.registry.get(receiver_id)
            if record is not None:
                self.confirmer.drop(record)
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
        browsers = [b.stats for b in self._browsers]
        return DiscoveryStats(
            packets=slp.packets,
            announcements=slp.announcements,
            malformed=slp.malformed,
            ignored=slp.ignored + self._not_receivers,
            flooded=slp.flooded,
            mdns_resolved=sum(b.resolved for b in browsers),
            mdns_unconfirmed=sum(b.unconfirmed for b in browsers),
            refused=self.refused,
            rejected=self.confirmer.rejected_total,
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
                "browsing": bool(self._browsers),
                "advertised_as": self.host_name,
                "error": self.mdns_error,
            },
            "packets": s.packets,
            "announcements": s.announcements,
            "malformed": s.malformed,
            "ignored": s.ignored,
            "flooded": s.flooded,
            "refused": s.refused,
            "mdns_unconfirmed": s.mdns_unconfirmed,
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
                    "claim_of": r.claim_of,  # another address announcing this device's id
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
                    "SLP: %s announces a device that is not a receiver micboardd monitors "
                    "(%s, cid %s); ignored",
                    ann.address,
                    ann.dcid_model or "not in the DCID table",
                    ann.cid,
                )
                log.debug("SLP: it calls itself %r, %r", ann.function, ann.name)
            return
        if self._refused("SLP", ann.address, SHURE_PORT, ann.ifindex):
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
        if self._refused("mDNS", service.address, service.port, service.ifindex):
            return
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

    def _refused(self, via: str, address: str, port: int, ifindex: int | None) -> bool:
        """Whether this sighting's address is one discovery may not connect to (logged once
        per address and reason; `ifindex` None: any subnet discovery listens on)."""
        why = refusal(address, port, self.links.networks(ifindex))
        if why is None:
            return False
        self.refused += 1
        if self._logged.first(("refused", address, port, why)):
            log.warning(
                "%s: a receiver announced at %s:%d is not probed: %s",
                via,
                address,
                port,
                why,
                extra={"RECEIVER_ADDR": address},
            )
        return True

    def observe(self, sighting: Sighting) -> None:
        """Feed one sighting (SLP, mDNS, or the owner's System API inventory)."""
        now = self._clock()
        record, events = self.registry.observe(sighting, now)
        for event in events:
            self._handle(event)
        if record is None:
            return
        self.confirmer.seen(record, now)

    def _handle(self, event: Event) -> None:
        if isinstance(event, Heard):
            pass  # every announcement of a known receiver: not worth a log line
        elif isinstance(event, Found):
            r = event.record
            if r.claim_of is not None and self._logged.first(("claim", r.address, r.claim_of)):
                log.info(
                    "%s announces the identity of %s, known at another address: probing it "
                    "before following",
                    r.address,
                    r.claim_of,
                    extra={"RECEIVER_ID": r.claim_of, "RECEIVER_ADDR": r.address},
                )
            elif r.claim_of is None:
                log.debug("discovered %r at %s via %s", r.model, r.address, sorted(r.via))
        elif isinstance(event, Moved):
            log.info(
                "receiver %s moved from %s to %s (it answers the same there)",
                event.receiver_id,
                event.old_address,
                event.new_address,
                extra={"RECEIVER_ID": event.receiver_id, "RECEIVER_ADDR": event.new_address},
            )
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
            await sleep_to_beat(MAINTENANCE_S)  # with a read tick: no wake-up of its own
            try:
                next_rescan = await self._maintain_once(next_rescan)
            except Exception:
                log.exception("discovery housekeeping failed; trying again")

    async def _maintain_once(self, next_rescan: float) -> float:
        now = self._clock()
        for event in self.registry.tick(now):
            self._handle(event)
        self.confirmer.retry_due(now)
        if now >= next_rescan:
            next_rescan = now + RESCAN_S
            await self._rescan()
        return next_rescan

    async def _rescan(self) -> None:
        self.links.scan()
        self._slp.rescan()
        self._witness.rescan()
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
