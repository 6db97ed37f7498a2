"""Who really said it: which hosts announced their own address over mDNS, and where.

zeroconf resolves a `_shure._tcp` service to an address from its cache, whoever put the A
record there: anybody on the LAN can answer for `rx.local` with a victim's address. zeroconf
does not say which packet carried an answer, so `MdnsWitness` listens to the mDNS group
itself (its own socket on 5353, beside zeroconf's: every socket bound to the port gets a copy
of each multicast datagram) and remembers, for every response, the A records whose address
is the packet's own source, with the interface the packet arrived on. A resolved service is
believed only at an address that announced that host name itself (`confirm`).

Only multicast answers are seen; the browser asks with multicast (QM) questions, so
receivers answer to the group. Memory is bounded (`MAX_WITNESSED`, least recently heard out).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from zeroconf._dns import DNSAddress  # public classes, not in zeroconf's __all__
from zeroconf._protocol.incoming import DNSIncoming

from micboardd.discovery.addresses import Interface
from micboardd.discovery.bounded import LruDict
from micboardd.discovery.multicast import GroupSocket, ipv4_interfaces

log = logging.getLogger(__name__)

MDNS_GROUP = "224.0.0.251"
MDNS_PORT = 5353
TYPE_A = 1
# Host names seen announcing their own address, most recently heard kept. A venue LAN with
# hundreds of phones announcing themselves churns this, but a receiver re-announces at least
# every TTL refresh, and its entry is only needed the moment its service resolves.
MAX_WITNESSED = 1024
# An entry older than the 75-minute PTR TTL (RFC 6762 §10) says nothing about now.
WITNESS_KEEP_S = 4500.0
# The same datagram reaches zeroconf's socket and ours in the same loop turn or the next;
# a second covers a busy 2-core machine without holding a resolve worker long.
CONFIRM_WAIT_S = 1.0
# The DNS header is 12 bytes; byte 2's top bit is QR (1: a response).
HEADER_BYTES = 12
QR_BIT = 0x80


@dataclass(frozen=True, slots=True)
class Witnessed:
    ifindex: int | None  # the interface the announcement arrived on
    at: float  # monotonic


def self_announced(data: bytes, source: str) -> list[str]:
    """Host names (lower-case, with the final dot) a response gives the sender's own IPv4
    address for; [] for a query, a malformed packet or anything else (pure)."""
    if len(data) < HEADER_BYTES or not data[2] & QR_BIT:
        return []
    try:
        packed = socket.inet_aton(source)
    except OSError:
        return []
    incoming = DNSIncoming(data)
    if not incoming.valid or not incoming.is_response():
        return []
    return [
        record.key
        for record in incoming.answers()
        if isinstance(record, DNSAddress) and record.type == TYPE_A and record.address == packed
    ]


class MdnsWitness:
    """Listens to mDNS responses and remembers (host, address) pairs the address itself sent."""

    def __init__(
        self,
        interfaces: tuple[str, ...],
        *,
        port: int = MDNS_PORT,
        clock: Callable[[], float] = time.monotonic,
        list_interfaces: Callable[[], list[Interface]] = ipv4_interfaces,
    ) -> None:
        self.seen: LruDict[tuple[str, str], Witnessed] = LruDict(MAX_WITNESSED)
        self.responses = 0
        self._clock = clock
        self._news = asyncio.Event()
        self._socket = GroupSocket(
            MDNS_GROUP,
            port,
            interfaces,
            self.handle_datagram,
            label="mDNS witness",
            list_interfaces=list_interfaces,
        )

    @property
    def running(self) -> bool:
        return self._socket.running

    def start(self) -> None:
        """Raises OSError if UDP 5353 cannot be bound."""
        self._socket.start()

    def stop(self) -> None:
        self._socket.stop()

    def rescan(self) -> None:
        self._socket.rescan()

    def handle_datagram(self, data: bytes, source: str, ifindex: int | None) -> None:
        hosts = self_announced(data, source)
        if not hosts:
            return
        self.responses += 1
        now = self._clock()
        for host in hosts:
            self.seen[(host, source)] = Witnessed(ifindex, now)
        self._news.set()
        self._news = asyncio.Event()

    def lookup(self, host: str, address: str) -> Witnessed | None:
        entry = self.seen.get((_key(host), address))
        if entry is None or self._clock() - entry.at > WITNESS_KEEP_S:
            return None
        return entry

    def first(self, host: str, addresses: Sequence[str]) -> tuple[str, Witnessed] | None:
        for address in addresses:
            entry = self.lookup(host, address)
            if entry is not None:
                return address, entry
        return None

    async def confirm(
        self, host: str, addresses: Sequence[str], wait_s: float = CONFIRM_WAIT_S
    ) -> tuple[str, Witnessed] | None:
        """The first of `addresses` that announced `host` itself, and where; waits up to
        `wait_s` in all for the announcement to be read."""
        try:
            async with asyncio.timeout(wait_s):
                while (found := self.first(host, addresses)) is None:
                    await self._news.wait()
        except TimeoutError:
            return None
        return found


def _key(host: str) -> str:
    host = host.lower()
    return host if host.endswith(".") else host + "."
