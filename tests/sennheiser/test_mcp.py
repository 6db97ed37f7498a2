"""Media Control Protocol (ew G3/G4): commands, datagrams from a real G3 EM 300 and IEM G4 SR 300."""

from __future__ import annotations

import pytest

from micboardd.errors import ProtocolError
from micboardd.model import Reading
from micboardd.sennheiser import mcp
from micboardd.sennheiser.errors import BadMcpDatagram, InvalidCommand
from micboardd.sennheiser.mcp import (
    AfStatus,
    Attribute,
    BatteryStep,
    ConfigCounter,
    Firmware,
    FrequencyReply,
    Malformed,
    McpError,
    McpInterpreter,
    Messages,
    NameReply,
    RfAntenna,
    RfStatus,
    parse_datagram,
)

from .transcript import load, merge

G3 = "g3_em300_fw1.8.0.txt"
IEM = "iem_g4_sr300_fw1.2.0.txt"


def replay(datagrams: list[bytes]) -> tuple[list[mcp.McpMessage], dict[int, dict[str, object]]]:
    interpreter = McpInterpreter()
    messages = [m for d in datagrams for m in parse_datagram(d)]
    return messages, merge(interpreter.interpret_all(messages))


def fields(*lines: str) -> dict[str, object]:
    state = replay([(line + "\r").encode() for line in lines])[1]
    return state.get(1, {})


# --- the real transcripts --------------------------------------------------------------------


def test_real_g3_commands_are_what_the_builders_build() -> None:
    t = load(G3)
    built = {mcp.command(k) for k in (*mcp.CONFIG_KEYWORDS, "FirmwareRevision")}
    assert set(t.sent) - {mcp.push_command(3, 300, 1), b"X\r"} == built
    assert set(mcp.config_commands()) == built


def test_real_g3_every_attribute_ends_in_cr_and_parses() -> None:
    t = load(G3)
    cycle = t.received[5]
    assert cycle.count(b"\r") == 8 and cycle.endswith(b"\r")
    assert parse_datagram(cycle) == [
        RfAntenna(1, 0, 0, True),
        RfAntenna(2, 0, 0, True),
        Attribute("States", ("5", "0"), "States 5 0"),
        RfStatus(0, 2, False),
        AfStatus(4, 4, 5),
        BatteryStep(None),
        Messages(frozenset({"RF_Mute"})),
        ConfigCounter(10),
    ]
    messages, _ = replay(t.received)
    assert not [m for m in messages if isinstance(m, Malformed)]
    assert len(messages) == 5 + 7 * 8 + 2


def test_real_g3_readings_with_the_transmitter_off() -> None:
    messages, state = replay(load(G3).received)
    assert NameReply("VOX 4") in messages  # space padding stripped
    assert FrequencyReply(639100, 21, 1) in messages
    assert state[0] == {"firmware": "1.8.0"}  # its reply ends in LF, not CR
    assert state[1] == {
        "name": "VOX 4",
        "frequency_mhz": 639.1,
        "rf_antennas": [-107.0, -107.0],
        "rf_signal": -107.0,
        "antenna": None,  # level 0: no antenna to show
        "audio_level": -48.0,
        "peak_level": -48.0,
        "mute_status": False,  # AF bits 5 = any + RF mute: nobody muted the performer
        "battery_level": None,
        "tx_on": False,  # Bat ?
    }
    assert McpError(1000, "Invalid command", "X") in messages
    assert mcp.device_kind(messages) == "receiver"


def test_real_iem_is_told_apart_and_its_four_field_af_is_not_a_receiver_meter() -> None:
    messages, state = replay(load(IEM).received)
    assert mcp.device_kind(messages) == "iem"
    assert Attribute("AF", ("0", "0", "0", "0"), "AF 0 0 0 0") in messages
    assert state[1] == {"name": "VOX 1", "frequency_mhz": 614.325, "mute_status": False}
    assert state[0] == {"firmware": "1.2.0"}


def test_config_counter_change_asks_for_a_reread_once() -> None:
    interpreter = McpInterpreter()
    for value in (10, 10):
        interpreter.interpret(ConfigCounter(value))
    assert interpreter.take_config_change() is False  # first sighting and repeats
    interpreter.interpret(ConfigCounter(11))
    assert interpreter.take_config_change() is True
    assert interpreter.take_config_change() is False
    interpreter.interpret(ConfigCounter(0))  # wraps after 999
    assert interpreter.take_config_change() is True


# --- commands --------------------------------------------------------------------------------


def test_commands_end_in_cr() -> None:
    assert mcp.command("Name") == b"Name\r"
    assert mcp.command("Mute", 1) == b"Mute 1\r"
    assert mcp.push_command(60, 100, 3) == b"Push 60 100 3\r"
    assert mcp.push_command(0, 0, 1) == b"Push 0 0 1\r"
    assert mcp.rename_command(" VOX 4 ") == b"Name VOX 4\r"


@pytest.mark.parametrize(
    "args",
    [(301, 100, 3), (-1, 100, 3), (60, 150, 3), (60, 60100, 3), (60, 100, 8), (60, 100, True)],
)
def test_push_parameters_out_of_range_are_refused(args: tuple[int, int, int]) -> None:
    with pytest.raises(InvalidCommand):
        mcp.push_command(*args)


@pytest.mark.parametrize(
    ("keyword", "params"),
    [("1Name", ()), ("Na me", ()), ("Name", ("a\rb",)), ("Name", ("",)), ("Name", ("x" * 1500,))],
)
def test_bad_commands_are_refused(keyword: str, params: tuple[str, ...]) -> None:
    with pytest.raises(InvalidCommand):
        mcp.command(keyword, *params)


