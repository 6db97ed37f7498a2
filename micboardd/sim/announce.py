"""SLP and mDNS announcers for simulated receivers, exactly as real receivers announce.

`SlpAnnouncer` multicasts each device's SLPv2 attribute reply (function 7) to
239.255.254.253:8427 every ~2 s, built like the real captures in PROTOCOLS.md §2.1: the
`cid`, `acn-fctn`, `acn-uacn`, `acn-services`, `csl-esta.dmp` with the SDT endpoint and the
model's DCID (where the shipped table has one; SLX-D is not in it, so its `acn-fctn` says
`SLXD4D_RX` as real SLX-D receivers do), `device-description` and, for SLX-D,
`csl-esta.dmp.values`. Each packet leaves from the device's own address, so the source IP
is the receiver's, as on a real network. `MdnsAnnouncer` publishes `_shure._tcp` with TXT
`model`, as Shure MXW access points (and perhaps newer receivers) do (or `_ssc._udp`, as an
EW-DX does): each device's records
(PTR, SRV, TXT and its own A record) are multicast from the device's own address like a
real responder's, in answer to a question about them and unsolicited every `interval_s`,
and a goodbye (TTL 0) on removal. Either announcer can be told to send from another
address, as a spoofer would.

Both refuse any interface or device address outside 127.0.0.0/8 unless told
`allow_non_loopback=True`: build and test machines share real LANs.

    async with SlpAnnouncer([AnnouncedDevice.of(rx)]) as slp:
        slp.set(replace(device, host="127.0.0.9"))   # DHCP gave it a new address
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, replace

from zeroconf import ServiceInfo
from zeroconf._protocol.incoming import DNSIncoming  # public, not in zeroconf's __all__
from zeroconf._protocol.outgoing import DNSOutgoing

from micboardd.aio import cancel_and_wait
from micboardd.discovery.multicast import GroupSocket
from micboardd.discovery.slp import SLP_GROUP, SLP_PORT
from micboardd.discovery.slp_parse import dcid_table
from micboardd.errors import ConfigError
from micboardd.model import Family
from micboardd.shure.families.models import family_for_model
from micboardd.sim.receiver import SHURE_PORT, SimReceiver
from micboardd.sim.state import lookup_model

log = logging.getLogger(__name__)

# Real receivers announce about every 2 s (ACN-CAP capture).
ANNOUNCE_INTERVAL_S = 2.0
# The SDT session port real receivers put in `csl-esta.dmp` (QLXD4 and SLXD4DE captures).
SDT_PORT = 57383
SHURE_SERVICE = "_shure._tcp.local."
# An EW-DX announces SSC on port 45 with TXT `txtvers`, `version` (of SSC), no model.
SSC_SERVICE = "_ssc._udp.local."
MDNS_GROUP = "224.0.0.251"
MDNS_PORT = 5353
# A DNS response from an authoritative answerer (RFC 6762 §18.2, §18.4).
MDNS_RESPONSE_FLAGS = 0x8000 | 0x0400
# One hop: announcements never leave the link, as on a real receiver.
MULTICAST_TTL = 1
# The SLX-D DCID from the real SLXD4DE announcement (absent from the 2019 DCID table).
SLXD4DE_DCID = "320CA2FC-2932-11ED-8BBF-0015C5F3F612"


def check_address(address: str, allow_non_loopback: bool, what: str) -> str:
    """`address` if it is IPv4 loopback (or anything IPv4 when allowed), else ConfigError."""
    try:
        addr = ipaddress.IPv4Address(address)
    except ValueError:
        raise ConfigError(what, address, "simulator", "not an IPv4 address") from None
    if not addr.is_loopback and not allow_non_loopback:
        raise ConfigError(
            what,
            address,
            "simulator",
            "announcing on a real network needs allow_non_loopback=True",
        )
    return address


def make_cid(seed: str) -> str:
    """A Shure-style ACN cid (its first group carries the MAC's low bytes, OUI 00:0E:DD)."""
    low = hashlib.sha1(seed.encode()).hexdigest()[:6].upper()
    return f"DD{low}-0000-11DD-A000-000EDDCCCCCC"


def dcid_for_model(model: str) -> str | None:
    """A DCID of the shipped table for a simulated model, preferring its RF band."""
    spec = lookup_model(model)
    wanted = (spec.family, spec.channels)
    matches = sorted(
        (entry.band != spec.rf_band, dcid)
        for dcid, entry in dcid_table().items()
        if family_for_model(entry.model) == wanted
    )
    if matches:
        return matches[0][1]
    return SLXD4DE_DCID if spec.model == "SLXD4D" else None


def acn_function(model: str) -> str:
    """`acn-fctn` as receivers send it: `QLXD4` for the older families, `SLXD4D_RX` for SLX-D."""
    spec = lookup_model(model)
    if spec.family is Family.SLXD:
        return f"{spec.model.rstrip('+')}_RX"
    return spec.model


@dataclass(frozen=True, slots=True)
class AnnouncedDevice:
    """What a receiver says about itself in its announcements."""

    model: str
    host: str
    cid: str
    name: str
    port: int = SHURE_PORT  # mDNS only: SLP carries no control port
    service: str = SHURE_SERVICE  # mDNS only: `_ssc._udp` for an EW-DX

    @classmethod
    def of(
        cls, rx: SimReceiver, *, cid: str | None = None, name: str | None = None
    ) -> AnnouncedDevice:
        return cls(
            model=rx.model,
            host=rx.host,
            cid=cid or make_cid(f"{rx.model}@{rx.host}"),
            name=name or rx.state.device_id,
            port=rx.port,
        )

    def moved_to(self, host: str, port: int | None = None) -> AnnouncedDevice:
        return replace(self, host=host, port=self.port if port is None else port)


def _escape(value: str) -> str:
    """RFC 2608 §5: reserved characters in attribute values travel as `\\HH`."""
    return "".join(f"\\{ord(c):02X}" if c in "(),\\!<=>~" or ord(c) < 32 else c for c in value)


def attribute_list(device: AnnouncedDevice) -> bytes:
    """The attribute list of a receiver's announcement, in the order real receivers use."""
    spec = lookup_model(device.model)
    dcid = dcid_for_model(device.model)
    csl = f"esta.sdt/{device.host}:{SDT_PORT}"
    if dcid is not None:
        csl += f";esta.dmp/cd:{dcid}"
    attrs = [
        f"(cid={device.cid})",
        f"(acn-fctn={acn_function(device.model)})",
        f"(acn-uacn={_escape(device.name)})",
        "(acn-services=esta.dmp)",
        f"(csl-esta.dmp={csl})",
        f"(device-description=$:tftp://{device.host}/$.ddl)",
    ]
    if spec.family is Family.SLXD:
        attrs.append("(csl-esta.dmp.values=version:1_interfaceId:65552_extVersion:1)")
    return ",".join(attrs).encode("utf-8")


def build_attr_reply(attrs: bytes, xid: int = 0, lang: str = "en") -> bytes:
    """An SLPv2 AttrRply (function 7) carrying `attrs`, with no authentication blocks."""
    tag = lang.encode("ascii")
    body = b"\x00\x00" + len(attrs).to_bytes(2, "big") + attrs + b"\x00"
    length = 14 + len(tag) + len(body)
    header = (
        bytes([2, 7])
        + length.to_bytes(3, "big")
        + b"\x00\x00"  # flags
        + b"\x00\x00\x00"  # next extension offset
        + (xid & 0xFFFF).to_bytes(2, "big")
        + len(tag).to_bytes(2, "big")
        + tag
    )
    return header + body


def announcement_packet(device: AnnouncedDevice, xid: int = 0) -> bytes:
    return build_attr_reply(attribute_list(device), xid)


class SlpAnnouncer:
    """Multicasts the SLP announcements of a set of devices, every `interval_s`."""

    def __init__(
        self,
        devices: Iterable[AnnouncedDevice] = (),
        *,
        interface: str = "127.0.0.1",
        interval_s: float = ANNOUNCE_INTERVAL_S,
        port: int = SLP_PORT,
        group: str = SLP_GROUP,
        allow_non_loopback: bool = False,
    ) -> None:
        self.allow_non_loopback = allow_non_loopback
        self.interface = check_address(interface, allow_non_loopback, "interface")
        self.interval_s = interval_s
        self.port = port
        self.group = group
        self.devices: dict[str, AnnouncedDevice] = {}
        self.sent = 0
        self._sockets: dict[str, socket.socket] = {}
        self._task: asyncio.Task[None] | None = None
        self._xid = 0
        for device in devices:
            self._check(device)
            self.devices[device.cid] = device

    async def __aenter__(self) -> SlpAnnouncer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _check(self, device: AnnouncedDevice) -> None:
        check_address(device.host, self.allow_non_loopback, "host")

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="sim SLP announcer"
            )

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def set(self, device: AnnouncedDevice) -> None:
        """Add a device or change what it announces (a new address); announced at once."""
        self._check(device)
        self.devices[device.cid] = device
        if self._task is not None:
            self._send(device)

    def remove(self, cid: str) -> None:
        """The device stops announcing (powered off, cable pulled)."""
        self.devices.pop(cid, None)

    def announce_now(self) -> None:
        for device in list(self.devices.values()):
            self._send(device)

    def send_raw(self, data: bytes, source: str | None = None) -> None:
        """Multicast arbitrary bytes to the SLP group (garbage, floods) from `source`."""
        host = check_address(source or self.interface, self.allow_non_loopback, "host")
        self._sendto(host, data)

    async def _run(self) -> None:
        while True:
            self.announce_now()
            await asyncio.sleep(self.interval_s)

    def _send(self, device: AnnouncedDevice) -> None:
        self._xid = (self._xid + 1) & 0xFFFF
        self._sendto(device.host, announcement_packet(device, self._xid))

    def _socket_for(self, host: str) -> socket.socket:
        sock = self._sockets.get(host)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            try:
                sock.setblocking(False)
                sock.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(self.interface)
                )
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
                sock.bind((host, 0))  # the packet's source address is the receiver's
            except OSError:
                sock.close()
                raise
            self._sockets[host] = sock
        return sock

    def _sendto(self, host: str, data: bytes) -> None:
        try:
            self._socket_for(host).sendto(data, (self.group, self.port))
            self.sent += 1
        except OSError as exc:
            log.debug("sim SLP: cannot announce from %s: %s", host, exc)


