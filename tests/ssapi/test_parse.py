"""Pure parsing of System API replies and events (shapes from PROTOCOLS.md 3.3/3.4)."""

from __future__ import annotations

import base64
import json

import pytest

from micboardd.ssapi.errors import BadResponse
from micboardd.ssapi.models import AudioActivity, ChargeState, DeviceState
from micboardd.ssapi.parse import (
    decode_channel_index,
    parse_audio_channels,
    parse_battery_health,
    parse_battery_level,
    parse_device,
    parse_device_page,
    parse_duration_minutes,
    parse_event,
    parse_transport_id,
)

NESTED = {
    "hardwareIdentity": {"deviceId": "ddb03a46-0000-11dd-a000-000eddcccccc", "serialNumber": "2EK"},
    "softwareIdentity": {"model": "ADTQ", "firmwareVersion": "6.10.0"},
    "communicationProtocol": {"address": "192.168.10.119", "name": "SHURE_DMP"},
    "deviceState": "ONLINE",
    "capabilities": ["audio-channels", "name", 7],
}
# The trimmed, flat shape of a real baseline capture (SAPI baseline-packs-off.json).
FLAT = {
    "deviceId": "ddb03a46-0000-11dd-a000-000eddcccccc",
    "model": "ADTQ",
    "serial": "2EK24560748",
    "state": "ONLINE",
    "address": "192.168.10.119",
    "capabilities": ["identify"],
}


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("PT385M", 385),
        ("PT6H25M", 385),
        ("P1DT2H", 1560),
        ("PT90S", 1),
        ("pt0m", 0),
        ("PT", None),
        ("P", None),
        ("P1DT", None),
        ("385", None),
        (385, None),
        (None, None),
    ],
)
def test_iso_duration_to_minutes(text: object, minutes: int | None) -> None:
    assert parse_duration_minutes(text) == minutes


def test_device_node_nested_and_flat() -> None:
    nested = parse_device(NESTED)
    assert nested is not None
    assert (nested.model, nested.serial, nested.firmware, nested.address) == (
        "ADTQ",
        "2EK",
        "6.10.0",
        "192.168.10.119",
    )
    assert nested.state is DeviceState.ONLINE
    assert nested.capabilities == {"audio-channels", "name"}
    flat = parse_device(FLAT)
    assert flat is not None and flat.serial == "2EK24560748" and flat.state is DeviceState.ONLINE
    assert parse_device({"model": "X"}) is None
    weird = parse_device({**FLAT, "state": "HIBERNATING"})
    assert weird is not None and weird.state is DeviceState.UNKNOWN


def test_relay_page_and_bare_array() -> None:
    page = parse_device_page(
        {
            "pageInfo": {"hasNextPage": True, "endCursor": "c2"},
            "edges": [{"cursor": "c1", "node": NESTED}, {"cursor": "c2", "node": FLAT}, 5],
        }
    )
    assert len(page.devices) == 2 and page.next_cursor == "c2"
    last = parse_device_page({"pageInfo": {"hasNextPage": False}, "edges": [{"node": FLAT}]})
    assert last.next_cursor is None
    # Some servers leave endCursor out: the last edge's cursor is used.
    no_end = parse_device_page(
        {"pageInfo": {"hasNextPage": True}, "edges": [{"cursor": "z", "node": FLAT}]}
    )
    assert no_end.next_cursor == "z"
    bare = parse_device_page([NESTED, FLAT, "junk"])
    assert len(bare.devices) == 2 and bare.next_cursor is None
    with pytest.raises(BadResponse):
        parse_device_page({"items": []})
    with pytest.raises(BadResponse):
        parse_device_page("nope")


def test_battery_level_and_health() -> None:
    level = parse_battery_level(
        {
            "percentage": 87,
            "status": {
                "currentState": "DISCHARGING",
                "targetState": "EMPTY",
                "timeToTargetState": "PT385M",
            },
        }
    )
    assert level.percentage == 87 and level.current is ChargeState.DISCHARGING
    assert level.runtime_minutes == 385 and level.minutes_to_full is None
    assert level.charging is False
    charging = parse_battery_level(
        {"percentage": 40, "status": {"currentState": "CHARGING", "timeToTargetState": "PT1H"}}
    )
    assert charging.charging is True and charging.minutes_to_full == 60
    assert charging.runtime_minutes is None
    odd = parse_battery_level({"percentage": 140.4, "status": {"currentState": "WARP"}})
    assert odd.percentage == 100 and odd.current is ChargeState.UNKNOWN and odd.charging is None
    health = parse_battery_health({"percentage": 96, "cycleCount": 42})
    assert (health.percentage, health.cycles) == (96, 42)
    assert parse_battery_health({"percentage": True, "cycleCount": -1}).cycles is None


def test_audio_channels_and_ids() -> None:
    def cid(i: int) -> str:
        raw = {"t": "AudioChannel", "c": "ADTQ", "v": 131088, "s": "CH", "i": i}
        return base64.b64encode(json.dumps(raw).encode()).decode()

    assert decode_channel_index(cid(3)) == 3
    assert decode_channel_index("not base64 at all!") is None
    channels = parse_audio_channels(
        [
            {"id": cid(1), "capabilities": ["activity", "name"]},
            {"id": cid(0), "capabilities": ["activity"]},
            {"id": "opaque"},
            {"role": "SOURCE"},
        ]
    )
    assert [c.index for c in channels] == [0, 1, 2]
    assert channels[0].activity is AudioActivity.UNKNOWN
    with pytest.raises(BadResponse):
        parse_audio_channels({"id": "x"})


def test_events_and_transport_id() -> None:
    event = parse_event(
        json.dumps(
            {
                "envelope": {"eventName": "device_battery_level", "deviceId": "d1"},
                "body": {"percentage": 50},
            }
        )
    )
    assert event is not None and event.name == "DEVICE_BATTERY_LEVEL" and event.device_id == "d1"
    assert parse_event("{") is None
    assert parse_event('{"envelope": {}}') is None
    assert parse_event("[1]") is None
    assert parse_transport_id('{"transportId": "abc"}') == "abc"
    with pytest.raises(BadResponse):
        parse_transport_id('{"id": 1}')
    with pytest.raises(BadResponse):
        parse_transport_id("garbage")