@pytest.mark.parametrize("name", ["NINECHARS", "", "   "])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidCommand):
        mcp.rename_command(name)


# --- datagrams -------------------------------------------------------------------------------


def test_line_ends_cr_lf_and_crlf_all_split_attributes() -> None:
    data = b"Squelch 5\r\nAfOut 3\nMute 1\rBat 70"
    assert [type(m).__name__ for m in parse_datagram(data)] == [
        "Attribute",
        "Attribute",
        "Attribute",
        "BatteryStep",
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1000: Invalid command [ X ]", McpError(1000, "Invalid command", "X")),
        ("1020: Value out of range [ Frequency 56 2 9 ]", McpError(1020, "Value out of range", "Frequency 56 2 9")),
        ("1050: Wrong termination", McpError(1050, "Wrong termination", None)),
        ("Push 60 100 3", Attribute("Push", ("60", "100", "3"), "Push 60 100 3")),
        ("Frequency 639100", FrequencyReply(639100, None, None)),
        ("Frequency x", Malformed("Frequency x", "Frequency needs kHz")),
        ("RF1 a b c", Malformed("RF1 a b c", "RF1 needs <min%> <max%> [active]")),
        ("RF 12", RfStatus(12, None, None)),
        ("RF 12 7 1", RfStatus(12, None, True)),
        ("AF 50 60 2", AfStatus(50, 60, 2)),
        ("Bat 101", Malformed("Bat 101", "Bat needs 0|30|70|100 or ?")),
        ("Bat 30", BatteryStep(30)),
        ("Msg OK", Messages(frozenset())),
        ("Config -1", Malformed("Config -1", "Config needs a counter")),
        ("Name", NameReply(None)),
        ("FirmwareRevision", Firmware(None)),
        ("Wibble 1 2", Attribute("Wibble", ("1", "2"), "Wibble 1 2")),
    ],
)  # fmt: skip
def test_each_attribute_form(line: str, message: mcp.McpMessage) -> None:
    assert parse_datagram((line + "\r").encode()) == [message]


def test_non_ascii_bytes_do_not_raise() -> None:
    (message,) = parse_datagram(b"Name V\xffX\r")
    assert isinstance(message, NameReply) and message.name == "V\ufffdX"


def test_an_over_long_datagram_is_a_protocol_error() -> None:
    with pytest.raises(BadMcpDatagram) as caught:
        parse_datagram(b"Msg OK\r" * 1000)
    assert isinstance(caught.value, ProtocolError)


def test_malformed_and_errors_yield_no_reading() -> None:
    interpreter = McpInterpreter()
    assert interpreter.interpret(Malformed("RF1 x", "bad")) == []
    assert interpreter.interpret(McpError(1000, "Invalid command", "X")) == []


# --- [U] readings ---------------------------------------------------------------------------


@pytest.mark.parametrize(("percent", "dbm"), [(0, -107.0), (50, -87.0), (100, -67.0), (120, -59.0)])
def test_pins_rf_percent_as_dbuv_then_dbm(percent: int, dbm: float) -> None:
    state = fields(f"RF {percent} 1 1", f"RF1 0 {percent} 1")
    assert state["rf_signal"] == dbm
    assert state["rf_antennas"] == [dbm, None]
    assert state["antenna"] == ("A" if percent else None)


def test_pins_rf_antenna_two_and_levels_per_antenna() -> None:
    state = fields("RF1 10 20 0", "RF2 30 40 1", "RF 40 2 1")
    assert state["rf_antennas"] == [-99.0, -91.0]
    assert (state["rf_signal"], state["antenna"]) == (-91.0, "B")


@pytest.mark.parametrize(("percent", "dbfs"), [(0, -50.0), (50, -25.0), (100, 0.0)])
def test_pins_af_percent_as_dbfs_in_audio_and_peak(percent: int, dbfs: float) -> None:
    state = fields(f"AF {percent} 100 0")
    assert (state["audio_level"], state["peak_level"]) == (dbfs, dbfs)


@pytest.mark.parametrize(
    ("bits", "muted"), [(0, False), (1, False), (3, True), (5, False), (9, True), (15, True)]
)
def test_pins_af_mute_bits_tx_and_rx_only(bits: int, muted: bool) -> None:
    assert fields(f"AF 0 0 {bits}")["mute_status"] is muted


@pytest.mark.parametrize("step", [0, 30, 70, 100])
def test_pins_battery_steps_as_percent_without_bars(step: int) -> None:
    assert fields(f"Bat {step}") == {"battery_level": step, "tx_on": True}


def test_pins_msg_flags() -> None:
    assert fields("Msg AF_Peak Low_Battery Low_RF_Signal") == {
        "mute_status": False,
        "peak_level": 0.0,
    }
    assert fields("Msg TX_Mute") == {"mute_status": True}
    assert fields("Msg RX_Mute RF_Mute") == {"mute_status": True}


def test_pins_config_mute_setting_as_no_reading() -> None:
    assert fields("Mute 1") == {}


def test_transmitter_back_on_after_bat_question_mark() -> None:
    interpreter = McpInterpreter()
    off = interpreter.interpret(BatteryStep(None))
    on = interpreter.interpret(BatteryStep(70))
    assert off == [Reading(1, {"battery_level": None, "tx_on": False})]
    assert on == [Reading(1, {"battery_level": 70, "tx_on": True})]
