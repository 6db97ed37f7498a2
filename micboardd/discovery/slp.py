"""Shure SLP announcements: a pure parser and the multicast listener (PROTOCOLS.md §2.1).

Shure networked receivers multicast an unsolicited SLPv2 attribute reply (function 7) about
every 2 s to 239.255.254.253:8427, not the standard SLP group, so stock SLP libraries miss
them. The attribute list carries the ACN component id (`cid`), a model/function string
(`acn-fctn`), the user-assigned name (`acn-uacn`) and, in `csl-esta.dmp`, the device's SDT
endpoint and its device class id after `cd:`. The DCID maps to model, band and channel count
through the table Wireless Workbench ships (`micboardd/data/dcid.json`); newer families are
not in it, so `acn-fctn` is the fallback, and a probe has the last word anyway.

`parse_slp` is pure: bytes in, `Announcement` out, `ProtocolError` for anything else.
`SlpListener` owns the socket: it joins the group on every configured interface (or every
IPv4 interface of the host), rate-limits each source, counts and logs bad packets once, and
never lets a packet stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import re
import socket
import struct
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources

import ifaddr

from micboardd.errors import ConnectionFailed, ProtocolError
from micboardd.model import Family
from micboardd.shure.families import family_for_model

log = logging.getLogger(__name__)

SLP_GROUP = "239.255.254.253"
SLP_PORT = 8427
SLP_VERSION = 2
FN_ATTR_RPLY = 7
# Shure's announcements are about 340 bytes, and multicast SLP must fit one datagram of the
# path MTU (RFC 2608 §6.1); a larger datagram is not an announcement, whatever it claims.
MAX_PACKET_BYTES = 1500
# Version, function, length (3), flags (2), next-extension offset (3), XID (2), tag length (2).
HEADER_FIXED_BYTES = 14
# Error code (2) + attribute-list length (2) after the header of an AttrRply.
ATTR_RPLY_FIXED_BYTES = 4

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

_FUNCTIONS = {
    1: "SrvRqst",
    2: "SrvRply",
    3: "SrvReg",
    4: "SrvDeReg",
    5: "SrvAck",
    6: "AttrRqst",
    7: "AttrRply",
    8: "DAAdvert",
    9: "SrvTypeRqst",
    10: "SrvTypeRply",
    11: "SAAdvert",
}
# Announcers that are programs, not devices (the Shure Update Utility announces too).
_SOFTWARE = re.compile(r"UTILITY|UPDATE|WORKBENCH|WWB", re.IGNORECASE)
_SDT = re.compile(r"esta\.sdt/(?P<ip>[0-9.]+):(?P<port>\d{1,5})", re.IGNORECASE)
_DCID = re.compile(r"cd:(?P<dcid>[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12})")
_ESCAPE = re.compile(rb"\\([0-9A-Fa-f]{2})")
# A Shure cid carries the MAC: DD47E0D7-0000-11DD-A000-000EDDCCCCCC is 00:0e:dd:47:e0:d7.
_SHURE_CID = re.compile(r"(?P<low>dd[0-9a-f]{6})-0000-11dd-a000-000eddcccccc")

# Display model for a family and channel count, when the DCID name is Workbench's own
# ("QLX-DSingle", "PSM1KTx") rather than what the front panel says.
CANONICAL_MODEL: Mapping[tuple[Family, int], str] = {
    (Family.ULXD, 1): "ULXD4",
    (Family.ULXD, 2): "ULXD4D",
    (Family.ULXD, 4): "ULXD4Q",
    (Family.QLXD, 1): "QLXD4",
    (Family.SLXD, 1): "SLXD4",
    (Family.SLXD, 2): "SLXD4D",
    (Family.SLXD, 4): "SLXD4Q+",
    (Family.AXIENT, 2): "AD4D",
    (Family.AXIENT, 4): "AD4Q",
    (Family.UHFR, 1): "UR4S",
    (Family.UHFR, 2): "UR4D",
    (Family.PSM1000, 2): "P10T",
}


class IgnoredPacket(ProtocolError):
    """Well-formed SLP that is not a device announcement (a request, an error reply)."""


@dataclass(frozen=True, slots=True)
class DcidEntry:
    model: str  # Workbench's name: "QLX-DSingle", "AD4Q", "PSM1KTx", "ULX-DTx"
    band: str | None
    description: str | None


@functools.cache
def dcid_table() -> Mapping[str, DcidEntry]:
    """The shipped DCID table, keyed by upper-case DCID; loaded once."""
    text = resources.files("micboardd").joinpath("data/dcid.json").read_text("utf-8")
    raw = json.loads(text)
    return {
        key.upper(): DcidEntry(
            str(value["model"]), value.get("band") or None, value.get("model_name") or None
        )
        for key, value in raw.items()
    }


@dataclass(frozen=True, slots=True)
class Announcement:
    """One device's SLP announcement, decoded. `address` is where to probe it."""

    cid: str  # lower-case UUID
    address: str
    source_ip: str
    function: str | None = None  # acn-fctn: "QLXD4", "SLXD4DE_RX"
    name: str | None = None  # acn-uacn, set by the user on the front panel
    dcid: str | None = None  # upper-case
    dcid_model: str | None = None  # the DCID table's name for it
    band: str | None = None
    model: str | None = None  # best display model: "QLXD4", "SLXD4DE", "ULXD4Q"
    family: Family | None = None
    channels: int | None = None
    mac: str | None = None
    # True: a receiver we monitor; False: known to be something else (a transmitter class,
    # a mixer, a program); None: unknown, a probe decides.
    receiver: bool | None = None
    attributes: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


