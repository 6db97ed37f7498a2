"""Family vocabularies: transcript replays, commands, and every pinned [U] choice.

Transcripts (tests/transcripts/README.md) are replayed through StreamDecoder and the family's
interpreter; readings are merged like the hub does (latest value wins per field).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from micboardd.errors import CommandRejected
from micboardd.model import (
    READING_FIELDS,
    RECEIVER_READING_FIELDS,
    SENNHEISER_FAMILIES,
    Family,
    Reading,
)
from micboardd.shure.codec import Frame, Framing, MessageKind, parse_frame
from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.families import FAMILIES
from micboardd.shure.families.base import FamilySpec
from micboardd.shure.families.models import family_for_model
from micboardd.shure.families.values import (
    UNKNOWN_8BIT,
    AntennaLetters,
    OffsetLevels,
    antenna_letters,
    offset_level,
)

# Sennheiser families have codecs of their own (tests/sennheiser).
SHURE = [f for f in Family if f is not Family.UNKNOWN and f not in SENNHEISER_FAMILIES]


TRANSCRIPTS = Path(__file__).resolve().parent.parent / "transcripts"
_ESCAPE = re.compile(r"\\(\\|r|n|t|x[0-9a-fA-F]{2})")
_ESCAPES = {"\\": "\\", "r": "\r", "n": "\n", "t": "\t"}


def unescape(text: str) -> bytes:
    def sub(m: re.Match[str]) -> str:
        code = m.group(1)
        return _ESCAPES.get(code) or chr(int(code[1:], 16))

    return _ESCAPE.sub(sub, text).encode("latin-1")


@dataclass
class Transcript:
    path: Path
    header: dict[str, str] = field(default_factory=dict)
    sent: list[bytes] = field(default_factory=list)
    segments: list[bytes] = field(default_factory=list)

    @property
    def spec(self) -> FamilySpec:
        return FAMILIES[Family(self.header["family"])]


def load(path: Path) -> Transcript:
    t = Transcript(path)
    for raw_line in path.read_text().splitlines():
        line = raw_line.rstrip()
        if m := re.fullmatch(r"# (\w+): (.*)", line):
            t.header.setdefault(m[1], m[2])
        elif line.startswith("send "):
            t.sent.append(unescape(line[5:]))
        elif line.startswith("recv "):
            t.segments.append(unescape(line[5:]))
        elif line and not line.startswith("#"):
            raise AssertionError(f"{path.name}: unexpected line {line!r}")
    return t


@dataclass
class Replay:
    frames: list[Frame]
    readings: list[Reading]
    state: dict[int, dict[str, Any]]
    decoder: StreamDecoder

    def ch(self, channel: int) -> dict[str, Any]:
        return self.state[channel]


def replay(name: str) -> Replay:
    t = load(TRANSCRIPTS / name)
    spec = t.spec
    decoder = StreamDecoder(spec.framing)
    interpreter = spec.new_interpreter()
    frames: list[Frame] = []
    readings: list[Reading] = []
    state: dict[int, dict[str, Any]] = {}
    for segment in t.segments:
        for frame in decoder.feed(segment):
            frames.append(frame)
            for reading in interpreter.interpret(frame):
                allowed = RECEIVER_READING_FIELDS if reading.channel == 0 else READING_FIELDS
                assert set(reading.fields) <= allowed, (frame.raw, reading)
                readings.append(reading)
                state.setdefault(reading.channel, {}).update(reading.fields)
    return Replay(frames, readings, state, decoder)


def feed_one(spec: FamilySpec, *wire: str) -> list[Reading]:
    """Interpret frames given as text through a fresh interpreter; return the last readings."""
    interpreter = spec.new_interpreter()
    out: list[Reading] = []
    for text in wire:
        out = interpreter.interpret(parse_frame(text))
    return out


def fields_of(spec: FamilySpec, *wire: str) -> dict[str, Any]:
    readings = feed_one(spec, *wire)
    assert len(readings) == 1, readings
    return dict(readings[0].fields)


ULXD, QLXD, SLXD = FAMILIES[Family.ULXD], FAMILIES[Family.QLXD], FAMILIES[Family.SLXD]
AXIENT, UHFR, PSM = FAMILIES[Family.AXIENT], FAMILIES[Family.UHFR], FAMILIES[Family.PSM1000]
ALL_TRANSCRIPTS = sorted(p.name for p in TRANSCRIPTS.glob("*.txt"))


# --- every transcript ------------------------------------------------------------------------


def test_there_is_a_transcript_per_family() -> None:
    families = {load(TRANSCRIPTS / name).header["family"] for name in ALL_TRANSCRIPTS}
    assert families == {f.value for f in SHURE}


@pytest.mark.parametrize("name", ALL_TRANSCRIPTS)
def test_transcript_decodes_cleanly_and_split_independently(name: str) -> None:
    t = load(TRANSCRIPTS / name)
    assert t.header["framing"] == t.spec.framing.name.lower()
    result = replay(name)
    assert result.decoder.garbage_count == 0, result.decoder.last_error
    assert result.decoder.pending == 0
    whole = StreamDecoder(t.spec.framing).feed(b"".join(t.segments))
    assert [f.raw for f in whole] == [f.raw for f in result.frames]


@pytest.mark.parametrize("name", ALL_TRANSCRIPTS)
def test_transcript_commands_are_what_the_family_sends(name: str) -> None:
    t = load(TRANSCRIPTS / name)
    spec = t.spec
    channels = spec.models[max(spec.models, key=lambda m: spec.models[m])]
    found = family_for_model(t.header["model"])
    if found is not None:
        channels = found[1]
    allowed = {
        *spec.sync_commands(channels),
        spec.meter_command(100),
        spec.meter_command(0),
        spec.heartbeat_command(),
    }
    assert t.sent
    assert set(t.sent) <= allowed
    assert t.sent[: len(spec.sync_commands(channels))] == spec.sync_commands(channels)


# --- AD4Q firmware 1.1.43 (real dump) --------------------------------------------------------


def test_ad4q_real_dump_receiver() -> None:
    r = replay("ad4q_fw1.1.43.txt")
    assert r.ch(0) == {
        "model": "AD4Q-A",
        "channels": 4,
        "name": "RF 5-8",
        "firmware": "1.1.43.0",
        "rf_band": "G57",
        "encryption": "off",
    }


def test_ad4q_real_dump_channels_without_transmitter() -> None:
    r = replay("ad4q_fw1.1.43.txt")
    names = {1: "05", 2: "06", 3: "07", 4: "08"}
    freqs = {1: 594.075, 2: 594.975, 3: 592.8, 4: 591.15}
    for n in range(1, 5):
        ch = r.ch(n)
        assert ch["name"] == names[n]
        assert ch["frequency_mhz"] == freqs[n]
        # No transmitter: every sentinel is None, never a number near a threshold.
        assert ch["tx_model"] is None
        assert ch["tx_on"] is False
        assert ch["battery_bars"] is None
        assert ch["battery_level"] is None
        assert ch["battery_minutes"] is None
        assert ch["encryption_error"] is False
        assert ch["interference"] is False
        assert ch["mute_status"] is False  # AUDIO_MUTE OFF; TX_MUTE_MODE_STATUS UNKNOWN
        assert ch["antenna"] is None  # antStat XX


def test_ad4q_real_sample_units() -> None:
    r = replay("ad4q_fw1.1.43.txt")
    # Real payload "255 000 005 033 XX 00 011 00 012": raw - 120.
    assert r.ch(1)["peak_level"] == -115
    assert r.ch(1)["audio_level"] == -87
    assert r.ch(1)["rf_antennas"] == [-109, -108]
    assert r.ch(1)["rf_signal"] == -108
    # Channel 4: "255 000 005 020 XX 00 013 00 013".
    assert r.ch(4)["audio_level"] == -100
    assert r.ch(4)["rf_antennas"] == [-107, -107]


def test_ad4q_slot_lines_are_ignored() -> None:
    r = replay("ad4q_fw1.1.43.txt")
    slot_frames = [f for f in r.frames if f.prop.startswith("SLOT_")]
    assert len(slot_frames) == 4 * 16 * 8
    assert slot_frames[0].args == ("1", "255")
    interpreter = AXIENT.new_interpreter()
    assert all(interpreter.interpret(f) == [] for f in slot_frames)


def test_ad4q_heartbeat_reply_is_seen() -> None:
    r = replay("ad4q_fw1.1.43.txt")
    assert any(AXIENT.is_heartbeat_reply(f) for f in r.frames)


# --- AD4Q Quadversity / FD-C (documented formats) ---------------------------------------------


def test_ad4q_quadversity_transmitters() -> None:
    r = replay("ad4q_quadversity_doc.txt")
    assert r.ch(0)["encryption"] == "on"
    ch1, ch2, ch3, ch4 = (r.ch(n) for n in range(1, 5))
    assert ch1["tx_model"] == "AD2"
    assert ch1["tx_on"] is True
    assert (ch1["battery_bars"], ch1["battery_level"], ch1["battery_minutes"]) == (4, 80, 300)
    assert ch1["mute_status"] is False  # TX_MUTE_MODE_STATUS ON means unmuted
    assert ch1["interference"] is True
    assert ch1["encryption_error"] is True
    assert ch2["mute_status"] is True  # TX_MUTE_MODE_STATUS MUTE
    assert ch2["frequency_mhz"] == 580.25
    assert ch3["battery_minutes"] is None  # 65534 calculating
    assert ch3["battery_level"] == 100
    assert ch4["name"] is None  # blank padded name
    assert ch4["tx_on"] is False
    assert ch4["battery_minutes"] is None  # 65533 comm warning


def test_ad4q_quadversity_four_antennas() -> None:
    r = replay("ad4q_quadversity_doc.txt")
    sample1 = [x for x in r.readings if x.channel == 1 and "rf_antennas" in x.fields]
    # First from the four RSSI REPs (the list grows), then the quadversity SAMPLE.
    assert sample1[3].fields["rf_antennas"] == [-34, -40, -60, -110]
    assert sample1[4].fields == {
        "peak_level": -18,
        "audio_level": -22,
        "antenna": "ABC",  # BBRX: B and R are lit
        "rf_antennas": [-34, -40, -60, -110],
        "rf_signal": -34,
    }


def test_ad4q_fdc_second_section_is_accepted_and_not_reported() -> None:
    r = replay("ad4q_quadversity_doc.txt")
    fdc = [x for x in r.readings if x.channel == 2 and "rf_antennas" in x.fields]
    assert fdc[-1].fields["rf_antennas"] == [-50, -45, -48, -52]
    assert fdc[-1].fields["antenna"] == "ABCD"
    assert fdc[-1].fields["rf_signal"] == -45


def test_ad4q_quadversity_off_goes_back_to_two_antennas() -> None:
    r = replay("ad4q_quadversity_doc.txt")
    assert r.ch(1)["rf_antennas"] == [-30, -100]
    assert r.ch(1)["antenna"] == "A"


# --- ULX-D / QLX-D -----------------------------------------------------------------------------


def test_ulxd4q_transcript() -> None:
    r = replay("ulxd4q_doc.txt")
    assert r.ch(0) == {
        "name": "ULXQ-1",
        "firmware": "2.7.23.0",
        "model": "ULXD4Q",
        "channels": 4,
        "encryption": "auto",
    }
    ch1, ch2, ch3, ch4 = (r.ch(n) for n in range(1, 5))
    assert ch1["name"] == "Vox 1"
    assert ch1["frequency_mhz"] == 614.125
    assert ch1["tx_model"] == "ULXD2"
    assert ch1["tx_on"] is True
    assert ch1["battery_bars"] == 3  # the unsolicited REP after the GET ALL value (4)
    assert (ch1["battery_level"], ch1["battery_minutes"]) == (80, 310)
    assert ch1["mute_status"] is False
    assert (ch1["rf_signal"], ch1["antenna"]) == (-47, "B")  # last sample, fed byte by byte
    assert ch2["frequency_mhz"] == 614.5  # 7-digit form with a leading 0
    assert ch2["tx_model"] is None
    assert ch2["tx_on"] is False
    assert (ch2["battery_bars"], ch2["battery_level"], ch2["battery_minutes"]) == (None,) * 3
    assert ch2["mute_status"] is False  # AUDIO_MUTE OFF, TX_MUTE_STATUS UNKN
    assert (ch2["rf_signal"], ch2["audio_level"], ch2["antenna"]) == (-128, -50, None)
    assert ch3["battery_minutes"] is None  # 65534
    assert ch3["interference"] is True
    assert ch3["encryption_error"] is True
    assert (ch3["audio_level"], ch3["peak_level"]) == (0, 0)  # eee 050: full scale
    assert ch4["name"] == "A>B<C"
    assert ch4["mute_status"] is True
    assert ch4["antenna"] == "AB"


def test_qlxd4_transcript() -> None:
    r = replay("qlxd4_doc.txt")
    assert r.ch(0) == {"name": "QLXD-1", "firmware": "2.1.5.0", "encryption": "on"}
    ch = r.ch(1)
    assert ch["name"] == "Podium"
    assert ch["frequency_mhz"] == 534.75
    assert ch["battery_bars"] is None  # 255 after the transmitter was switched off
    assert ch["battery_level"] is None  # AA cells: 255
    assert ch["battery_minutes"] is None  # 65535
    assert ch["tx_model"] is None
    assert ch["tx_on"] is False
    assert (ch["rf_signal"], ch["audio_level"], ch["antenna"]) == (-128, -50, None)
    on_air = [x.fields["tx_on"] for x in r.readings if "tx_on" in x.fields]
    assert on_air == [True, True, False, False]


def test_pins_ulxd_audio_is_eee_minus_50_dbfs() -> None:
    fields = fields_of(ULXD, "< SAMPLE 1 ALL AX 087 023 >")
    assert fields == {"antenna": "A", "rf_signal": -41, "audio_level": -27, "peak_level": -27}


def test_pins_ulxd_undocumented_level_properties_use_sample_scales() -> None:
    assert fields_of(ULXD, "< REP 1 RX_RF_LVL 087 >") == {"rf_signal": -41}
    assert fields_of(ULXD, "< REP 1 AUDIO_LVL 050 >") == {"audio_level": 0, "peak_level": 0}
    assert fields_of(ULXD, "< REP 1 RF_ANTENNA XB >") == {"antenna": "B"}


def test_pins_ulxd_runtime_65533_and_65534_are_unknown() -> None:
    for raw in ("65533", "65534", "65535"):
        assert fields_of(ULXD, f"< REP 1 BATT_RUN_TIME {raw} >") == {"battery_minutes": None}
    assert fields_of(ULXD, "< REP 1 BATT_RUN_TIME 65532 >") == {"battery_minutes": 65532}


def test_pins_ulxd_model_reply_is_accepted_when_sent() -> None:
    assert fields_of(ULXD, "< REP MODEL {ULXD4D                          } >") == {
        "model": "ULXD4D",
        "channels": 2,
    }


def test_ulxd_tx_on_needs_type_and_bars() -> None:
    i = ULXD.new_interpreter()
    seen = []
    for text in (
        "< REP 1 TX_TYPE ULXD2 >",
        "< REP 1 BATT_BARS 255 >",
        "< REP 1 BATT_BARS 002 >",
        "< REP 1 TX_TYPE UNKN >",
    ):
        (reading,) = i.interpret(parse_frame(text))
        seen.append(reading.fields.get("tx_on"))
    assert seen == [True, False, True, False]


def test_mute_combines_receiver_and_transmitter_sources() -> None:
    i = ULXD.new_interpreter()
    results = [
        i.interpret(parse_frame(t))[0].fields["mute_status"]
        for t in (
            "< REP 1 TX_MUTE_STATUS ON >",
            "< REP 1 AUDIO_MUTE OFF >",  # does not unmute a transmitter mute
            "< REP 1 TX_MUTE_STATUS OFF >",
            "< REP 1 AUDIO_MUTE ON >",
        )
    ]
    assert results == [True, True, False, True]


# --- SLX-D -------------------------------------------------------------------------------------


def test_slxd4d_transcript() -> None:
    r = replay("slxd4d_doc.txt")
    assert r.ch(0) == {
        "model": "SLXD4D",
        "channels": 2,
        "name": "SLX-A",
        "rf_band": "G58",
        "firmware": "2.0.15.2",  # trailing '*' (self-test failed) stripped
    }
    ch1, ch2 = r.ch(1), r.ch(2)
    assert ch1["name"] == "Lead Vox"
    assert ch1["frequency_mhz"] == 578.35
    assert (ch1["tx_model"], ch1["tx_on"], ch1["battery_bars"]) == ("SLXD2", True, 4)
    assert ch1["battery_minutes"] == 185
    assert ch1["rf_antennas"] == [-37, -56]  # per-antenna RSSI REPs
    assert (ch1["peak_level"], ch1["audio_level"], ch1["rf_signal"]) == (-10, -20, -30)
    assert ch2["name"] is None
    assert (ch2["tx_model"], ch2["tx_on"]) == ("SLXD1", True)
    assert ch2["battery_minutes"] == 200
    assert "rf_antennas" not in ch2  # only the combined RSSI form was sent
    assert (ch2["peak_level"], ch2["audio_level"], ch2["rf_signal"]) == (-40, -45, -50)
    minutes = [x.fields["battery_minutes"] for x in r.readings if "battery_minutes" in x.fields]
    assert minutes == [185, None, None, 200]  # 65535, then 65534 calculating


def test_pins_slxd_rssi_both_forms() -> None:
    assert fields_of(SLXD, "< REP 1 RSSI 068 >") == {"rf_signal": -52}
    assert fields_of(SLXD, "< REP 1 RSSI 2 064 >") == {
        "rf_antennas": [None, -56],
        "rf_signal": -56,
    }


def test_pins_slxd_sample_in_axient_layout_is_accepted() -> None:
    fields = fields_of(SLXD, "< SAMPLE 1 ALL 005 031 102 102 BX 31 086 31 065 >")
    assert fields == {
        "peak_level": -18,
        "audio_level": -18,
        "antenna": "A",
        "rf_antennas": [-34, -55],
        "rf_signal": -34,
    }


# --- UHF-R -------------------------------------------------------------------------------------


def test_ur4d_transcript() -> None:
    r = replay("ur4d_doc.txt")
    ch1, ch2 = r.ch(1), r.ch(2)
    assert (ch1["name"], ch1["frequency_mhz"]) == ("Vox 1", 614.125)
    assert (ch1["battery_bars"], ch1["tx_on"]) == (4, True)
    assert (ch1["antenna"], ch1["rf_antennas"], ch1["rf_signal"]) == ("AB", [-40, -42], -40)
    assert ch1["audio_level"] == 0  # 255: all eight segments lit
    assert ch2["name"] == "A*B"
    assert ch2["battery_bars"] == 3
    assert ch2["tx_on"] is True
    assert (ch2["rf_signal"], ch2["audio_level"]) == (-70, -42)
    offs = [x.fields["tx_on"] for x in r.readings if x.channel == 2 and "tx_on" in x.fields]
    assert offs == [False, False, True]  # TX_BAT U, sample battery U, then bars 3


def test_pins_uhfr_rf_is_minus_raw_dbm_and_audio_is_a_led_bitmap() -> None:
    fields = fields_of(UHFR, "* SAMPLE 1 ALL AX 045 060 4 031 *")
    assert fields == {
        "antenna": "A",
        "rf_antennas": [-45, -60],
        "rf_signal": -45,
        "audio_level": -18,  # 031 = 5 of 8 segments, 6 dB each below full scale
        "peak_level": -18,
        "battery_bars": 4,
        "tx_on": True,
    }
    silent = fields_of(UHFR, "* SAMPLE 2 ALL XX 100 100 U 000 *")
    assert (silent["audio_level"], silent["battery_bars"], silent["tx_on"]) == (-120, None, False)
    assert fields_of(UHFR, "* SAMPLE 1 ALL AX 255 999 4 300 *")["rf_signal"] is None


def test_pins_uhfr_meter_command_units_and_channel() -> None:
    assert UHFR.meter_command(100) == b"* METER 0 ALL 003 *"
    assert UHFR.meter_command(1000, channel=2) == b"* METER 2 ALL 033 *"
    assert UHFR.meter_command(10) == b"* METER 0 ALL 003 *"  # clamped to 100 ms
    assert UHFR.meter_command(65535) == b"* METER 0 ALL 999 *"
    assert UHFR.meter_command(0, channel=1) == b"* METER 1 ALL STOP *"


def test_pins_uhfr_rename_is_braced_and_refuses_a_star() -> None:
    assert UHFR.rename_command(2, "Vox 2") == b"* SET 2 CHAN_NAME {Vox 2} *"
    with pytest.raises(CommandRejected, match="not allowed"):
        UHFR.rename_command(1, "A*B")


# --- PSM1000 -----------------------------------------------------------------------------------


def test_p10t_transcript() -> None:
    r = replay("p10t_doc.txt")
    assert r.ch(0) == {"name": "IEM Rack"}
    ch1, ch2 = r.ch(1), r.ch(2)
    assert (ch1["name"], ch1["frequency_mhz"], ch1["mute_status"]) == ("Wedge 1", 518.5, False)
    assert (ch2["name"], ch2["frequency_mhz"], ch2["mute_status"]) == ("Drums", 521.25, True)
    assert ch1["audio_level"] == ch1["peak_level"] == -10.5  # louder input (R)
    assert ch2["audio_level"] == -120.0  # both inputs silent
    assert all("tx_on" not in ch for ch in (ch1, ch2))
    assert all("battery_bars" not in ch for ch in (ch1, ch2))


def test_pins_psm1000_meter_is_24bit_linear_amplitude() -> None:
    assert fields_of(PSM, "< REPORT 1 AUDIO_IN_LVL_L 00008388607 >")["audio_level"] == 0.0
    assert fields_of(PSM, "< REPORT 1 AUDIO_IN_LVL_L 00000641928 >")["audio_level"] == -22.3
    assert fields_of(PSM, "< REPORT 1 AUDIO_IN_LVL_L 00000000000 >")["audio_level"] == -120.0
    assert fields_of(PSM, "< REPORT 1 AUDIO_IN_LVL_L 99999999999 >")["audio_level"] == 0.0
    assert fields_of(PSM, "< REPORT 1 AUDIO_IN_LVL_R garbage >")["audio_level"] is None


def test_pins_psm1000_rf_mute_accepts_digits_and_words() -> None:
    for raw, muted in (("1", True), ("0", False), ("ON", True), ("OFF", False), ("X", None)):
        assert fields_of(PSM, f"< REPORT 2 RF_MUTE {raw} >") == {"mute_status": muted}


def test_pins_psm1000_metering_addresses_channel_0_with_crlf() -> None:
    # PSM1000 has METER_RATE but no document says channel 0 means "both"; Micboard sent one
    # per channel. meter_command(ms, channel=n) is there if 0 turns out not to work.
    assert PSM.meter_command(100) == b"< SET 0 METER_RATE 00100 >\r\n"
    assert PSM.meter_command(100, channel=2) == b"< SET 2 METER_RATE 00100 >\r\n"


def test_psm1000_commands_end_in_crlf() -> None:
    assert PSM.rename_command(1, "Wedge 3") == b"< SET 1 CHAN_NAME {Wedge 3} >\r\n"
    assert PSM.meter_command(0) == b"< SET 0 METER_RATE 00000 >\r\n"
    assert PSM.heartbeat_command() == b"< GET 1 CHAN_NAME >\r\n"


# --- robustness shared by every family ---------------------------------------------------------


@pytest.mark.parametrize("family", SHURE)
def test_unknown_properties_err_and_commands_give_no_reading(family: Family) -> None:
    spec = FAMILIES[family]
    o, c = spec.framing.opener, spec.framing.closer
    for text in (
        f"{o} REP 1 SOMETHING_NEW 42 {c}",
        f"{o} REPORT 1 SOMETHING_NEW {{x}} {c}",
        f"{o} REP ERR {c}",
        f"{o} GET 1 CHAN_NAME {c}",
        f"{o} SET 1 CHAN_NAME {{x}} {c}",
        f"{o} REP 9 CHAN_NAME {{far}} {c}",  # channel beyond the family's largest model
        f"{o} REP 0 CHAN_NAME {{all}} {c}",
        f"{o} REP CHAN_NAME {{none}} {c}",
        f"{o} SAMPLE 1 ALL {c}",
    ):
        assert feed_one(spec, text) == [], text


@pytest.mark.parametrize(
    ("spec", "wire", "expected"),
    [
        (ULXD, "< REP 1 BATT_BARS abc >", {"battery_bars": None}),
        (ULXD, "< REP 1 BATT_BARS 006 >", {"battery_bars": None}),
        (ULXD, "< REP 1 BATT_CHARGE 101 >", {"battery_level": None}),
        (ULXD, "< REP 1 FREQUENCY 61x125 >", {"frequency_mhz": None}),
        (ULXD, "< REP 1 FREQUENCY 0000000 >", {"frequency_mhz": None}),
        (ULXD, "< REP 1 RF_INT_DET MAYBE >", {"interference": None}),
        (
            ULXD,
            "< SAMPLE 1 ALL ZZ -12 ab >",
            {"antenna": None, "rf_signal": None, "audio_level": None, "peak_level": None},
        ),
        (AXIENT, "< REP 1 TX_BATT_CHARGE_PERCENT 255 >", {"battery_level": None}),
        (AXIENT, "< REP 1 AUDIO_LEVEL_RMS 255 >", {"audio_level": None}),
        (AXIENT, "< REP 1 ANTENNA_STATUS QQ >", None),
        (
            AXIENT,
            "< SAMPLE 1 ALL 255 000 005 033 XQ 00 011 00 012 >",
            {"peak_level": -115, "audio_level": -87},
        ),
        (
            AXIENT,
            "< SAMPLE 1 ALL 255 000 005 033 XX 00 011 >",
            {"peak_level": -115, "audio_level": -87},
        ),
        (AXIENT, "< REP 1 RSSI 7 050 >", None),
        (SLXD, "< REP 1 TX_BATT_MINS 65533 >", {"battery_minutes": None}),
        (SLXD, "< REP 1 TX_MODEL UNKNOWN >", {"tx_model": None, "tx_on": False}),
        (UHFR, "* REPORT 1 TX_BAT ? *", {"battery_bars": None}),
        (PSM, "< REPORT 1 FREQUENCY {} >", {"frequency_mhz": None}),
    ],
)
def test_garbage_values_become_none(
    spec: FamilySpec, wire: str, expected: dict[str, Any] | None
) -> None:
    readings = feed_one(spec, wire)
    if expected is None:
        assert readings == []
    else:
        assert [dict(r.fields) for r in readings] == [expected]


@pytest.mark.parametrize("family", SHURE)
def test_pins_rep_err_is_a_frame_and_never_a_reading(family: Family) -> None:
    # SLX-D may answer a bad command with REP ERR or stay silent; either way nothing changes.
    spec = FAMILIES[family]
    o, c = spec.framing.opener, spec.framing.closer
    decoded = StreamDecoder(spec.framing).feed(f"{o} REP ERR {c}{o} REP 2 ERR {c}".encode())
    assert [(f.kind, f.channel) for f in decoded] == [(MessageKind.ERR, None), (MessageKind.ERR, 2)]
    interpreter = spec.new_interpreter()
    assert all(interpreter.interpret(f) == [] for f in decoded)


def test_pins_axient_red_and_blue_antennas_both_count_as_active() -> None:
    assert fields_of(AXIENT, "< REP 1 ANTENNA_STATUS RB >") == {"antenna": "AB"}
    assert fields_of(AXIENT, "< REP 1 ANTENNA_STATUS XR >") == {"antenna": "B"}
    assert fields_of(AXIENT, "< REP 1 ANTENNA_STATUS XX >") == {"antenna": None}


def test_receiver_fields() -> None:
    assert fields_of(SLXD, "< REP FW_VER {*                       } >") == {"firmware": None}
    assert fields_of(AXIENT, "< REP DEVICE_ID {                               } >") == {
        "name": None
    }
    assert fields_of(AXIENT, "< REP MODEL {AD4X} >") == {"model": "AD4X"}
    assert fields_of(QLXD, "< REP ENCRYPTION UNKN >") == {"encryption": None}
    assert fields_of(PSM, "< REPORT DEVICE_NAME {P10T-1  } >") == {"name": "P10T-1"}


# --- commands ----------------------------------------------------------------------------------


def test_registry() -> None:
    assert set(FAMILIES) == set(SHURE)
    for family, spec in FAMILIES.items():
        assert spec.family is family
        assert spec.default_port == 2202
        star = family is Family.UHFR
        assert spec.framing is (Framing.STAR if star else Framing.ANGLE)
        assert spec.transport == ("udp" if star else "tcp")
    assert ULXD.models == {"ULXD4": 1, "ULXD4D": 2, "ULXD4Q": 4}
    assert SLXD.models == {"SLXD4": 1, "SLXD4D": 2, "SLXD4D+": 2, "SLXD4Q+": 4}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("AD4Q-A", (Family.AXIENT, 4)),
        ("AD4D", (Family.AXIENT, 2)),
        ("SLXD4D", (Family.SLXD, 2)),
        ("SLXD4DE", (Family.SLXD, 2)),
        ("SLXD4DE_RX", (Family.SLXD, 2)),
        ("SLXD4Q+", (Family.SLXD, 4)),
        ("slxd4", (Family.SLXD, 1)),
        ("ULXD4Q", (Family.ULXD, 4)),
        ("ULXD4D", (Family.ULXD, 2)),
        ("ULXD4", (Family.ULXD, 1)),
        ("QLXD4", (Family.QLXD, 1)),
        ("  QLXD4  ", (Family.QLXD, 1)),
        ("UR4D", (Family.UHFR, 2)),
        ("UR4S", (Family.UHFR, 1)),
        ("P10T", (Family.PSM1000, 2)),
        ("ULX-DQuad", (Family.ULXD, 4)),
        ("ULX-D1GDual", (Family.ULXD, 2)),
        ("QLX-DIsmSingle", (Family.QLXD, 1)),
        ("PSM1KTx", (Family.PSM1000, 2)),
        ("ULX-DTx", None),
        ("PSM1KRx", None),
        ("MXWAPT8", None),
        ("", None),
    ],
)
def test_family_for_model(model: str, expected: tuple[Family, int] | None) -> None:
    assert family_for_model(model) == expected


@pytest.mark.parametrize(
    ("interval", "wire"),
    [
        (0, b"< SET 0 METER_RATE 00000 >"),
        (1, b"< SET 0 METER_RATE 00100 >"),
        (99, b"< SET 0 METER_RATE 00100 >"),
        (100, b"< SET 0 METER_RATE 00100 >"),
        (1000, b"< SET 0 METER_RATE 01000 >"),
        (65535, b"< SET 0 METER_RATE 65535 >"),
        (100000, b"< SET 0 METER_RATE 65535 >"),
    ],
)
def test_meter_rate_is_clamped(interval: int, wire: bytes) -> None:
    for spec in (ULXD, QLXD, SLXD, AXIENT):
        assert spec.meter_command(interval) == wire
    assert AXIENT.meter_command(interval, channel=3) == wire.replace(b" 0 ", b" 3 ")


def test_negative_meter_interval_is_rejected() -> None:
    for spec in FAMILIES.values():
        with pytest.raises(CommandRejected):
            spec.meter_command(-1)


def test_sync_commands() -> None:
    for spec in (ULXD, QLXD, SLXD, AXIENT):
        assert spec.sync_commands(4) == [b"< GET 0 ALL >"]
    assert UHFR.sync_commands(1) == [
        b"* GET 1 CHAN_NAME *",
        b"* GET 1 TX_BAT *",
        b"* GET 1 FREQUENCY *",
    ]
    assert len(UHFR.sync_commands(9)) == 6  # capped at the largest UHF-R model
    assert PSM.sync_commands(2)[0] == b"< GET DEVICE_NAME >\r\n"
    assert len(PSM.sync_commands(2)) == 7


def test_heartbeat() -> None:
    assert AXIENT.heartbeat_command() == b"< GET 1 METER_RATE >"
    assert AXIENT.is_heartbeat_reply(parse_frame("< REP 1 METER_RATE 00100 >"))
    assert not AXIENT.is_heartbeat_reply(parse_frame("< REP 2 METER_RATE 00100 >"))
    assert not AXIENT.is_heartbeat_reply(parse_frame("< GET 1 METER_RATE >"))
    assert UHFR.heartbeat_command() == b"* GET 1 CHAN_NAME *"
    assert UHFR.is_heartbeat_reply(parse_frame("* REPORT 1 CHAN_NAME {x} *"))
    assert PSM.is_heartbeat_reply(parse_frame("< REPORT 1 CHAN_NAME {x} >"))


def test_rename() -> None:
    assert SLXD.rename_command(1, "Vox 1") == b"< SET 1 CHAN_NAME {Vox 1} >"
    assert AXIENT.rename_command(4, "  A>B  ") == b"< SET 4 CHAN_NAME {A>B} >"
    assert ULXD.rename_command(2, "12345678") == b"< SET 2 CHAN_NAME {12345678} >"


@pytest.mark.parametrize(
    ("spec", "channel", "name", "reason"),
    [
        (ULXD, 1, "123456789", "1-8 characters"),
        (ULXD, 1, "   ", "1-8 characters"),
        (SLXD, 1, "a{b}", "not allowed"),
        (SLXD, 1, "a|b", "not allowed"),
        (AXIENT, 1, "caf\u00e9", "not allowed"),
        (AXIENT, 5, "Vox", "channel must be 1..4"),
        (QLXD, 2, "Vox", "channel must be 1..1"),
        (PSM, 0, "Vox", "channel must be 1..2"),
    ],
)
def test_rename_is_validated(spec: FamilySpec, channel: int, name: str, reason: str) -> None:
    with pytest.raises(CommandRejected, match=reason):
        spec.rename_command(channel, name)


def test_identify() -> None:
    assert SLXD.identify_command(None) == b"< SET FLASH ON >"
    assert SLXD.identify_command(2) == b"< SET 2 FLASH ON >"
    assert AXIENT.identify_command(3) == b"< SET 3 FLASH ON >"
    # ULX-D/QLX-D document FLASH for the whole receiver only.
    assert ULXD.identify_command(2) == b"< SET FLASH ON >"
    assert QLXD.identify_command(None) == b"< SET FLASH ON >"
    for spec in (UHFR, PSM):
        with pytest.raises(CommandRejected, match="no identify"):
            spec.identify_command(1)
    with pytest.raises(CommandRejected):
        AXIENT.identify_command(7)


def test_interpreters_are_independent_per_receiver() -> None:
    a, b = ULXD.new_interpreter(), ULXD.new_interpreter()
    a.interpret(parse_frame("< REP 1 TX_MUTE_STATUS ON >"))
    (reading,) = b.interpret(parse_frame("< REP 1 AUDIO_MUTE OFF >"))
    assert reading.fields == {"mute_status": False}


def test_sample_kind_is_only_interpreted_for_channels() -> None:
    frame = Frame(MessageKind.SAMPLE, None, "ALL", ("AX", "087", "023"), "")
    assert ULXD.new_interpreter().interpret(frame) == []


# --- precomputed converters of the metering path ----------------------------------------------

_TOKENS = [
    *(f"{raw:03d}" for raw in range(1000)),
    *(str(raw) for raw in range(300)),
    "0071", "", "-1", "+5", "abc", "U", "UNKN", "\ufffd", "٣", "1.5",
]  # fmt: skip


@pytest.mark.parametrize("offset", [50, 120, 128])
def test_offset_levels_table_equals_offset_level(offset: int) -> None:
    table = OffsetLevels(offset)
    assert [table[t] for t in _TOKENS] == [offset_level(t, offset) for t in _TOKENS]
    assert len(table) == UNKNOWN_8BIT + 1  # misses are not stored


@pytest.mark.parametrize("lit", ["AB", "RB"])
def test_antenna_letters_table_equals_antenna_letters(lit: str) -> None:
    table = AntennaLetters(lit)
    statuses = ["".join(p) for n in range(6) for p in itertools.product("ABRXx?", repeat=n)]
    assert [table[s] for s in statuses] == [antenna_letters(s, lit) for s in statuses]
    valid = re.compile(f"[{lit}X]{{1,4}}\\Z")
    assert {s for s in statuses if s in table} == {s for s in statuses if valid.match(s)}


def test_axient_sample_with_unknown_antenna_levels() -> None:
    interpreter = FAMILIES[Family.AXIENT].new_interpreter()
    sample = "< SAMPLE 1 ALL 005 031 102 098 BR 31 255 15 {} >"
    (known_one,) = interpreter.interpret(parse_frame(sample.format("055")))
    assert known_one.fields["rf_antennas"] == [None, -65]
    assert known_one.fields["rf_signal"] == -65
    (known_none,) = interpreter.interpret(parse_frame(sample.format("255")))
    assert known_none.fields["rf_antennas"] == [None, None]
    assert known_none.fields["rf_signal"] is None
