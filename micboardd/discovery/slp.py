"""Shure SLP announcements: the multicast listener (PROTOCOLS.md §2.1).

Shure networked receivers multicast an unsolicited SLPv2 attribute reply about every 2 s to
239.255.254.253:8427, not the standard SLP group, so stock SLP libraries miss them.
`SlpListener` owns the socket (`multicast.GroupSocket`): it joins the group on every
configured interface (or every IPv4 interface of the host), rate-limits each source, hands
each datagram with the interface it arrived on to the pure `parse_slp` (slp_parse.py),
counts and logs bad packets once (what they contained only at DEBUG), and never lets a
packet stop it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from micboardd.discovery.addresses import Interface
from micboardd.discovery.bounded import BoundedOnce
from micboardd.discovery.multicast import GroupSocket, ipv4_interfaces, select_interfaces
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
# How many bytes of a bad packet a DEBUG line shows (escaped).
DEBUG_DUMP_BYTES = 64


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
        self._clock = clock
        self._gate = FloodGate()
        self._logged = BoundedOnce(MAX_TRACKED_SOURCES)
        self._socket = GroupSocket(
            group,
            port,
            interfaces,
            self.handle_datagram,
            label="SLP",
            list_interfaces=list_interfaces,
        )

    @property
    def running(self) -> bool:
        return self._socket.running

    @property
    def joined(self) -> dict[int, Interface]:
        return self._socket.joined

    async def start(self) -> None:
        """Bind and join; raises `ConnectionFailed` if the port cannot be bound."""
        if self.running:
            return
        try:
            self._socket.start()
        except OSError as exc:
            raise ConnectionFailed(
                f"cannot listen for SLP on UDP {self.port}: {exc.strerror or exc}"
            ) from exc
        joined = ", ".join(str(i) for i in self.joined.values()) or "no interface yet"
        log.info(
            "listening for Shure SLP announcements on %s:%d (%s)", self.group, self.port, joined
        )

    async def stop(self) -> None:
        self._socket.stop()
        await asyncio.sleep(0)

    def rescan(self) -> None:
        """Join the group on interfaces that appeared, leave those that went away."""
        self._socket.rescan()

    def handle_datagram(self, data: bytes, source: str, ifindex: int | None = None) -> None:
        """Count, rate-limit, parse and forward one datagram; never raises.

        `ifindex`: the interface it arrived on, which decides whether its source address
        may be probed (`addresses.refusal`); None when the socket could not tell.
        """
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
            announcement = parse_slp(data, source, ifindex)
        except IgnoredPacket as exc:
            self.stats.ignored += 1
            log.debug("SLP from %s ignored: %s", source, exc)
            return
        except ProtocolError as exc:
            self.stats.malformed += 1
            # What the packet said stays at DEBUG, escaped and cut short: its bytes are the
            # sender's, and a log line is read by people and parsers.
            if self._logged.first(("malformed", source)):
                log.warning(
                    "malformed SLP packet from %s (further ones from it are only counted)",
                    source,
                )
            log.debug("malformed SLP from %s: %s; starts %r", source, exc, data[:DEBUG_DUMP_BYTES])
            return
        self.stats.announcements += 1
        try:
            self.on_announcement(announcement)
        except Exception:
            log.exception("SLP: handling the announcement of %s failed", source)


__all__ = [
    "FLOOD_BURST",
    "FLOOD_RATE_PER_S",
    "SLP_GROUP",
    "SLP_PORT",
    "BoundedOnce",
    "FloodGate",
    "Interface",
    "SlpListener",
    "SlpStats",
    "ipv4_interfaces",
    "select_interfaces",
]
