"""Shure SLP announcements, parsed: bytes in, `Announcement` out (PROTOCOLS.md §2.1).

Shure networked receivers multicast an unsolicited SLPv2 attribute reply (function 7) about
every 2 s. The attribute list carries the ACN component id (`cid`), a model/function string
(`acn-fctn`), the user-assigned name (`acn-uacn`) and, in `csl-esta.dmp`, the device's SDT
endpoint and its device class id after `cd:`. The DCID maps to model, band and channel count
through the table Wireless Workbench ships (`micboardd/data/dcid.json`); newer families are
not in it, so `acn-fctn` is the fallback, and a probe has the last word anyway.

The address to probe is the packet's source, never the SDT endpoint the packet names: a real
unit may name a link-local endpoint, and a spoofed packet may name any host and port. Names
the packet carries are kept only as `peer_text` (printable, bounded).

Everything here is pure; anything that is not an announcement is a `ProtocolError`.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

from micboardd.errors import ProtocolError
from micboardd.model import Family
from micboardd.shure.codec import peer_text
from micboardd.shure.families.models import family_for_model

SLP_VERSION = 2
FN_ATTR_RPLY = 7
# Shure's announcements are about 340 bytes, and multicast SLP must fit one datagram of the
# path MTU (RFC 2608 §6.1); a larger datagram is not an announcement, whatever it claims.
MAX_PACKET_BYTES = 1500
# Version, function, length (3), flags (2), next-extension offset (3), XID (2), tag length (2).
HEADER_FIXED_BYTES = 14
# Error code (2) + attribute-list length (2) after the header of an AttrRply.
ATTR_RPLY_FIXED_BYTES = 4

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
    """One device's SLP announcement, decoded. `address` is where to probe it: the source."""

    cid: str  # lower-case UUID
    address: str
    source_ip: str
    ifindex: int | None = None  # the interface it arrived on (None: not known)
    sdt_address: str | None = None  # the SDT endpoint it names (information only)
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


def parse_slp(packet: bytes, source_ip: str, ifindex: int | None = None) -> Announcement:
    """Decode one Shure SLPv2 announcement; `ProtocolError` for anything else.

    `IgnoredPacket` (a `ProtocolError`) marks well-formed SLP that is no announcement. Error
    messages may quote a few escaped bytes of the packet: log them at DEBUG only.
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
    address = _ipv4(source_ip)
    if address is None:
        raise ProtocolError(f"no usable source address ({source_ip!r})")
    function = peer_text(attrs["acn-fctn"]) if attrs.get("acn-fctn") else None
    model, family, channels, receiver = identify(dcid, function)
    entry = dcid_table().get(dcid) if dcid else None
    name = attrs.get("acn-uacn")
    return Announcement(
        cid=cid,
        address=address,
        source_ip=source_ip,
        ifindex=ifindex,
        sdt_address=_ipv4(sdt["ip"]) if sdt else None,
        function=function,
        name=peer_text(name) if name else None,
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
