"""SSC v1 (EW-DX): requests, datagrams from a real EM 2 (fw 1.2.13) and the readings they give."""

from __future__ import annotations

import json
from typing import Any

import pytest

from micboardd.errors import CommandRejected, ProtocolError
from micboardd.model import Reading
from micboardd.sennheiser import ssc1
from micboardd.sennheiser.errors import BadDatagram, InvalidCommand
from micboardd.sennheiser.ssc1 import (
    Meter,
    Ssc1Interpreter,
    SscError,
    SubscribeParams,
    SubscriptionAck,
    Value,
    parse_datagram,
)

from .transcript import load, merge

REAL = "ewdx_em2_fw1.2.13.txt"


def replay(datagrams: list[bytes]) -> tuple[list[ssc1.Message], dict[int, dict[str, object]]]:
    interpreter = Ssc1Interpreter()
    messages = [m for d in datagrams for m in parse_datagram(d)]
    return messages, merge(interpreter.interpret_all(messages))


def fields(*datagrams: bytes | dict[str, Any]) -> dict[int, dict[str, object]]:
    raw = [d if isinstance(d, bytes) else json.dumps(d).encode() for d in datagrams]
    return replay(raw)[1]


# --- the real transcript ---------------------------------------------------------------------


def test_real_transcript_sends_what_the_builders_build() -> None:
    t = load(REAL)
    identity = ssc1.get_request(ssc1.IDENTITY_PATHS)
    assert json.loads(t.sent[0]) == json.loads(identity)
    meters = ssc1.subscribe_request(
        ssc1.meter_paths(1) + ssc1.meter_paths(2), lifetime_s=2, count=0
    )
    assert json.loads(t.sent[3]) == json.loads(meters)


def test_real_identity_gives_the_friendly_model_firmware_and_serial() -> None:
    _, state = replay(load(REAL).received[:1])
    assert state[0] == {
        "name": "EWDXEM2",
        "model": "EW-DX EM 2",
        "channels": 2,
        "serial": "5094003585",
        "firmware": "1.2.13",
    }


def test_real_channels_reply_comes_in_its_own_key_order() -> None:
    messages, state = replay(load(REAL).received[1:2])
    assert [m.path for m in messages if isinstance(m, Value)][:2] == [
        ("rx2", "frequency"),
        ("rx2", "gain"),
    ]
    assert state[1] == {"name": "MC1", "frequency_mhz": 650.425, "mute_status": False}
    assert state[2] == {"name": "MC2", "frequency_mhz": 658.275, "mute_status": False}


def test_real_battery_of_switched_off_transmitters_is_one_424_per_leaf() -> None:
    messages, state = replay(load(REAL).received[2:3])
    assert messages == [
        SscError(("mates", "tx2", "battery", "gauge"), 424, "failed dependency"),
        SscError(("mates", "tx1", "battery", "gauge"), 424, "failed dependency"),
    ]
    assert all(isinstance(m, SscError) and m.transmitter_absent for m in messages)
    for channel in (1, 2):
        assert state[channel]["tx_on"] is False
        assert state[channel]["battery_level"] is None


def test_real_meter_subscription_ack_meters_and_expiry() -> None:
    messages, state = replay(load(REAL).received[3:])
    ack = messages[0]
    assert isinstance(ack, SubscriptionAck)
    assert ack.params == SubscribeParams(min_ms=0, max_ms=0, count=0, lifetime_s=2)
    assert set(ack.paths) == set(ssc1.meter_paths(1) + ssc1.meter_paths(2))
    meters = [m for m in messages if isinstance(m, Meter)]
    assert len(meters) == 36 and all(len(m.path) == 3 for m in meters)
    ended = [m for m in messages if isinstance(m, SscError)]
    assert [e.path for e in ended] == list(ssc1.meter_paths(1) + ssc1.meter_paths(2))
    assert all(e.subscription_ended and e.desc == "subscription terminates" for e in ended)
    # Transmitters off: RSSI at the floor, no quality, no active antenna, silence.
    assert state[1] == {
        "rf_signal": -107.0,
        "rf_quality": "poor",
        "antenna": None,
        "audio_level": -138.5,
        "peak_level": -138.5,
    }


