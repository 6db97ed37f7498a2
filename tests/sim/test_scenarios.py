"""Scenario verbs, unsolicited REPs, errors, power and write quirks over real sockets."""

from __future__ import annotations

import asyncio

import pytest

from micboardd.shure.codec import Frame, MessageKind
from micboardd.shure.decoder import StreamDecoder
from micboardd.sim import SimReceiver

from .conftest import RxFactory, TcpFactory
from .wireclient import TcpClient, is_err, rep, until


async def test_set_chan_name_is_reported_to_every_client(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("ULXD4Q")
    a, b = await tcp(rx), await tcp(rx)
    await until(lambda: rx.clients == 2)
    a.send("< SET 3 CHAN_NAME {Lead Vox} >")
    for client in (a, b):
        (frame,) = await client.wait_for(rep("CHAN_NAME", 3))
        assert frame.args == ("Lead Vox",)
        assert frame.raw == "< REP 3 CHAN_NAME {Lead Vox} >"  # ULX-D pads to 8
    assert rx.channels[2].name == "Lead Vox"

    # The same name again changes nothing: only the requester hears the value.
    a.send("< SET 3 CHAN_NAME {Lead Vox} >")
    await a.wait_for(rep("CHAN_NAME", 3), 2)
    assert len(b.matching(rep("CHAN_NAME", 3))) == 1


@pytest.mark.parametrize(
    "command",
    [
        "< SET 1 CHAN_NAME {Much too long} >",
        "< SET 1 CHAN_NAME {} >",
        "< SET 9 CHAN_NAME {Vox} >",
        "< GET 1 NO_SUCH_PROPERTY >",
        "< GET 7 CHAN_NAME >",
        "< SET 1 METER_RATE 00042 >",
        "< SET 1 AUDIO_GAIN 099 >",
        "< REP 1 CHAN_NAME {Vox} >",
        "< FOO 1 BAR >",
        "hello",
    ],
)
async def test_bad_commands_get_rep_err(command: str, make_rx: RxFactory, tcp: TcpFactory) -> None:
    rx = await make_rx("AD4D")
    client = await tcp(rx)
    client.send(command)
    (err,) = await client.wait_for(is_err)
    assert err.raw == "< REP ERR >"
    assert [f for f in client.frames if not is_err(f)] == []
    assert rx.channels[0].name == "Ch 1"


async def test_slxd_may_stay_silent_on_errors(make_rx: RxFactory, tcp: TcpFactory) -> None:
    rx = await make_rx("SLXD4", answer_errors=False)
    client = await tcp(rx)
    client.send("< GET 1 NOPE >", "garbage", "< GET 1 CHAN_NAME >")
    await client.wait_for(rep("CHAN_NAME", 1))
    assert [f.prop for f in client.frames] == ["CHAN_NAME"]
    assert rx.garbage_received == 1


async def test_front_panel_rename_sends_unsolicited_rep(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("SLXD4D")
    client = await tcp(rx)
    await until(lambda: rx.clients == 1)
    rx.front_panel_rename(2, "Pastor")
    (frame,) = await client.wait_for(rep("CHAN_NAME", 2))
    assert frame.args == ("Pastor",) and len(frame.raw) == len("< REP 2 CHAN_NAME {} >") + 31
    with pytest.raises(ValueError):
        rx.front_panel_rename(1, "Far too long a name")


async def test_transmitter_verbs_send_reps_not_meters(make_rx: RxFactory, tcp: TcpFactory) -> None:
    rx = await make_rx("AD4Q")
    client = await tcp(rx)
    await until(lambda: rx.clients == 1)
    rx.battery_drain(1, bars=1, minutes=25)
    await client.wait_for(rep("TX_BATT_BARS", 1, "001"))
    await client.wait_for(rep("TX_BATT_MINS", 1, "00025"))
    await client.wait_for(rep("TX_BATT_CHARGE_PERCENT", 1, "004"))
    rx.interference(2)
    await client.wait_for(rep("INTERFERENCE_STATUS", 2, "DETECTED"))
    rx.encryption_error(3)
    await client.wait_for(rep("ENCRYPTION_STATUS", 3, "ERROR"))
    rx.tx_off(4)
    await client.wait_for(rep("TX_MODEL", 4, "UNKNOWN"))
    await client.wait_for(rep("TX_BATT_BARS", 4, "255"))
    await client.wait_for(rep("SLOT_STATUS", 4, "1", "LINKED.INACTIVE"))
    rx.tx_on(4)
    await client.wait_for(rep("TX_MODEL", 4, "AD2"))
    rx.set_meters(1, rf_dbm=[-80.0], rms_dbfs=-10.0)
    rx.publish()
    metered = {"RSSI", "AUDIO_LEVEL_RMS", "AUDIO_LEVEL_PEAK", "CHAN_QUALITY", "RSSI_LED_BITMAP"}
    assert not metered & {f.prop for f in client.frames}


async def test_rf_dropout_looks_like_an_absent_transmitter_then_recovers(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("ULXD4")
    client = await tcp(rx)
    await until(lambda: rx.clients == 1)
    rx.rf_dropout(1, 0.2)
    await client.wait_for(rep("TX_TYPE", 1, "UNKN"))
    await client.wait_for(rep("TX_TYPE", 1, "ULXD2"))
    assert rx.channels[0].tx_on and not rx.channels[0].signal_lost


async def test_flash_reports_on_then_off(make_rx: RxFactory, tcp: TcpFactory) -> None:
    rx = await make_rx("SLXD4D")
    client = await tcp(rx)
    client.send("< SET FLASH ON >", "< SET 2 FLASH ON >")
    await client.wait_for(rep("FLASH", None, "ON"))
    await client.wait_for(rep("FLASH", 2, "ON"))
    await client.wait_for(rep("FLASH", None, "OFF"))
    await client.wait_for(rep("FLASH", 2, "OFF"))


async def test_received_records_commands(make_rx: RxFactory, tcp: TcpFactory) -> None:
    rx = await make_rx("QLXD4")
    client = await tcp(rx)
    client.send("< GET 0 ALL >< SET 0 METER_RATE 01000 >")
    assert await rx.wait_for_command("SET 0 METER_RATE 01000") == "< SET 0 METER_RATE 01000 >"
    client.send("< SET 0 METER_RATE 00000 >")
    await client.close()
    await rx.wait_for_command(lambda raw: raw.endswith("00000 >"))
    assert rx.received == [
        "< GET 0 ALL >",
        "< SET 0 METER_RATE 01000 >",
        "< SET 0 METER_RATE 00000 >",
    ]
    with pytest.raises(TimeoutError, match="FLASH"):
        await rx.wait_for_command("SET FLASH ON", timeout=0.05)


async def test_power_loss_drops_clients_and_refuses_connections(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("AD4D")
    client = await tcp(rx)
    client.send("< SET 0 METER_RATE 00100 >")
    await client.wait_for(rep("METER_RATE", 2))
    await rx.power_loss()
    await until(lambda: client.closed)
    assert client.reset  # abrupt: RST, not an orderly close
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(rx.host, rx.port)

    rx.tx_off(1)  # the world moves on while the receiver is dark
    await rx.power_restore()
    again = await tcp(rx)
    again.send("< GET 1 TX_MODEL >")
    await again.wait_for(rep("TX_MODEL", 1, "UNKNOWN"))


async def test_split_writes_decode_to_the_same_frames(make_rx: RxFactory, tcp: TcpFactory) -> None:
    whole = await make_rx("AD4Q", split_writes=False, device_id="Stage")
    split = await make_rx("AD4Q", split_writes=True, device_id="Stage")
    results: list[TcpClient] = []
    for rx in (whole, split):
        client = await tcp(rx)
        client.send("< GET 0 ALL >", "< GET 1 FLASH >")
        await client.wait_for(rep("FLASH", 1))
        results.append(client)
    a, b = results
    assert [strip(f) for f in a.frames] == [strip(f) for f in b.frames]
    assert any(not chunk.endswith(b">") for chunk in b.chunks)  # a frame did straddle reads
    assert b"\n" not in b"".join(b.chunks)


def strip(frame: Frame) -> tuple[MessageKind, int | None, str, tuple[str, ...]]:
    return frame.kind, frame.channel, frame.prop, frame.args


async def test_coalesces_frames_without_newlines(make_rx: RxFactory, tcp: TcpFactory) -> None:
    rx = await make_rx("ULXD4D", split_writes=False)
    client = await tcp(rx)
    client.send("< GET 1 CHAN_NAME >< GET 2 CHAN_NAME >")
    await client.wait_for(rep("CHAN_NAME"), 2)
    assert client.chunks[0].count(b"<") == 2 and b"\n" not in client.chunks[0]


async def test_slow_drip_and_garbage(make_rx: RxFactory, tcp: TcpFactory) -> None:
    rx = await make_rx("ULXD4")
    client = await tcp(rx)
    await until(lambda: rx.clients == 1)
    rx.slow_drip(True)
    client.send("< GET 1 CHAN_NAME >")
    await client.wait_for(rep("CHAN_NAME", 1))
    assert len(client.chunks) > 10  # arrived in many small reads
    rx.slow_drip(False)
    rx.send_garbage(b"\x00\xffjunk>")
    client.send("< GET 1 BATT_BARS >")
    await client.wait_for(rep("BATT_BARS", 1))
    assert client.decoder.garbage_count == 1


async def test_freeze_keeps_the_connection_but_answers_nothing(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("QLXD4")
    client = await tcp(rx)
    rx.freeze(True)
    client.send("< GET 1 CHAN_NAME >")
    await until(lambda: rx.bytes_received == len("< GET 1 CHAN_NAME >"))
    rx.freeze(False)
    client.send("< GET 1 BATT_BARS >")
    await client.wait_for(rep("BATT_BARS", 1))
    assert [f.prop for f in client.frames] == ["BATT_BARS"] and not client.closed


async def test_set_gain_mute_and_frequency(make_rx: RxFactory, tcp: TcpFactory) -> None:
    rx = await make_rx("SLXD4")
    client = await tcp(rx)
    client.send("< SET 1 AUDIO_GAIN INC 3 >")
    await client.wait_for(rep("AUDIO_GAIN", 1, "021"))
    client.send("< SET 1 FREQUENCY 602125 >")
    await client.wait_for(rep("FREQUENCY", 1, "0602125"))
    await client.wait_for(rep("GROUP_CHANNEL", 1))  # reported even though unchanged
    client.send("< SET 1 AUDIO_MUTE ON >")  # SLX-D has no mute
    await client.wait_for(is_err)

    ulx = await make_rx("ULXD4")
    other = await tcp(ulx)
    other.send("< SET 1 AUDIO_MUTE TOGGLE >")
    await other.wait_for(rep("AUDIO_MUTE", 1, "ON"))


async def test_constructor_refuses_non_loopback_hosts() -> None:
    from micboardd.errors import ConfigError

    for host in ("0.0.0.0", "192.168.1.20", "::1", "localhost"):
        with pytest.raises(ConfigError):
            SimReceiver("AD4Q", host)
    with pytest.raises(ConfigError, match="unknown model"):
        SimReceiver("XYZ1", "127.0.0.1")


def test_decoder_sanity() -> None:
    """The codec used by these tests accepts what the simulator writes, CRLF included."""
    decoder = StreamDecoder()
    assert len(decoder.feed(b"< REPORT 1 CHAN_NAME {Vox} >\r\n< REP ERR >")) == 2
    assert decoder.garbage_count == 0
