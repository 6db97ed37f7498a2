"""Property tests: whatever bytes arrive, the Sennheiser parsers raise nothing but their
documented ProtocolError, and the interpreters raise nothing at all."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micboardd.errors import ProtocolError
from micboardd.model import RECEIVER_READING_FIELDS, Reading
from micboardd.sennheiser import mcp, ssc1, sscv2

from .transcript import CHANNEL_FIELDS

FAST = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

keys = st.sampled_from(
    ["rx1", "rx2", "rx4", "rx9", "tx1", "m", "mates", "osc", "error", "state", "subscribe", "#",
     "device", "identity", "product", "name", "rssi", "rsqi", "divi", "af", "battery", "gauge",
     "lifetime", "warnings", "mute", "frequency", "desc", "x"]
)  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["NoLink", "AfPeak", "RfPeak", "Aes256Error", "EWDX2CH", "failed dependency"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=30,
)


def check(readings: list[Reading]) -> None:
    for reading in readings:
        allowed = RECEIVER_READING_FIELDS if reading.channel == 0 else CHANNEL_FIELDS
        assert set(reading.fields) <= allowed, reading


def parse_or_refuse(parse: Any, data: Any) -> list[Any]:
    try:
        return list(parse(data))
    except ProtocolError:
        return []


@FAST
@given(st.binary(max_size=600))
def test_ssc1_arbitrary_bytes(data: bytes) -> None:
    messages = parse_or_refuse(ssc1.parse_datagram, data)
    check(ssc1.Ssc1Interpreter().interpret_all(messages))


@FAST
@given(st.dictionaries(keys, documents, max_size=5))
def test_ssc1_arbitrary_json_objects(document: dict[str, Any]) -> None:
    data = json.dumps(document).encode()
    messages = parse_or_refuse(ssc1.parse_datagram, data)
    check(ssc1.Ssc1Interpreter().interpret_all(messages))


@FAST
@given(st.binary(max_size=600))
def test_mcp_arbitrary_bytes(data: bytes) -> None:
    messages = parse_or_refuse(mcp.parse_datagram, data)
    interpreter = mcp.McpInterpreter()
    check(interpreter.interpret_all(messages))
    mcp.device_kind(messages)


words = st.sampled_from(
    ["Name", "Frequency", "RF1", "RF2", "RF", "AF", "Bat", "Msg", "Config", "States", "1000:",
     "?", "OK", "-1", "0", "30", "99999999999999999999", "AF_Peak", "TX_Mute", "[", "]", "x"]
)  # fmt: skip


@FAST
@given(st.lists(st.lists(words, max_size=5), max_size=8), st.sampled_from(["\r", "\n", "\r\n"]))
def test_mcp_arbitrary_attribute_lines(lines: list[list[str]], end: str) -> None:
    data = "".join(" ".join(line) + end for line in lines).encode()
    messages = parse_or_refuse(mcp.parse_datagram, data)
    check(mcp.McpInterpreter().interpret_all(messages))


@FAST
@given(st.lists(st.binary(max_size=200), max_size=10))
def test_event_stream_arbitrary_chunks(chunks: list[bytes]) -> None:
    parser = sscv2.EventStreamParser(max_line=128, max_event=512)
    for chunk in chunks:
        for event in parser.feed(chunk):
            assert len(event.data.encode()) <= 512
        assert parser.pending <= 128 + 200


paths = st.sampled_from(
    ["/api/channel/0", "/api/channel/1/warnings", "/api/channel/0/level", "/api/channel/3/signalQualityIndicator",
     "/api/channel/0/diversityIndicator", "/api/channel/0/signalStrengthIndicator", "/api/rf/channels/0",
     "/api/transmitters/0", "/api/transmitters/1/battery", "/api/transmitters/0/warnings",
     "/api/device/identity", "/api/device/site", "/api/firmware/update/state", "/api/rf/encryption",
     "/api/channel/99", "/api/x"]
)  # fmt: skip


@FAST
@given(st.dictionaries(paths, documents, max_size=6))
def test_sscv2_arbitrary_resource_bodies(updates: dict[str, Any]) -> None:
    parsed = sscv2.parse_updates(json.dumps(updates))
    check(sscv2.Sscv2Interpreter().interpret_updates(parsed))


@FAST
@given(st.binary(max_size=300))
def test_sscv2_documents_from_arbitrary_bytes(data: bytes) -> None:
    parse_or_refuse(lambda d: [sscv2.parse_version(d)], data)
    text = data.decode("utf-8", errors="replace")
    parse_or_refuse(lambda d: [sscv2.parse_open(d)], text)
    parse_or_refuse(sscv2.parse_updates, text)
    parse_or_refuse(lambda d: [sscv2.session_from_location(d)], text)
    parse_or_refuse(sscv2.parse_paths, data)
    sscv2.parse_add_error(data)