def test_expiry_yields_no_reading() -> None:
    expiry = load(REAL).received[-1]
    assert Ssc1Interpreter().interpret_all(parse_datagram(expiry)) == []


# --- requests --------------------------------------------------------------------------------


def test_get_request_nests_paths_with_null_leaves() -> None:
    data = ssc1.get_request([("rx1", "name"), ("rx1", "frequency"), ssc1.path("device/name")])
    assert data == b'{"rx1":{"name":null,"frequency":null},"device":{"name":null}}'


def test_set_request_carries_values() -> None:
    data = ssc1.set_request({("rx2", "mute"): True, ("rx2", "name"): "VOX 2"})
    assert json.loads(data) == {"rx2": {"mute": True, "name": "VOX 2"}}


def test_subscribe_and_cancel_requests() -> None:
    sub = json.loads(ssc1.subscribe_request([("rx1", "warnings")], lifetime_s=60))
    assert sub == {
        "osc": {
            "state": {
                "subscribe": [
                    {
                        "#": {"min": 0, "max": 0, "count": 1000, "lifetime": 60},
                        "rx1": {"warnings": None},
                    }
                ]
            }
        }
    }
    cancel = json.loads(ssc1.cancel_request([("rx1", "warnings")]))
    assert cancel["osc"]["state"]["subscribe"][0]["#"] == {"cancel": True}


@pytest.mark.parametrize(
    "bad",
    [
        [],
        [("rx1",), ("rx1", "name")],  # a leaf that is also a container
        [("rx1", "name"), ("rx1",)],
        [("rx1", "na me")],
        [("",)],
        [("rx1", "#")],
    ],
)
def test_get_request_refuses_what_cannot_be_one_tree(bad: list[tuple[str, ...]]) -> None:
    with pytest.raises(InvalidCommand):
        ssc1.get_request(bad)


def test_bad_values_and_parameters_are_refused_before_sending() -> None:
    with pytest.raises(CommandRejected):
        ssc1.set_request({("rx1", "name"): "VOX\u00e9"})
    with pytest.raises(InvalidCommand):
        ssc1.set_request({("rx1", "gain"): float("nan")})
    with pytest.raises(InvalidCommand):
        ssc1.subscribe_request([("rx1", "name")], lifetime_s=-1)
    with pytest.raises(InvalidCommand):
        ssc1.subscribe_request([("rx1", "name")], min_ms=500, max_ms=100)
    with pytest.raises(InvalidCommand):
        ssc1.get_request([("rx1", f"leaf{i}") for i in range(3000)])


# --- datagrams -------------------------------------------------------------------------------


def test_trailing_crlf_is_tolerated() -> None:
    assert parse_datagram(b'{"rx1":{"mute":true}}\r\n') == [Value(("rx1", "mute"), True)]


def test_bare_error_names_no_path() -> None:
    data = b'{"osc":{"error":[400,{"desc":"message not understood"}]}}'
    assert parse_datagram(data) == [SscError(None, 400, "message not understood")]


def test_container_error_names_the_container() -> None:
    data = b'{"osc":{"error":[{"device":[404,{"desc":"address not found"}]}]}}'
    (error,) = parse_datagram(data)
    assert isinstance(error, SscError)
    assert (error.path, error.code, error.meaning) == (("device",), 404, "address not found")


def test_errors_without_a_description_and_unknown_codes() -> None:
    data = b'{"osc":{"error":[{"rx1":{"gain":[406]}},{"rx2":{"name":[454,{"x":1}]}}]}}'
    errors = parse_datagram(data)
    assert errors == [SscError(("rx1", "gain"), 406, None), SscError(("rx2", "name"), 454, None)]
    assert SscError(None, 499).meaning == "error 499"


