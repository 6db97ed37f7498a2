"""Which addresses discovery may make the daemon connect to (pure rules, plus the link map).

An announcement is somebody else's word. Discovery connects only to the address the packet
came from, only if that address lies on the subnet of the interface the packet arrived on
(so a loopback address only when it arrived on loopback, as in the tests' private network
namespace), and only on a receiver control port: Shure's 2202, or Sennheiser's SSC 45 and
SSCv2 443 (`_ssc._udp`). Never to a link-local (169.254/16),
multicast, broadcast or unspecified address: a real unit's SLP announcement may name a
link-local SDT endpoint, and a spoofed one may name anything.

Receivers added by hand (flags, config file, dashboard) are the crew's word and are not
subject to these rules.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from micboardd.config import PROTOCOL_PORTS

log = logging.getLogger(__name__)

# The ports discovery may make the daemon connect to: a receiver's control port. Not the
# Media Control Protocol's (ew G4 is added by address: nothing announces it dependably).
DISCOVERABLE_PORTS = frozenset(PROTOCOL_PORTS[p] for p in ("shure", "ssc1", "sscv2"))
LIMITED_BROADCAST = IPv4Address("255.255.255.255")
LINK_LOCAL = IPv4Network("169.254.0.0/16")
# A packet that arrived on an interface the map does not know yet (brought up since the last
# scan) makes it look again, but no more often than this: the kernel names the interface,
# never the peer, yet a burst of such packets must not become a burst of getifaddrs calls.
RELOOK_MIN_S = 1.0


@dataclass(frozen=True, slots=True)
class Interface:
    """One IPv4 address of the host, with its interface and prefix length."""

    name: str
    index: int
    address: str
    prefix: int = 32  # the subnet's prefix length; 32 when unknown (the address alone)

    def __str__(self) -> str:
        return f"{self.name} {self.address}"

    @property
    def network(self) -> IPv4Network:
        return ipaddress.IPv4Interface(f"{self.address}/{self.prefix}").network


def refusal(address: str, port: int, networks: Iterable[IPv4Network]) -> str | None:
    """Why discovery must not connect to `address:port`, or None when it may (pure).

    `networks` are the subnets of the interface the announcement arrived on.
    """
    try:
        ip = IPv4Address(address)
    except ValueError:
        return "not an IPv4 address"
    if port not in DISCOVERABLE_PORTS:
        known = ", ".join(str(p) for p in sorted(DISCOVERABLE_PORTS))
        return f"port {port} is not a receiver control port ({known})"
    if ip.is_unspecified:
        return "the unspecified address 0.0.0.0"
    if ip.is_multicast:
        return "a multicast address"
    if ip == LIMITED_BROADCAST:
        return "the broadcast address"
    if ip in LINK_LOCAL:
        return "a link-local address (169.254/16)"
    on = [net for net in networks if ip in net]
    if not on:
        return "not on the subnet of the interface it arrived on"
    if all(
        net.prefixlen <= 30 and ip in (net.network_address, net.broadcast_address) for net in on
    ):
        return "a subnet's network or broadcast address"
    return None


class LinkMap:
    """The subnets discovery listens on, by interface index (refreshed by `scan`).

    `wanted` are the configured discovery interface addresses; none means every IPv4
    address of the host. `networks(None)` (an announcement whose arrival interface the
    socket could not tell) is every subnet discovery listens on.
    """

    def __init__(
        self,
        wanted: Sequence[str],
        list_interfaces: Callable[[], list[Interface]],
        clock: Callable[[], float],
    ) -> None:
        self.wanted = tuple(wanted)
        self._list = list_interfaces
        self._clock = clock
        self._by_index: dict[int, tuple[IPv4Network, ...]] = {}
        self._looked_at: float | None = None

    def scan(self) -> None:
        try:
            found = self._list()
        except OSError as exc:
            log.warning("cannot list network interfaces: %s", exc)
            return
        self._looked_at = self._clock()
        by_index: dict[int, list[IPv4Network]] = {}
        for iface in found:
            if self.wanted and iface.address not in self.wanted:
                continue
            nets = by_index.setdefault(iface.index, [])
            if iface.network not in nets:
                nets.append(iface.network)
        self._by_index = {index: tuple(nets) for index, nets in by_index.items()}

    def networks(self, index: int | None) -> tuple[IPv4Network, ...]:
        if index is None:
            return tuple(net for nets in self._by_index.values() for net in nets)
        if index not in self._by_index:
            now = self._clock()
            if self._looked_at is None or now - self._looked_at >= RELOOK_MIN_S:
                self.scan()
        return self._by_index.get(index, ())


__all__ = ["Interface", "LinkMap", "refusal"]