# --- pure parsing ------------------------------------------------------------------------------


def _unescape(raw: bytes) -> str:
    """RFC 2608 §5: reserved characters travel as `\\HH`; text is UTF-8 (tolerantly)."""
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw).decode("utf-8", "replace")


def parse_attribute_list(raw: bytes) -> dict[str, str]:
    """`(tag=value),(tag=v1,v2),keyword` -> {tag: value}; tags lower-cased, first one wins."""
    attrs: dict[str, str] = {}
    i, size = 0, len(raw)
    while i < size:
        if raw[i : i + 1] in (b",", b" ", b"\r", b"\n", b"\x00"):
            i += 1
            continue
        if raw[i : i + 1] == b"(":
            end = raw.find(b")", i + 1)
            if end < 0:
                raise ProtocolError(f"attribute list: unclosed '(' at byte {i}")
            body = raw[i + 1 : end]
            if b"(" in body:
                raise ProtocolError(f"attribute list: nested '(' at byte {i}")
            tag, sep, value = body.partition(b"=")
            if not sep:
                raise ProtocolError(f"attribute list: no '=' in ({body[:32]!r})")
            i = end + 1
        else:
            end = raw.find(b",", i)
            end = size if end < 0 else end
            tag, value = raw[i:end], b""
            if b"(" in tag or b")" in tag:
                raise ProtocolError(f"attribute list: stray parenthesis at byte {i}")
            i = end
        key = _unescape(tag).strip().lower()
        if not key:
            raise ProtocolError("attribute list: empty tag")
        attrs.setdefault(key, _unescape(value).strip())
    return attrs


def _slp_attribute_list(packet: bytes) -> bytes:
    """Check the SLPv2 header of an AttrRply and return its attribute list bytes."""
    size = len(packet)
    if size > MAX_PACKET_BYTES:
        raise ProtocolError(f"oversized datagram: {size} bytes (limit {MAX_PACKET_BYTES})")
    if size < HEADER_FIXED_BYTES:
        raise ProtocolError(f"truncated: {size} bytes, an SLP header needs {HEADER_FIXED_BYTES}")
    version, function = packet[0], packet[1]
    if version != SLP_VERSION:
        raise ProtocolError(f"not SLPv2 (version byte {version})")
    length = int.from_bytes(packet[2:5], "big")
    if length > size:
        raise ProtocolError(f"truncated: header says {length} bytes, got {size}")
    if length < HEADER_FIXED_BYTES:
        raise ProtocolError(f"bad length field {length}")
    if function != FN_ATTR_RPLY:
        name = _FUNCTIONS.get(function)
        if name is None:
            raise ProtocolError(f"unknown SLP function {function}")
        raise IgnoredPacket(f"SLP {name}, not an announcement")
    packet = packet[:length]  # bytes beyond the declared length are not ours to read
    tag_len = int.from_bytes(packet[12:14], "big")
    body = HEADER_FIXED_BYTES + tag_len
    if body + ATTR_RPLY_FIXED_BYTES > length:
        raise ProtocolError(f"truncated: language tag of {tag_len} bytes overruns the packet")
    error = int.from_bytes(packet[body : body + 2], "big")
    if error:
        raise IgnoredPacket(f"SLP AttrRply with error code {error}")
    list_len = int.from_bytes(packet[body + 2 : body + 4], "big")
    start = body + ATTR_RPLY_FIXED_BYTES
    if start + list_len > length:
        raise ProtocolError(
            f"truncated: attribute list of {list_len} bytes, {length - start} present"
        )
    # The attribute-authentication count follows; Shure sends none and we check none.
    return packet[start : start + list_len]


