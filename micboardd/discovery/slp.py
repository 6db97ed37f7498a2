"""Shure SLP announcements: the multicast listener (PROTOCOLS.md §2.1).

Shure networked receivers multicast an unsolicited SLPv2 attribute reply about every 2 s to
239.255.254.253:8427, not the standard SLP group, so stock SLP libraries miss them.
`SlpListener` owns the socket: it joins the group on every configured interface (or every
IPv4 interface of the host), rate-limits each source, hands each datagram to the pure
`parse_slp` (slp_parse.py), counts and logs bad packets once, and never lets a packet stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import ifaddr

from micboardd.discovery.slp_parse import Announcement, IgnoredPacket, parse_slp
from micboardd.errors import ConnectionFailed, ProtocolError

log = logging.getLogger(__name__)

SLP_GROUP = "239.255.254.253"
SLP_PORT = 8427
# A receiver announces every ~2 s; 5 a second with bursts of 10 leaves room for a device
# announcing several functions or a restart burst, and drops a flood before parsing it.
FLOOD_RATE_PER_S = 5.0
FLOOD_BURST = 10.0
# Sources remembered by the flood gate and the once-only logs; beyond this the least recently
# heard is forgotten, so spoofed sources cannot grow memory.
MAX_TRACKED_SOURCES = 1024
# How many bytes of a bad packet a DEBUG line shows.
DEBUG_DUMP_BYTES = 64
# Linux: deliver only the groups this socket joined, on the interfaces it joined them on
# (the default, 1, delivers every group any process joined). Not exported by `socket`.
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)


# --- interfaces ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    index: int
    address: str

    def __str__(self) -> str:
        return f"{self.name} {self.address}"


def ipv4_interfaces() -> list[Interface]:
    """Every IPv4 address of the host with its interface (getifaddrs, through ifaddr)."""
    found: list[Interface] = []
    for adapter in ifaddr.get_adapters():
        index = adapter.index
        if index is None:
            try:
                index = socket.if_nametoindex(adapter.name)
            except OSError:
                continue
        found.extend(
            Interface(adapter.nice_name or adapter.name, index, ip.ip)
            for ip in adapter.ips
            if isinstance(ip.ip, str)
        )
    return found


def select_interfaces(
    available: list[Interface], wanted: tuple[str, ...]
) -> tuple[dict[int, Interface], list[str]]:
    """Interfaces to join on, one per index, and the wanted addresses not present (pure).

    No `wanted` means every interface that has an IPv4 address.
    """
    chosen: dict[int, Interface] = {}
    for iface in available:
        if (not wanted or iface.address in wanted) and iface.index not in chosen:
            chosen[iface.index] = iface
    present = {iface.address for iface in available}
    return chosen, [a for a in wanted if a not in present]


# --- the listener --------------------------------------------------------------------------------


class BoundedOnce:
    """Remembers up to `limit` keys, least recently used forgotten: 'log this only once'."""

    def __init__(self, limit: int = MAX_TRACKED_SOURCES) -> None:
        self._seen: OrderedDict[object, None] = OrderedDict()
        self._limit = limit

    def first(self, key: object) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return True

    def forget(self, key: object) -> None:
        self._seen.pop(key, None)


class FloodGate:
    """A token bucket per source; least recently heard sources are forgotten beyond a bound."""

    def __init__(
        self,
        rate: float = FLOOD_RATE_PER_S,
        burst: float = FLOOD_BURST,
        limit: int = MAX_TRACKED_SOURCES,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.limit = limit
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, source: str, now: float) -> bool:
        tokens, last = self._buckets.pop(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.limit:
            self._buckets.popitem(last=False)
        return allowed


@dataclass(slots=True)
class SlpStats:
    packets: int = 0
    announcements: int = 0
    malformed: int = 0
    ignored: int = 0
    flooded: int = 0


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, listener: SlpListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.listener.handle_datagram(data, str(addr[0]))

    def error_received(self, exc: Exception) -> None:
        log.debug("SLP socket error: %s", exc)


class SlpListener:
    """Receives Shure SLP announcements and hands each decoded one to `on_announcement`.

    `start()` joins the group on the interfaces present; call `rescan()` periodically to
    follow interfaces that come and go (`Discovery` does, every 30 s).
    """

    def __init__(
        self,
        interfaces: tuple[str, ...],
        on_announcement: Callable[[Announcement], None],
        *,
        port: int = SLP_PORT,
        group: str = SLP_GROUP,
        clock: Callable[[], float] = time.monotonic,
        list_interfaces: Callable[[], list[Interface]] = ipv4_interfaces,
    ) -> None:
        self.interfaces = interfaces
        self.on_announcement = on_announcement
        self.port = port
        self.group = group
        self.stats = SlpStats()
        self.joined: dict[int, Interface] = {}
        self._clock = clock
        self._list_interfaces = list_interfaces
        self._gate = FloodGate()
        self._logged = BoundedOnce()
        self._sock: socket.socket | None = None
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def running(self) -> bool:
        return self._transport is not None

    def _open_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):  # Wireless Workbench may hold the port too
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            try:
                sock.bind((self.group, self.port))  # Linux: only datagrams sent to the group
            except OSError:
                sock.bind(("", self.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    async def start(self) -> None:
        """Bind and join; raises `ConnectionFailed` if the port cannot be bound."""
        if self._transport is not None:
            return
        try:
            sock = self._open_socket()
        except OSError as exc:
            raise ConnectionFailed(
                f"cannot listen for SLP on UDP {self.port}: {exc.strerror or exc}"
            ) from exc
        self._sock = sock
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._transport = transport
        self.rescan()
        joined = ", ".join(str(i) for i in self.joined.values()) or "no interface yet"
        log.info(
            "listening for Shure SLP announcements on %s:%d (%s)", self.group, self.port, joined
        )

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            self._sock = None
            self.joined.clear()
            await asyncio.sleep(0)  # let the transport's close callback run

    def rescan(self) -> None:
        """Join the group on interfaces that appeared, leave those that went away."""
        sock = self._sock
        if sock is None:
            return
        try:
            available = self._list_interfaces()
        except OSError as exc:
            log.warning("cannot list network interfaces: %s", exc)
            return
        wanted, missing = select_interfaces(available, self.interfaces)
        for address in missing:
            if self._logged.first(("missing", address)):
                log.warning("discovery interface %s is not on this host (yet)", address)
        for address in self.interfaces:
            if address not in missing:
                self._logged.forget(("missing", address))
        for index, iface in list(self.joined.items()):
            if index not in wanted or wanted[index] != iface:
                self._membership(socket.IP_DROP_MEMBERSHIP, iface)
                del self.joined[index]
                log.info("SLP: left %s on %s", self.group, iface)
        for index, iface in wanted.items():
            if index in self.joined:
                continue
            try:
                self._membership(socket.IP_ADD_MEMBERSHIP, iface)
            except OSError as exc:
                if self._logged.first(("join", index)):
                    log.warning("SLP: cannot join %s on %s: %s", self.group, iface, exc)
                continue
            self._logged.forget(("join", index))
            self.joined[index] = iface
            log.info("SLP: joined %s on %s", self.group, iface)

    def _membership(self, option: int, iface: Interface) -> None:
        assert self._sock is not None
        mreqn = struct.pack(
            "=4s4si", socket.inet_aton(self.group), socket.inet_aton(iface.address), iface.index
        )
        if option == socket.IP_DROP_MEMBERSHIP:
            with contextlib.suppress(OSError):  # gone with its interface already
                self._sock.setsockopt(socket.IPPROTO_IP, option, mreqn)
            return
        self._sock.setsockopt(socket.IPPROTO_IP, option, mreqn)

    def handle_datagram(self, data: bytes, source: str) -> None:
        """Count, rate-limit, parse and forward one datagram; never raises."""
        self.stats.packets += 1
        if not self._gate.allow(source, self._clock()):
            self.stats.flooded += 1
            if self._logged.first(("flood", source)):
                log.warning(
                    "SLP announcement flood from %s: dropping beyond %g a second",
                    source,
                    FLOOD_RATE_PER_S,
                )
            return
        try:
            announcement = parse_slp(data, source)
        except IgnoredPacket as exc:
            self.stats.ignored += 1
            log.debug("SLP from %s ignored: %s", source, exc)
            return
        except ProtocolError as exc:
            self.stats.malformed += 1
            if self._logged.first(("malformed", source)):
                log.warning(
                    "malformed SLP packet from %s: %s (further ones from it are only counted)",
                    source,
                    exc,
                )
            log.debug("malformed SLP from %s: %r", source, data[:DEBUG_DUMP_BYTES])
            return
        self.stats.announcements += 1
        try:
            self.on_announcement(announcement)
        except Exception:
            log.exception("SLP: handling the announcement of %s failed", source)
