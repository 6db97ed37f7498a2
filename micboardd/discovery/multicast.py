"""A UDP socket on a multicast group, joined on the discovery interfaces (SLP and mDNS).

`GroupSocket` binds the group's port with SO_REUSEADDR/SO_REUSEPORT (Wireless Workbench, or
the host's own mDNS responder, may hold the port too), joins the group on every configured
interface (or every IPv4 interface of the host) and follows interfaces that come and go
(`rescan`). Each datagram is handed over with its source address and the index of the
interface it arrived on (IP_PKTINFO), which discovery needs to judge the address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable

import ifaddr

from micboardd.discovery.addresses import Interface
from micboardd.discovery.bounded import BoundedOnce

log = logging.getLogger(__name__)

# Linux: deliver only the groups this socket joined, on the interfaces it joined them on
# (the default, 1, delivers every group any process joined). Not exported by `socket`.
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
# Linux: ask for the arrival interface of each datagram (struct in_pktinfo).
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
PKTINFO = struct.Struct("=i4s4s")  # ipi_ifindex, ipi_spec_dst, ipi_addr
# The largest UDP payload: a datagram is read whole, so an oversized one is seen as such.
MAX_DATAGRAM = 65535
# Datagrams read per wake-up before the loop gets a turn: a flood must not starve the rest.
MAX_READS_PER_WAKE = 64

Datagram = Callable[[bytes, str, int | None], None]  # data, source address, interface index


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
            Interface(adapter.nice_name or adapter.name, index, ip.ip, ip.network_prefix)
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


def arrival_index(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The interface index IP_PKTINFO reported for a datagram, if any (pure)."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= PKTINFO.size:
            index: int = PKTINFO.unpack_from(data)[0]
            return index
    return None


class GroupSocket:
    """Receives one multicast group on the discovery interfaces; see the module docstring."""

    def __init__(
        self,
        group: str,
        port: int,
        interfaces: tuple[str, ...],
        on_datagram: Datagram,
        *,
        label: str,
        list_interfaces: Callable[[], list[Interface]] = ipv4_interfaces,
    ) -> None:
        self.group = group
        self.port = port
        self.interfaces = interfaces
        self.on_datagram = on_datagram
        self.label = label
        self.joined: dict[int, Interface] = {}
        self._list_interfaces = list_interfaces
        self._logged = BoundedOnce()
        self._sock: socket.socket | None = None
        self._buffer = bytearray(MAX_DATAGRAM)
        self._ancillary_size = socket.CMSG_SPACE(PKTINFO.size)

    @property
    def running(self) -> bool:
        return self._sock is not None

    def _open_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            with contextlib.suppress(OSError):  # without it every subnet discovery uses counts
                sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            try:
                sock.bind((self.group, self.port))  # Linux: only datagrams sent to the group
            except OSError:
                sock.bind(("", self.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def start(self) -> None:
        """Bind, join and start reading; raises OSError if the port cannot be bound."""
        if self._sock is not None:
            return
        self._sock = self._open_socket()
        asyncio.get_running_loop().add_reader(self._sock.fileno(), self._read)
        self.rescan()

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(Exception):  # the loop may be closing already
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()
        self.joined.clear()

    def _read(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(MAX_READS_PER_WAKE):
            try:
                size, ancillary, _flags, address = sock.recvmsg_into(
                    [self._buffer], self._ancillary_size
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("%s socket error: %s", self.label, exc)
                return
            data = bytes(self._buffer[:size])
            try:
                self.on_datagram(data, str(address[0]), arrival_index(ancillary))
            except Exception:
                log.exception("%s: handling a datagram failed", self.label)

    def rescan(self) -> None:
        """Join the group on interfaces that appeared, leave those that went away."""
        if self._sock is None:
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
                log.info("%s: left %s on %s", self.label, self.group, iface)
        for index, iface in wanted.items():
            if index in self.joined:
                continue
            try:
                self._membership(socket.IP_ADD_MEMBERSHIP, iface)
            except OSError as exc:
                if self._logged.first(("join", index)):
                    log.warning("%s: cannot join %s on %s: %s", self.label, self.group, iface, exc)
                continue
            self._logged.forget(("join", index))
            self.joined[index] = iface
            log.info("%s: joined %s on %s", self.label, self.group, iface)

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
