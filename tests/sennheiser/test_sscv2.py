"""SSCv2 (EW-DX fw >= 4): the event-stream parser, version, subscription bodies, resources."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micboardd.errors import ProtocolError
from micboardd.model import Reading
from micboardd.sennheiser import sscv2
from micboardd.sennheiser.errors import BadResource, InvalidCommand
from micboardd.sennheiser.sscv2 import (
    EventStreamParser,
    ResourceUpdate,
    SessionOpen,
    Sscv2Interpreter,
    SscVersion,
    SseEvent,
)

from .transcript import load, merge

DOC = "ewdx_sscv2_doc.txt"
UUID = "31875a94-29e6-4fb0-ab4d-7f0bbd6e1bc8"


def events_of(*chunks: bytes) -> list[SseEvent]:
    parser = EventStreamParser()
    return [e for c in chunks for e in parser.feed(c)]


def readings(updates: dict[str, Any], interpreter: Sscv2Interpreter | None = None) -> list[Reading]:
    interpreter = interpreter or Sscv2Interpreter()
    return interpreter.interpret_updates(sscv2.parse_updates(json.dumps(updates)))


def state_of(updates: dict[str, Any]) -> dict[int, dict[str, object]]:
    return merge(readings(updates))


# --- the constructed transcript --------------------------------------------------------------


def test_transcript_stream_opens_updates_and_closes() -> None:
    t = load(DOC)
    events = events_of(*t.received)
    assert [e.event for e in events] == ["open", *["message"] * 5, "close"]
    assert sscv2.parse_open(events[0].data) == SessionOpen(
        UUID, f"/api/ssc/state/subscriptions/{UUID}"
    )
    interpreter = Sscv2Interpreter(max_channels=2)
    state = merge(
        [
            r
            for e in events[1:-1]
            for r in interpreter.interpret_updates(sscv2.parse_updates(e.data))
        ]
    )
    assert state[0] == {
        "model": "EW-DX EM 2",
        "channels": 2,
        "serial": "1023456789",
        "name": "EWDXEM2",
    }
    assert state[1] == {
        "name": "VOX 1",
        "mute_status": False,
        "frequency_mhz": 650.425,
        "interference": False,
        "encryption_error": False,
        "tx_on": True,
        "tx_model": "EW_DX_SK",
        "battery_level": 80,
        "battery_minutes": 450,
        "rf_signal": -61.5,
        "rf_quality": "excellent",
        "antenna": "B",
        "audio_level": -23.4,
        "peak_level": -23.4,
    }
    assert state[2] == {
        "interference": False,
        "encryption_error": False,
        "tx_on": False,
        "battery_level": None,
        "battery_minutes": None,
        "tx_model": None,
        "mute_status": None,
    }


def test_transcript_requests_are_what_the_builders_build() -> None:
    t = load(DOC)
    method, where, body = t.sent[1].decode().split(" ", 2)
    assert (method, where) == ("PUT", sscv2.add_path(UUID))
    assert json.loads(body) == json.loads(sscv2.paths_body(json.loads(body)))
    assert t.sent[-1].decode() == f"DELETE {sscv2.subscription_path(UUID)}"
    assert set(json.loads(body)) <= set(sscv2.resource_paths(2))


# --- the event-stream parser ----------------------------------------------------------------


def test_line_ends_comments_and_fields() -> None:
    stream = (
        b"\xef\xbb\xbf: hello\r\n"
        b"retry: 2500\r"
        b"id: 7\n"
        b"event: message\r\n"
        b"data: first\n"
        b"data:second\n"
        b"data\n"
        b"unknown: x\n"
        b"\n"
        b"data: {}\r\n\r\n"
    )
    parser = EventStreamParser()
    assert parser.feed(stream) == [
        SseEvent("message", "first\nsecond\n", "7"),
        SseEvent("message", "{}", "7"),
    ]
    assert parser.retry_ms == 2500
    assert parser.garbage_count == 0


def test_events_without_data_are_not_dispatched_and_bad_retry_is_ignored() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"event: open\n\nretry: soon\nid: a\x00b\n\n") == []
    assert parser.retry_ms is None and parser.last_event_id is None


def test_cr_at_the_end_of_a_read_then_lf() -> None:
    assert events_of(b"data: x\r", b"\n", b"\r\n") == [SseEvent("message", "x")]
    assert events_of(b"data: x\r", b"\r") == [SseEvent("message", "x")]


@settings(max_examples=200, deadline=None, database=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=12))
def test_events_do_not_depend_on_how_the_stream_is_cut(cuts: list[int]) -> None:
    whole = b"".join(load(DOC).received)
    points = sorted({min(c, len(whole)) for c in cuts})
    chunks = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    assert events_of(*chunks) == events_of(whole)


def test_an_over_long_line_is_dropped_with_its_event_and_parsing_goes_on() -> None:
    parser = EventStreamParser(max_line=64, max_event=1000)
    huge = b"data: " + b"x" * 200 + b"\n"
    out = parser.feed(b"data: a\n" + huge[:50]) + parser.feed(huge[50:] + b"\ndata: ok\n\n")
    assert out == [SseEvent("message", "ok")]
    assert parser.garbage_count == 1 and "64" in (parser.last_error or "")
    assert parser.pending == 0


def test_an_over_large_event_is_dropped() -> None:
    parser = EventStreamParser(max_line=100, max_event=150)
    lines = b"".join(b"data: " + b"y" * 60 + b"\n" for _ in range(5))
    assert parser.feed(lines + b"\ndata: next\n\n") == [SseEvent("message", "next")]
    assert parser.garbage_count == 1


def test_memory_stays_bounded_without_line_ends() -> None:
    parser = EventStreamParser(max_line=100)
    for _ in range(50):
        parser.feed(b"z" * 90)
        assert parser.pending <= 100 + 90


# --- version, sessions, bodies --------------------------------------------------------------


def test_version_document() -> None:
    version = sscv2.parse_version(b'{"protocol":"2.3","schema":"1.7"}')
    assert version == SscVersion("2.3", "1.7")
    assert version.major == 2 and version.speaks_sscv2
    assert not sscv2.parse_version('{"protocol":"1.0"}').speaks_sscv2
    assert sscv2.parse_version('{"protocol":"x.y","schema":3}') == SscVersion("x.y", None)


@pytest.mark.parametrize(
    "body", [b"", b"<html>", b"[]", b'{"schema":"1.7"}', b'{"protocol":2}', b'{"protocol":" "}']
)
def test_bad_version_documents_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(BadResource) as caught:
        sscv2.parse_version(body)
    assert isinstance(caught.value, ProtocolError)


def test_subscription_paths_and_bodies() -> None:
    assert sscv2.subscription_path(UUID.upper()) == f"/api/ssc/state/subscriptions/{UUID}"
    assert sscv2.add_path(UUID).endswith("/add") and sscv2.remove_path(UUID).endswith("/remove")
    assert sscv2.paths_body(["/api/channel/0", "/api/channel/0"]) == b'["/api/channel/0"]'
    assert sscv2.parse_paths(b'["/api/rf", 3]') == ["/api/rf"]


@pytest.mark.parametrize("session", ["", "../../api/device", UUID + "/x", "not-a-uuid"])
def test_session_ids_that_could_change_the_url_are_refused(session: str) -> None:
    with pytest.raises(InvalidCommand):
        sscv2.add_path(session)


@pytest.mark.parametrize(
    "paths", [[], ["/api/channel/0?x=1"], ["api/rf"], ["/api/../ssc"], ["/api/a b"]]
)
def test_bad_resource_paths_are_refused(paths: list[str]) -> None:
    with pytest.raises(InvalidCommand):
        sscv2.paths_body(paths)


def test_open_event_and_content_location() -> None:
    assert sscv2.parse_open('{"path":"/api/ssc/state/subscriptions/' + UUID + '"}').session == UUID
    assert sscv2.session_from_location(f"/api/ssc/state/subscriptions/{UUID}") == UUID
    assert sscv2.session_from_location(UUID) == UUID
    for bad in ('{"sessionUUID": 5}', "[]", "nope"):
        with pytest.raises(BadResource):
            sscv2.parse_open(bad)
    with pytest.raises(BadResource):
        sscv2.session_from_location("/api/ssc/state/subscriptions/")


def test_updates_payload_must_be_an_object() -> None:
    assert sscv2.parse_updates('{"/api/rf": {}}') == [ResourceUpdate("/api/rf", {})]
    with pytest.raises(BadResource):
        sscv2.parse_updates('["/api/rf"]')


def test_add_error_body() -> None:
    assert sscv2.parse_add_error(b'{"path":"/api/ssc/invalid","error":404}') == (
        "/api/ssc/invalid",
        404,
    )
    assert sscv2.parse_add_error(b"oops") == (None, None)


def test_basic_auth_header() -> None:
    assert sscv2.basic_auth("secret") == "Basic YXBpOnNlY3JldA=="


def test_resource_paths_are_zero_based_per_channel() -> None:
    paths = sscv2.resource_paths(4)
    assert "/api/channel/3/level" in paths and "/api/channel/4" not in paths
    assert "/api/transmitters/0/battery" in paths
    assert json.loads(sscv2.paths_body(paths)) == paths


# --- resources -> readings ------------------------------------------------------------------


def test_unknown_resources_and_shapes_degrade_to_unknown() -> None:
    state = state_of(
        {
            "/api/channel/0": {"name": 3, "mute": "no", "gain": 9},
            "/api/channel/0/level": {"value": "loud"},
            "/api/channel/0/signalStrengthIndicator": "x",
            "/api/channel/7": {"name": "beyond"},
            "/api/rf/channels/0": [],
            "/api/device/state": {"state": "Normal"},
            "/api/whatever": 1,
            "/api/device/identity": "x",
            "/api/transmitters/0/battery": 5,
        }
    )
    assert state == {
        1: {
            "name": None,
            "mute_status": None,
            "audio_level": None,
            "peak_level": None,
            "rf_signal": None,
        }
    }


def test_device_resources() -> None:
    state = state_of(
        {
            "/api/device/identity": {"product": "EWDX4CHDS", "serial": "1"},
            "/api/firmware/update/state": {"deviceVersion": "4.0.1", "state": "Idle"},
            "/api/rf/encryption": {"enabled": False},
        }
    )
    assert state[0] == {
        "model": "EW-DX EM 4 Dante",
        "channels": 4,
        "serial": "1",
        "firmware": "4.0.1",
        "encryption": "off",
    }


def test_a_422_on_a_transmitter_means_none_is_linked() -> None:
    interpreter = Sscv2Interpreter(max_channels=2)
    assert interpreter.transmitter_absent(1)[0].fields["tx_on"] is False
    assert interpreter.transmitter_absent(2) == []


@pytest.mark.parametrize("body", [None, {}])
def test_pins_an_empty_transmitter_resource_as_no_transmitter(body: Any) -> None:
    for where in ("/api/transmitters/0", "/api/transmitters/0/battery"):
        assert state_of({where: body})[1]["tx_on"] is False


def test_pins_no_battery_type_as_unknown_battery() -> None:
    state = state_of(
        {"/api/transmitters/0/battery": {"type": "NoBattery", "gauge": 0, "lifetime": 0}}
    )
    assert state[1] == {"battery_level": None, "battery_minutes": None, "tx_on": True}


def test_pins_meter_resources_as_value_objects_or_bare_numbers() -> None:
    state = state_of(
        {
            "/api/channel/1/signalStrengthIndicator": -70,
            "/api/channel/1/signalQualityIndicator": {"value": 45},
            "/api/channel/1/diversityIndicator": {"value": 0},
            "/api/channel/1/level": -138.5,
        }
    )
    assert state[2] == {
        "rf_signal": -70.0,
        "rf_quality": "fair",
        "antenna": None,
        "audio_level": -138.5,
        "peak_level": -138.5,
    }


def test_pins_warnings_as_in_ssc1() -> None:
    state = state_of(
        {
            "/api/channel/0/warnings": ["Aes256Error", "AfPeak"],
            "/api/transmitters/0/warnings": ["LowBattery"],
        }
    )
    assert state[1] == {
        "interference": False,
        "encryption_error": True,
        "peak_level": 0.0,
        "tx_on": True,
    }