def test_values_and_errors_in_one_datagram_keep_document_order() -> None:
    data = (
        b'{"rx1":{"name":"A"},"osc":{"error":[{"mates":{"tx1":{"name":[424,{}]}}}]},'
        b'"m":{"rx1":{"af":-20.5}}}'
    )
    assert [type(m).__name__ for m in parse_datagram(data)] == ["Value", "SscError", "Meter"]


def test_other_osc_values_are_plain_values() -> None:
    data = b'{"osc":{"ping":null,"version":"1.0","state":{"close":true}}}'
    assert parse_datagram(data) == [
        Value(("osc", "ping"), None),
        Value(("osc", "version"), "1.0"),
        Value(("osc", "state", "close"), True),
    ]


def test_cancel_ack_is_an_ack_with_cancel() -> None:
    data = b'{"osc":{"state":{"subscribe":[{"#":{"cancel":true},"rx1":{"name":null}}]}}}'
    assert parse_datagram(data) == [
        SubscriptionAck(SubscribeParams(cancel=True), (("rx1", "name"),))
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[1,2]",
        b'"text"',
        b'{"rx1":{"name":"A"}',  # truncated
        b'{"m":{"rx1":{"af":NaN}}}',
        b"\xff\xfe{}",
        b"[" * 5000,
        b'{"a":' * 40 + b"1" + b"}" * 40,
        b"{" + b" " * (ssc1.MAX_DATAGRAM_BYTES) + b"}",
    ],
)
def test_bad_datagrams_raise_a_protocol_error(data: bytes) -> None:
    with pytest.raises(BadDatagram) as caught:
        parse_datagram(data)
    assert isinstance(caught.value, ProtocolError)
    assert len(str(caught.value)) < 200  # a readable excerpt, not the bytes


# --- readings --------------------------------------------------------------------------------


def test_unknown_keys_and_wrong_types_degrade_to_unknown() -> None:
    state = fields(
        {"rx1": {"name": 5, "frequency": "650425", "mute": "no", "colour": "red"}},
        {"rx9": {"name": "X"}, "tx1": {"name": "X"}, "zz": 1},
        {"m": {"rx1": {"rssi": "low", "rsqi": 101, "divi": 3, "af": True, "new": 1}}},
        {"mates": {"tx1": {"battery": {"gauge": -5, "lifetime": "long"}, "colour": "red"}}},
        {"device": {"identity": {"product": "EWDX9CH"}, "location": "x"}},
    )
    assert state[1] == {
        "name": None,
        "frequency_mhz": None,
        "mute_status": None,
        "rf_signal": None,
        "rf_quality": None,
        "antenna": None,
        "audio_level": None,
        "peak_level": None,
        "battery_level": None,
        "battery_minutes": None,
        "tx_on": True,
    }
    assert state[0] == {"model": "EWDX9CH"}
    assert set(state) == {0, 1}


def test_transmitter_values_say_a_transmitter_is_on() -> None:
    state = fields(
        {
            "mates": {
                "tx1": {
                    "battery": {"gauge": 80, "lifetime": 450, "type": "Battery"},
                    "type": "SKM",
                    "mute": True,
                    "warnings": [],
                }
            }
        },
        {"rx1": {"mute": False, "warnings": []}},
    )
    assert state[1] == {
        "battery_level": 80,
        "battery_minutes": 450,
        "tx_model": "SKM",
        "mute_status": True,  # the transmitter's mute counts
        "tx_on": True,
        "interference": False,
        "encryption_error": False,
    }


def test_transmitter_coming_back_is_on_only_once_both_sources_agree() -> None:
    interpreter = Ssc1Interpreter()

    def feed(message: dict[str, Any]) -> list[Reading]:
        return interpreter.interpret_all(parse_datagram(json.dumps(message).encode()))

    off = feed({"osc": {"error": [{"mates": {"tx1": {"battery": {"gauge": [424, {}]}}}}]}})
    assert off[0].fields["tx_on"] is False
    assert feed({"rx1": {"warnings": ["NoLink"]}})[0].fields["tx_on"] is False
    # The link is back but the transmitter leaves still say 424: not on yet.
    assert feed({"rx1": {"warnings": []}})[0].fields["tx_on"] is False
    assert feed({"mates": {"tx1": {"battery": {"gauge": 90}}}})[0].fields["tx_on"] is True


