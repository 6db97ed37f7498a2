"""mDNS: browse `_shure._tcp` and Sennheiser's `_ssc._udp` for receivers, and advertise the
appliance (PROTOCOLS.md §2.2, PROTOCOLS-SENNHEISER.md).

Browsing (one `MdnsBrowser` per service type): zeroconf calls the browser's handler inside the event loop; the handler only
queues the name, and a worker resolves it (`AsyncServiceInfo.async_request`, multicast
questions so answers reach us even when another responder shares port 5353) into an
`MdnsService` (address, port, TXT `model`). An address is believed only if the host itself
announced it (`mdns_witness.py`: the A record came in a packet from that very address); the
service then carries the interface that packet arrived on. A "Removed" only comes with a
goodbye or after the record's TTL (about 75 minutes), so liveness is never taken from mDNS.
Names, TXT values and everything else a peer chose reach logs only at DEBUG, escaped.

Advertising: an `_http._tcp` service "Micboard on <hostname>" with the web port and TXT
`path=/`, whose host name is `micboard.local` so phones can open `http://micboard.local`.
If another host answers for that name first, `micboard-2.local` is tried, and so on, as
mDNS hosts resolve conflicts. On stop the goodbyes are sent and awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zeroconf import (
    DNSQuestionType,
    InterfaceChoice,
    IPVersion,
    ServiceInfo,
    ServiceStateChange,
    Zeroconf,
)
from zeroconf._services.info import AddressResolverIPv4  # not in zeroconf's __all__
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from micboardd.discovery.bounded import BoundedOnce
from micboardd.discovery.mdns_witness import MdnsWitness
from micboardd.model import Family
from micboardd.shure.codec import peer_text
from micboardd.shure.families.models import family_for_model

log = logging.getLogger(__name__)

SHURE_SERVICE = "_shure._tcp.local."
# EW-DX receivers (TXT `txtvers`, `version`, `http-uri`; no model): the probe says what it is.
SSC_SERVICE = "_ssc._udp.local."
HTTP_SERVICE = "_http._tcp.local."
APPLIANCE_HOST = "micboard"
# A device on the LAN answers a resolve within milliseconds; 3 s (zeroconf's own default)
# covers a busy Wi-Fi segment without holding a worker for long.
RESOLVE_TIMEOUT_MS = 3000
# Names waiting to be resolved; a flood of advertisements beyond this is dropped (counted).
RESOLVE_QUEUE = 256
# Concurrent resolves: a venue's handful of devices resolve quickly; two workers keep one
# slow device from delaying the rest.
RESOLVE_WORKERS = 2
# How long to listen for another owner of a host name before taking it. A responder answers
# the same question at most once a second (RFC 6762 §6), so 2.5 s allows a second query and
# its answer; it runs in the background, so nobody waits for it.
HOSTNAME_PROBE_MS = 2500
# micboard, micboard-2 ... micboard-9: beyond that something is wrong with the LAN.
MAX_HOSTNAME_TRIES = 9
# DNS labels are at most 63 bytes; the instance name is cut to fit.
MAX_INSTANCE_NAME = 63
# Service names remembered by the once-only logs (bounded: names are the peers' choice).
MAX_LOGGED_NAMES = 1024


def new_zeroconf(interfaces: Sequence[str]) -> AsyncZeroconf:
    """IPv4 zeroconf on the given interface addresses, or on every interface when none."""
    choice: list[str] | InterfaceChoice = list(interfaces) if interfaces else InterfaceChoice.All
    return AsyncZeroconf(interfaces=choice, ip_version=IPVersion.V4Only)


@dataclass(frozen=True, slots=True)
class MdnsService:
    """A resolved `_shure._tcp` or `_ssc._udp` instance."""

    name: str
    address: str
    port: int
    model: str | None = None
    family: Family | None = None
    channels: int | None = None
    serial: str | None = None
    mac: str | None = None
    server: str | None = None
    ifindex: int | None = None  # where the host announced its address (None: not known)


def _txt(properties: dict[bytes, bytes | None], key: str) -> str | None:
    value = properties.get(key.encode())
    if not value:
        return None
    text = peer_text(value.decode("utf-8", "replace").strip())
    return text or None


def service_from_info(
    info: ServiceInfo, address: str | None = None, ifindex: int | None = None
) -> MdnsService | None:
    """What a resolved ServiceInfo says about a device at `address` (default: its first
    IPv4 address) (pure); None without an address. The port is the SRV record's, 0 if none."""
    addresses = info.parsed_addresses(IPVersion.V4Only)
    if not addresses:
        return None
    props = info.properties or {}
    model = _txt(props, "model")
    found = family_for_model(model) if model else None
    return MdnsService(
        name=info.name,
        address=address or addresses[0],
        port=info.port or 0,
        model=model,
        family=found[0] if found else None,
        channels=found[1] if found else None,
        serial=_txt(props, "serial"),
        mac=_txt(props, "mac"),
        server=info.server,
        ifindex=ifindex,
    )


@dataclass(slots=True)
class MdnsStats:
    resolved: int = 0
    unresolved: int = 0
    dropped: int = 0
    unconfirmed: int = 0  # resolved to an address that never announced that host itself