def _ipv4(text: str) -> str | None:
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        return None
    if addr.is_multicast or addr.is_unspecified or addr == ipaddress.IPv4Address(0xFFFFFFFF):
        return None
    return str(addr)


def mac_from_cid(cid: str) -> str | None:
    """The MAC a Shure cid embeds (PROTOCOLS.md §2.1), e.g. `00:0e:dd:47:e0:d7`."""
    match = _SHURE_CID.fullmatch(cid.lower())
    if match is None:
        return None
    low = match["low"]
    return ":".join(["00", "0e", *(low[i : i + 2] for i in range(0, 8, 2))])


def identify(
    dcid: str | None, function: str | None
) -> tuple[str | None, Family | None, int | None, bool | None]:
    """(model, family, channels, receiver?) from the DCID, else from `acn-fctn`."""
    fctn_model = re.sub(r"_RX\Z", "", function, flags=re.IGNORECASE) if function else None
    by_fctn = family_for_model(fctn_model) if fctn_model else None
    entry = dcid_table().get(dcid.upper()) if dcid else None
    if entry is not None:
        found = family_for_model(entry.model)
        if found is None:
            return entry.model, None, None, False  # a transmitter, mixer, microphone...
        family, channels = found
        if by_fctn == found and fctn_model:
            return fctn_model, family, channels, True
        return CANONICAL_MODEL.get(found, entry.model), family, channels, True
    if by_fctn is not None and fctn_model:
        return fctn_model, by_fctn[0], by_fctn[1], True
    if function and _SOFTWARE.search(function):
        return fctn_model, None, None, False
    return fctn_model or None, None, None, None


def parse_slp(packet: bytes, source_ip: str) -> Announcement:
    """Decode one Shure SLPv2 announcement; `ProtocolError` for anything else.

    `IgnoredPacket` (a `ProtocolError`) marks well-formed SLP that is no announcement.
    """
    attrs = parse_attribute_list(_slp_attribute_list(packet))
    raw_cid = attrs.get("cid")
    if raw_cid is None:
        raise ProtocolError("announcement without a cid")
    try:
        cid = str(uuid.UUID(raw_cid))
    except ValueError:
        raise ProtocolError(f"cid {raw_cid[:40]!r} is not a UUID") from None
    csl = attrs.get("csl-esta.dmp", "")
    sdt = _SDT.search(csl)
    dcid_match = _DCID.search(csl)
    dcid = dcid_match["dcid"].upper() if dcid_match else None
    address = (_ipv4(sdt["ip"]) if sdt else None) or _ipv4(source_ip)
    if address is None:
        raise ProtocolError(f"no usable address (source {source_ip!r}, csl {csl[:60]!r})")
    function = attrs.get("acn-fctn") or None
    model, family, channels, receiver = identify(dcid, function)
    entry = dcid_table().get(dcid) if dcid else None
    return Announcement(
        cid=cid,
        address=address,
        source_ip=source_ip,
        function=function,
        name=attrs.get("acn-uacn") or None,
        dcid=dcid,
        dcid_model=entry.model if entry else None,
        band=entry.band if entry else None,
        model=model,
        family=family,
        channels=channels,
        mac=mac_from_cid(cid),
        receiver=receiver,
        attributes=attrs,
    )


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