def test_receiver_encryption_setting() -> None:
    assert fields({"device": {"encryption": True}})[0] == {"encryption": "on"}


def test_serial_as_a_number_is_still_a_string() -> None:
    assert fields({"device": {"identity": {"serial": 5094003585}}})[0] == {"serial": "5094003585"}


def test_channels_beyond_the_model_are_ignored() -> None:
    interpreter = Ssc1Interpreter(max_channels=2)
    assert interpreter.interpret(Value(("rx3", "name"), "X")) == []
    assert interpreter.interpret(Meter(("m", "rx3", "af"), -20.0)) == []


# --- [U] readings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rsqi", "grade"),
    [(100, "excellent"), (80, "excellent"), (79, "good"), (60, "good"), (59, "fair"), (30, "fair"), (29, "poor"), (0, "poor")],
)  # fmt: skip
def test_pins_rsqi_grades(rsqi: int, grade: str) -> None:
    assert fields({"m": {"rx1": {"rsqi": rsqi}}})[1] == {"rf_quality": grade}


def test_pins_afpeak_warning_as_a_clip_and_no_peak_without_it() -> None:
    assert fields({"rx1": {"warnings": ["AfPeak"]}})[1]["peak_level"] == 0.0
    assert "peak_level" not in fields({"rx1": {"warnings": []}})[1]
    assert fields({"mates": {"tx1": {"warnings": ["AfPeak", "LowBattery"]}}})[1] == {
        "peak_level": 0.0,
        "tx_on": True,
    }


def test_pins_rfpeak_as_interference_and_aes_error_as_encryption_error() -> None:
    state = fields({"rx1": {"warnings": ["RfPeak", "Aes256Error", "SomethingNew"]}})[1]
    assert state == {"interference": True, "encryption_error": True, "tx_on": True}


def test_pins_nolink_as_no_transmitter_and_lowsignal_as_nothing() -> None:
    state = fields({"rx1": {"warnings": ["NoLink", "LowSignal"]}})[1]
    assert state == {"interference": False, "encryption_error": False, "tx_on": False}


def test_pins_the_af_meter_feeding_audio_and_peak() -> None:
    assert fields({"m": {"rx1": {"af": -12.34}}})[1] == {"audio_level": -12.3, "peak_level": -12.3}


def test_pins_rssi_in_dbm_and_diversity_letters() -> None:
    state = fields({"m": {"rx2": {"rssi": -61.0, "divi": 2}}}, {"m": {"rx1": {"divi": 1}}})
    assert state[2] == {"rf_signal": -61.0, "antenna": "B"}
    assert state[1] == {"antenna": "A"}


@pytest.mark.parametrize(("lifetime", "minutes"), [(0, 0), (450, 450), (65532, 65532), (65533, None), (65535, None), (-1, None)])  # fmt: skip
def test_pins_battery_lifetime_sentinels(lifetime: int, minutes: int | None) -> None:
    data = {"mates": {"tx1": {"battery": {"lifetime": lifetime}}}}
    assert fields(data)[1]["battery_minutes"] == minutes


@pytest.mark.parametrize(
    ("code", "model", "channels"),
    [
        ("EWDX2CH", "EW-DX EM 2", 2),
        ("EWDX2CHS", "EW-DX EM 2", 2),
        ("EWDX2CHD", "EW-DX EM 2 Dante", 2),
        ("EWDX2CHDS", "EW-DX EM 2 Dante", 2),
        ("EWDX4CHD", "EW-DX EM 4 Dante", 4),
        ("EWDX4CHDS", "EW-DX EM 4 Dante", 4),
        ("ewdx-2ch", "EW-DX EM 2", 2),
    ],
)
def test_pins_product_codes_to_models(code: str, model: str, channels: int) -> None:
    assert fields({"device": {"identity": {"product": code}}})[0] == {
        "model": model,
        "channels": channels,
    }
