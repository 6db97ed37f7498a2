"""`parse_slp` on the real payloads of PROTOCOLS.md §2.1, on garbage, and under fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micboardd.discovery.slp_parse import (
    MAX_PACKET_BYTES,
    IgnoredPacket,
    dcid_table,
    identify,
    mac_from_cid,
    parse_attribute_list,
    parse_slp,
)
from micboardd.errors import ProtocolError
from micboardd.model import Family
from micboardd.shure.codec import PEER_TEXT_MAX
from micboardd.sim.announce import (
    AnnouncedDevice,
    acn_function,
    announcement_packet,
    build_attr_reply,
    dcid_for_model,
)
from micboardd.sim.state import MODELS

# The HA-SW test fixture: a real SLXD4DE announcement as captured, byte for byte (the last
# byte is the attribute-authentication count; the fixture shows its 0x00 as '.').
SLXD4DE_PACKET = (
    b'\x02\x07\x00\x01P\x00\x00\x00\x00\x00"=\x00\x02en\x00\x00\x01;'
    b"(cid=DDB0C8C5-0000-11DD-A000-000EDDCCCCCC),"
    b"(acn-fctn=SLXD4DE_RX),"
    b"(acn-uacn=SLXD4DE G57),"
    b"(acn-services=esta.dmp),"
    b"(csl-esta.dmp=esta.sdt/192.168.3.21:57383;esta.dmp/cd:320CA2FC-2932-11ED-8BBF-0015C5F3F612),"
    b"(device-description=$:tftp://192.168.3.21/$.ddl),"
    b"(csl-esta.dmp.values=version:1_interfaceId:65552_extVersion:1)."
)
# ACN-CAP: the attribute list of a real QLXD4's announcement (the capture gives the text).
QLXD4_ATTRS = (
    b"(cid=DD47E0D7-0000-11DD-A000-000EDDCCCCCC),(acn-fctn=QLXD4),(acn-uacn=QLXD4),"
    b"(acn-services=esta.dmp),"
    b"(csl-esta.dmp=esta.sdt/169.254.216.224:57383;esta.dmp/cd:CCEAC054-E139-11DF-84BA-0015C5F3F612),"
    b"(device-description=$:tftp://169.254.216.224/$.ddl)"
)
QLXD4_PACKET = build_attr_reply(QLXD4_ATTRS, xid=0x1234)


def test_real_slxd4de_announcement() -> None:
    a = parse_slp(SLXD4DE_PACKET, "192.168.3.21")
    assert a.cid == "ddb0c8c5-0000-11dd-a000-000eddcccccc"
    assert a.address == "192.168.3.21"
    assert a.function == "SLXD4DE_RX"
    assert a.name == "SLXD4DE G57"
    # The SLX-D DCID is not in the 2019 table: acn-fctn decides.
    assert a.dcid == "320CA2FC-2932-11ED-8BBF-0015C5F3F612"
    assert a.dcid_model is None
    assert (a.model, a.family, a.channels, a.receiver) == ("SLXD4DE", Family.SLXD, 2, True)
    assert a.mac == "00:0e:dd:b0:c8:c5"


def test_real_qlxd4_announcement_maps_its_dcid() -> None:
    a = parse_slp(QLXD4_PACKET, "169.254.216.224")
    assert a.cid == "dd47e0d7-0000-11dd-a000-000eddcccccc"
    assert a.address == "169.254.216.224"
    assert a.dcid_model == "QLX-DSingle"  # the cross-check of PROTOCOLS.md §2.1
    assert a.band == "K51"
    assert (a.model, a.family, a.channels, a.receiver) == ("QLXD4", Family.QLXD, 1, True)
    assert a.mac == "00:0e:dd:47:e0:d7"


def test_address_is_the_packet_source_never_the_sdt_endpoint() -> None:
    # The endpoint a packet names is somebody's word (a real unit's may be link-local, a
    # spoofed one anything); the source is where the packet came from.
    a = parse_slp(QLXD4_PACKET, "10.0.0.9", ifindex=3)
    assert (a.address, a.sdt_address, a.ifindex) == ("10.0.0.9", "169.254.216.224", 3)
    bare = build_attr_reply(b"(cid=DD47E0D7-0000-11DD-A000-000EDDCCCCCC),(acn-fctn=QLXD4)")
    assert parse_slp(bare, "10.0.0.9").address == "10.0.0.9"
    assert parse_slp(bare, "10.0.0.9").sdt_address is None
    with pytest.raises(ProtocolError, match="no usable source address"):
        parse_slp(bare, "not-an-ip")
    with pytest.raises(ProtocolError, match="no usable source address"):
        parse_slp(bare, "224.0.0.1")


def test_names_a_packet_carries_are_kept_printable_and_short() -> None:
    # \0A is a line break, \1B an escape: a log line or a terminal must not be forged.
    packet = build_attr_reply(
        b"(cid=DD47E0D7-0000-11DD-A000-000EDDCCCCCC),(acn-fctn=QLXD4\\0AFAKE),"
        b"(acn-uacn=Stage\\0A\\1B[31mLeft" + b"x" * 200 + b")"
    )
    a = parse_slp(packet, "10.0.0.9")
    assert a.name is not None and a.function is not None
    assert a.name.startswith("Stage??[31mLeft") and len(a.name) == PEER_TEXT_MAX
    assert a.function == "QLXD4?FAKE"
    assert all(c.isprintable() for c in a.name + a.function)


def test_dcid_table_is_shipped_and_loaded_once() -> None:
    table = dcid_table()
    assert len(table) == 942
    assert table["CCEAC054-E139-11DF-84BA-0015C5F3F612"].model == "QLX-DSingle"
    assert dcid_table() is table


@pytest.mark.parametrize(
    ("dcid_model", "function", "expected"),
    [
        ("ULX-DQuad", "ULXD4Q", ("ULXD4Q", Family.ULXD, 4, True)),
        ("ULX-DQuad", "ULXD4", ("ULXD4Q", Family.ULXD, 4, True)),  # the DCID wins
        ("PSM1KTx", None, ("P10T", Family.PSM1000, 2, True)),
        ("AD4D", "AD4D", ("AD4D", Family.AXIENT, 2, True)),
        ("ULX-DTx", None, ("ULX-DTx", None, None, False)),  # a transmitter class
        ("SCM820", "SCM820", ("SCM820", None, None, False)),  # a mixer
    ],
)
def test_identify_by_dcid(
    dcid_model: str, function: str | None, expected: tuple[object, ...]
) -> None:
    dcid = next(k for k, v in dcid_table().items() if v.model == dcid_model)
    assert identify(dcid, function) == expected


def test_identify_falls_back_to_the_function_and_knows_programs() -> None:
    assert identify(None, "SLXD4D_RX") == ("SLXD4D", Family.SLXD, 2, True)
    assert identify("00000000-0000-0000-0000-000000000000", "AD4Q") == (
        "AD4Q",
        Family.AXIENT,
        4,
        True,
    )
    assert identify(None, "SOFTWARE_UPDATE_UTILITY") == (
        "SOFTWARE_UPDATE_UTILITY",
        None,
        None,
        False,
    )
    assert identify(None, "NEWTHING9") == ("NEWTHING9", None, None, None)  # a probe decides
    assert identify(None, None) == (None, None, None, None)


def test_mac_only_from_shure_style_cids() -> None:
    assert mac_from_cid("DD55EC36-0000-11DD-A000-000EDDCCCCCC") == "00:0e:dd:55:ec:36"
    assert mac_from_cid("12345678-0000-11dd-a000-000eddcccccc") is None


def test_attribute_list_escapes_multi_values_and_keywords() -> None:
    attrs = parse_attribute_list(
        b"(CID=abc),(acn-uacn=Lead \\28Vox\\29\\2C 1),(x=a,b),keyword,(acn-uacn=second)"
    )
    assert attrs == {"cid": "abc", "acn-uacn": "Lead (Vox), 1", "x": "a,b", "keyword": ""}


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (b"", "truncated"),
        (b"\x02\x07\x00", "truncated"),
        (SLXD4DE_PACKET[:100], "truncated"),  # header says 336 bytes
        (b"\x01" + SLXD4DE_PACKET[1:], "not SLPv2"),
        (b"\x02\x63" + SLXD4DE_PACKET[2:], "unknown SLP function"),
        (SLXD4DE_PACKET[:2] + b"\x00\x00\x05" + SLXD4DE_PACKET[5:], "bad length"),
        (SLXD4DE_PACKET[:12] + b"\x7f\xff" + SLXD4DE_PACKET[14:], "language tag"),
        (SLXD4DE_PACKET[:18] + b"\x7f\xff" + SLXD4DE_PACKET[20:], "attribute list of"),
        (SLXD4DE_PACKET + b"\x00" * MAX_PACKET_BYTES, "oversized"),
        (build_attr_reply(b"(acn-fctn=QLXD4)"), "without a cid"),
        (build_attr_reply(b"(cid=nope)"), "not a UUID"),
        (build_attr_reply(b"(cid=DD47E0D7-0000-11DD-A000-000EDDCCCCCC"), "unclosed"),
        (build_attr_reply(b"(cid((=x)"), "nested"),
        (build_attr_reply(b"(novalue)"), "no '='"),
        (build_attr_reply(b"stray)"), "stray"),
        (build_attr_reply(b"(=x)"), "empty tag"),
    ],
)
def test_malformed_packets_raise_protocol_error(packet: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        parse_slp(packet, "10.0.0.1")
    assert not isinstance(info.value, IgnoredPacket)


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (b"\x02\x01" + SLXD4DE_PACKET[2:], "SrvRqst"),
        (b"\x02\x06" + SLXD4DE_PACKET[2:], "AttrRqst"),
        (SLXD4DE_PACKET[:16] + b"\x00\x05" + SLXD4DE_PACKET[18:], "error code 5"),
    ],
)
def test_other_slp_messages_are_ignored_not_malformed(packet: bytes, message: str) -> None:
    with pytest.raises(IgnoredPacket, match=message):
        parse_slp(packet, "10.0.0.1")


def test_bytes_beyond_the_declared_length_are_not_read() -> None:
    assert parse_slp(SLXD4DE_PACKET + b"trailing junk", "192.168.3.21").name == "SLXD4DE G57"


@pytest.mark.parametrize("model", sorted(MODELS))
def test_simulator_announcements_round_trip(model: str) -> None:
    device = AnnouncedDevice(model, "127.0.0.5", "DD000001-0000-11DD-A000-000EDDCCCCCC", "RX (1)")
    a = parse_slp(announcement_packet(device, xid=7), "127.0.0.5")
    spec = MODELS[model]
    assert (a.family, a.channels, a.receiver) == (spec.family, spec.channels, True)
    assert a.function == acn_function(model)
    assert a.dcid == dcid_for_model(model)
    assert a.name == "RX (1)"
    assert a.address == "127.0.0.5"


def test_simulator_uses_a_table_dcid_wherever_the_table_has_one() -> None:
    missing = sorted(m for m in MODELS if dcid_for_model(m) not in dcid_table())
    # SLX-D (and SLX-D+) is newer than the table
    assert missing == ["SLXD4", "SLXD4D", "SLXD4D+", "SLXD4Q+"]


# --- fuzzing: only ProtocolError may escape ---------------------------------------------------


def _check(packet: bytes) -> None:
    try:
        a = parse_slp(packet, "10.1.2.3")
    except ProtocolError:
        return
    assert a.cid and a.address


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2 * MAX_PACKET_BYTES))
def test_fuzz_random_bytes(packet: bytes) -> None:
    _check(packet)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_attribute_lists(attrs: bytes) -> None:
    _check(build_attr_reply(attrs))


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([SLXD4DE_PACKET, QLXD4_PACKET]),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
    st.integers(0, 400),
)
def test_fuzz_mutated_real_packets(packet: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(packet)
    for index, value in flips:
        if index < len(data):
            data[index] = value
    _check(bytes(data[: max(cut, len(data) - cut)]))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["cid", "acn-fctn", "acn-uacn", "csl-esta.dmp", "x"]),
            st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
        ),
        max_size=6,
    )
)
def test_fuzz_structured_attributes(pairs: list[tuple[str, str]]) -> None:
    attrs = ",".join(f"({k}={v})" for k, v in pairs).encode("utf-8", "surrogatepass")
    _check(build_attr_reply(attrs))