class MdnsAnnouncer:
    """Publishes `_shure._tcp` (TXT `model`) or `_ssc._udp` (TXT `txtvers`, `version`) for
    simulated devices, from their own addresses."""

    def __init__(
        self,
        *,
        interface: str = "127.0.0.1",
        interval_s: float = ANNOUNCE_INTERVAL_S,
        port: int = MDNS_PORT,
        allow_non_loopback: bool = False,
    ) -> None:
        self.allow_non_loopback = allow_non_loopback
        self.interface = check_address(interface, allow_non_loopback, "interface")
        self.interval_s = interval_s
        self.port = port
        self.sent = 0
        self._infos: dict[str, tuple[ServiceInfo, str]] = {}  # cid -> (records, source)
        self._sockets: dict[str, socket.socket] = {}
        self._task: asyncio.Task[None] | None = None
        self._questions = GroupSocket(
            MDNS_GROUP, port, (self.interface,), self._question, label="sim mDNS"
        )

    async def __aenter__(self) -> MdnsAnnouncer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._task is None:
            self._questions.start()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="sim mDNS announcer"
            )

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self._questions.stop()
        for cid in list(self._infos):
            await self.remove(cid)
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def _info(self, device: AnnouncedDevice) -> ServiceInfo:
        if device.service == SSC_SERVICE:
            label = f"{device.model}-{device.cid[2:8]}"
            properties = {"txtvers": "1", "version": "1.0"}
        else:
            label = f"{lookup_model(device.model).model}-{device.cid[2:8]}".replace("+", "P")
            properties = {"model": lookup_model(device.model).model}
        return ServiceInfo(
            device.service,
            f"{device.name} {device.cid[2:8]}.{device.service}",
            port=device.port,
            properties=properties,
            server=f"{label}.local.",
            parsed_addresses=[device.host],
        )

    async def set(self, device: AnnouncedDevice, *, source: str | None = None) -> None:
        """Publish a device, or re-publish it with what changed (a new address), at once.

        `source`: the address its packets leave from; default the device's own (a spoofer
        announces somebody else's address from its own)."""
        check_address(device.host, self.allow_non_loopback, "host")
        sender = check_address(source or device.host, self.allow_non_loopback, "source")
        if self._task is None:
            raise RuntimeError("MdnsAnnouncer is not started")
        old = self._infos.get(device.cid)
        info = self._info(device)
        if old is not None and (old[0].addresses != info.addresses or old[1] != sender):
            self._send(old[0], old[1], goodbye=True)  # the old address is no longer its
        self._infos[device.cid] = (info, sender)
        self._send(info, sender)

    async def remove(self, cid: str) -> None:
        """The device says goodbye (TTL 0) and stops announcing."""
        entry = self._infos.pop(cid, None)
        if entry is not None:
            self._send(entry[0], entry[1], goodbye=True)

    async def _run(self) -> None:
        while True:
            for info, sender in list(self._infos.values()):
                self._send(info, sender)
            await asyncio.sleep(self.interval_s)

    def _question(self, data: bytes, source: str, ifindex: int | None) -> None:
        """Answer a query about any of our devices (the service type, an instance, a host)."""
        incoming = DNSIncoming(data)
        if not incoming.valid or not incoming.is_query():
            return
        asked = {q.name.lower() for q in incoming.questions}
        for info, sender in list(self._infos.values()):
            names = {info.type.lower(), info.name.lower(), (info.server or "").lower()}
            if asked & names:
                self._send(info, sender)

    def _send(self, info: ServiceInfo, sender: str, *, goodbye: bool = False) -> None:
        ttl = 0 if goodbye else None
        out = DNSOutgoing(MDNS_RESPONSE_FLAGS, True)
        for record in (
            info.dns_pointer(override_ttl=ttl),
            info.dns_service(override_ttl=ttl),
            info.dns_text(override_ttl=ttl),
            *info.dns_addresses(override_ttl=ttl),
        ):
            out.add_answer_at_time(record, 0)
        for packet in out.packets():
            try:
                self._socket_for(sender).sendto(packet, (MDNS_GROUP, self.port))
                self.sent += 1
            except OSError as exc:
                log.debug("sim mDNS: cannot announce from %s: %s", sender, exc)

    def _socket_for(self, host: str) -> socket.socket:
        sock = self._sockets.get(host)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if hasattr(socket, "SO_REUSEPORT"):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(self.interface)
                )
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
                # From port 5353 and the device's own address, like a real responder.
                sock.bind((host, self.port))
            except OSError:
                sock.close()
                raise
            self._sockets[host] = sock
        return sock
