"""Pure rendering: raw scales, sentinels and the Axient dump against a real AD4Q."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from micboardd.shure.codec import Frame, MessageKind, parse_frame
from micboardd.sim.state import ChannelState, ReceiverState, default_state, lookup_model
from micboardd.sim.wire_families import Psm1000Wire, wire_for

REAL_AD4Q = Path(__file__).with_name("real-ad4q-properties.json")


def make_state(model: str, **options: Any) -> ReceiverState:
    return default_state(lookup_model(model), **options)


def dump(state: ReceiverState) -> list[Frame]:
    wire = wire_for(state.family)
    return [parse_frame(text) for text in wire.dump(state, state.channels, 100)]


def values(frames: list[Frame], channel: int | None) -> dict[str, str]:
    """Property -> value as micboard recorded it (last occurrence wins, braces stripped)."""
    return {f.prop: " ".join(f.args).strip() for f in frames if f.channel == channel}


def sample_args(state: ReceiverState, channel: int = 1) -> tuple[str, ...]:
    wire = wire_for(state.family)
    (text,) = wire.meter_frames(state, state.channel(channel))
    frame = parse_frame(text)
    assert frame.kind is MessageKind.SAMPLE and frame.prop == "ALL"
    return frame.args


def test_axient_dump_matches_real_ad4q_without_transmitter() -> None:
    real = json.loads(REAL_AD4Q.read_text())
    state = make_state("AD4Q", tx_on=False)
    state.device_id = real["device"]["DEVICE_ID"]
    frames = dump(state)

    assert values(frames, None) == real["device"]
    for index, channel in enumerate(real["channels"], start=1):
        ours = values(frames, index)
        for prop, value in channel["properties"].items():
            if prop.endswith("_") or prop in ("ALL", "SLOT_BATT_BAR"):
                continue  # artefacts of micboard's parser; ALL is its name for SAMPLE
            assert prop in ours, prop
            if prop.startswith(("TX_", "SLOT_")) or prop in ("UNREGISTERED_TX_STATUS", "FD_MODE"):
                assert ours[prop] == value, prop
        assert set(ours) <= set(channel["properties"])


def test_axient_sample_without_transmitter_has_the_real_layout() -> None:
    real = json.loads(REAL_AD4Q.read_text())["channels"][0]["properties"]["ALL"].split()
    ours = sample_args(make_state("AD4Q", tx_on=False))
    assert len(ours) == len(real) == 9
    assert ours[:2] == ("255", "000") and ours[4] == "XX"  # quality unknown, no LEDs, no antenna
    assert all(8 <= int(ours[i]) <= 16 for i in (6, 8))  # RSSI at the noise floor, as real


def test_axient_quadversity_and_frequency_diversity_layouts() -> None:
    quad = sample_args(make_state("AD4Q", quadversity=True))
    assert quad[4] == "BBBB" and len(quad) == 5 + 2 * 4
    fd = sample_args(make_state("AD4D", frequency_diversity=True))
    assert len(fd) == 5 + 2 * 2 + 1 + 2 * 2 and fd[9] == "BB"
    frames = dump(make_state("AD4D", frequency_diversity=True))
    assert values(frames, 1)["FD_MODE"] == "FD-C" and "FREQUENCY2" in values(frames, 1)
    assert len([f for f in frames if f.channel == 1 and f.prop == "RSSI"]) == 2


def set_levels(ch: ChannelState, rf: float, rms: float, peak: float) -> None:
    ch.rf_dbm = [rf, rf - 10]
    ch.audio_rms_dbfs, ch.audio_peak_dbfs = rms, peak


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("ULXD4", ("AX", "068", "020")),  # RF dBm + 128, audio dBFS + 50
        ("QLXD4", ("AX", "068", "020")),
        ("SLXD4", ("102", "090", "060")),  # peak, rms, rssi: value + 120
        ("AD4D", ("005", "031", "102", "090", "BB", "15", "060", "07", "050")),
        ("UR4S", ("AX", "060", "070", "5", "007")),  # [U] -dBm; LED bitmap, 6 dB/segment
    ],
)
def test_engineering_units_to_raw(model: str, expected: tuple[str, ...]) -> None:
    state = make_state(model)
    set_levels(state.channel(1), rf=-60, rms=-30, peak=-18)
    assert sample_args(state) == expected


def test_psm1000_meters_are_reports_with_crlf() -> None:
    state = make_state("P10T")
    state.channel(2).audio_rms_dbfs = 0.0
    frames = Psm1000Wire().meter_frames(state, state.channel(2))
    assert frames == [
        "< REPORT 2 AUDIO_IN_LVL_L 00008388607 >\r\n",
        "< REPORT 2 AUDIO_IN_LVL_R 00007476354 >\r\n",
    ]
    device = [t for t in Psm1000Wire().device_items(state) if t[0] == "DEVICE_NAME"]
    assert device == [("DEVICE_NAME", "{P10T    }")]


@pytest.mark.parametrize(
    ("model", "sentinels"),
    [
        ("ULXD4Q", {"TX_TYPE": "UNKN", "BATT_BARS": "255", "BATT_RUN_TIME": "65535"}),
        ("QLXD4", {"TX_TYPE": "UNKN", "BATT_CHARGE": "255", "BATT_TYPE": "UNKN"}),
        ("SLXD4D", {"TX_MODEL": "UNKNOWN", "TX_BATT_BARS": "255", "TX_BATT_MINS": "65535"}),
        ("AD4Q", {"TX_MODEL": "UNKNOWN", "TX_BATT_CHARGE_PERCENT": "255", "CHAN_QUALITY": "255"}),
    ],
)
def test_absent_transmitter_sentinels(model: str, sentinels: dict[str, str]) -> None:
    on = values(dump(make_state(model)), 1)
    off = values(dump(make_state(model, tx_on=False)), 1)
    for prop, sentinel in sentinels.items():
        assert off[prop] == sentinel
        assert on[prop] != sentinel


def test_uhfr_battery_is_bars_or_u() -> None:
    state = make_state("UR4D")
    wire = wire_for(state.family)
    assert ("TX_BAT", "5") in wire.channel_items(state, state.channel(1), 0)
    state.channel(1).tx_on = False
    assert ("TX_BAT", "U") in wire.channel_items(state, state.channel(1), 0)
    assert sample_args(state)[3] == "U"


def test_string_widths_per_family() -> None:
    ulx = wire_for(lookup_model("ULXD4").family)
    slx = wire_for(lookup_model("SLXD4").family)
    assert ulx.rep(1, "CHAN_NAME", ulx.name_value("Vox")) == "< REP 1 CHAN_NAME {Vox     } >"
    assert slx.name_value("Vox") == "{Vox" + " " * 28 + "}"
    assert slx.error_frame() == "< REP ERR >"