class MdnsBrowser:
    """Browses one service type and reports each resolved instance to `on_service`."""

    def __init__(
        self,
        azc: AsyncZeroconf,
        on_service: Callable[[MdnsService], None],
        witness: MdnsWitness,
        service_type: str = SHURE_SERVICE,
    ) -> None:
        self.azc = azc
        self.on_service = on_service
        self.witness = witness
        self.service_type = service_type
        self.stats = MdnsStats()
        self._queue: asyncio.Queue[str] = asyncio.Queue(RESOLVE_QUEUE)
        self._queued: set[str] = set()
        self._browser: AsyncServiceBrowser | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._failed_once = BoundedOnce(MAX_LOGGED_NAMES)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._workers = [
            loop.create_task(self._work(), name=f"mdns resolve {i}") for i in range(RESOLVE_WORKERS)
        ]
        self._browser = AsyncServiceBrowser(
            self.azc.zeroconf, [self.service_type], handlers=[self._on_change]
        )

    async def stop(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    def _on_change(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        if state_change is ServiceStateChange.Removed or name in self._queued:
            return
        try:
            self._queue.put_nowait(name)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            return
        self._queued.add(name)

    async def _work(self) -> None:
        while True:
            name = await self._queue.get()
            self._queued.discard(name)
            try:
                await self._resolve(name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mDNS: resolving %r failed", peer_text(name))

    async def _resolve(self, name: str) -> None:
        shown = peer_text(name)
        info = AsyncServiceInfo(self.service_type, name)
        found = await info.async_request(
            self.azc.zeroconf, RESOLVE_TIMEOUT_MS, question_type=DNSQuestionType.QM
        )
        addresses = info.parsed_addresses(IPVersion.V4Only) if found else []
        if not addresses or not info.server:
            self.stats.unresolved += 1
            if self._failed_once.first(name):
                log.debug("mDNS: %r did not resolve to an IPv4 address", shown)
            return
        self._failed_once.forget(name)
        confirmed = await self.witness.confirm(info.server, addresses)
        if confirmed is None:
            self.stats.unconfirmed += 1
            log.debug(
                "mDNS: %r resolved to %s, which never announced that host name itself: "
                "ignored (anyone can answer for a name)",
                shown,
                ", ".join(addresses),
            )
            return
        address, witnessed = confirmed
        service = service_from_info(info, address, witnessed.ifindex)
        assert service is not None  # it has an address
        self.stats.resolved += 1
        log.debug(
            "mDNS: %r is %s:%d (model %r)", shown, service.address, service.port, service.model
        )
        self.on_service(service)


def _instance_name(hostname: str) -> str:
    name = f"Micboard on {hostname}"
    while len(name.encode()) > MAX_INSTANCE_NAME:
        name = name[:-1]
    return name


class Advertiser:
    """Publishes the appliance's web UI as `_http._tcp` with host name `micboard.local`."""

    def __init__(
        self,
        azc: AsyncZeroconf,
        port: int,
        addresses: Sequence[str],
        *,
        hostname: str | None = None,
        base_host: str = APPLIANCE_HOST,
    ) -> None:
        self.azc = azc
        self.port = port
        self.addresses = list(addresses)
        self.hostname = hostname or socket.gethostname().split(".")[0] or "appliance"
        self.base_host = base_host
        self.host: str | None = None  # the claimed host name, e.g. "micboard.local."
        self.info: ServiceInfo | None = None

    async def _taken(self, host: str) -> bool:
        resolver = AddressResolverIPv4(host)
        # QM: a multicast answer reaches every socket; a unicast (QU) answer can land on
        # another mDNS responder sharing port 5353 on this host and never reach us.
        return await resolver.async_request(
            self.azc.zeroconf, HOSTNAME_PROBE_MS, question_type=DNSQuestionType.QM
        )

    async def claim_host(self) -> str:
        """The first of micboard.local, micboard-2.local, ... nobody else answers for."""
        for n in range(1, MAX_HOSTNAME_TRIES + 1):
            label = self.base_host if n == 1 else f"{self.base_host}-{n}"
            host = f"{label}.local."
            if not await self._taken(host):
                return host
            log.info("mDNS: %s is taken by another host, trying the next name", host[:-1])
        raise RuntimeError(f"mDNS: {self.base_host}.local to -{MAX_HOSTNAME_TRIES} all taken")

    def _service_info(self, host: str) -> ServiceInfo:
        name = _instance_name(self.hostname)
        return ServiceInfo(
            HTTP_SERVICE,
            f"{name}.{HTTP_SERVICE}",
            port=self.port,
            properties={"path": "/"},
            server=host,
            parsed_addresses=self.addresses,
        )

    async def start(self) -> str:
        """Claim a host name and register the service; returns the host name."""
        host = await self.claim_host()
        info = self._service_info(host)
        await (await self.azc.async_register_service(info, allow_name_change=True))
        self.host, self.info = host, info
        log.info(
            "advertising http://%s:%d/ as %r (addresses %s)",
            host[:-1],
            self.port,
            info.name.removesuffix("." + HTTP_SERVICE),
            ", ".join(self.addresses) or "none",
        )
        return host

    async def update_addresses(self, addresses: Sequence[str]) -> None:
        """Re-announce with the host's current addresses (DHCP, a cable plugged in)."""
        if self.info is None or self.host is None or list(addresses) == self.addresses:
            return
        self.addresses = list(addresses)
        info = self._service_info(self.host)
        info.name = self.info.name  # keep a name zeroconf may have changed on conflict
        await (await self.azc.async_update_service(info))
        self.info = info
        log.info("mDNS: %s now at %s", self.host[:-1], ", ".join(self.addresses))

    async def stop(self) -> None:
        if self.info is None:
            return
        info, self.info = self.info, None
        with contextlib.suppress(Exception):  # goodbyes are best-effort at shutdown
            await (await self.azc.async_unregister_service(info))
