"""Firmware behaviours of real units the simulator reproduces (real-captures.md), over real
loopback sockets: each is what a test or the demo can show the daemon meeting."""

from __future__ import annotations

import pytest

from .conftest import RxFactory, TcpFactory, UdpFactory
from .wireclient import is_err, rep, sample, until


async def test_a_hung_receiver_accepts_and_answers_nothing(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("ULXD4Q", hung=True)
    client = await tcp(rx)
    client.send("< GET MODEL >")
    await until(lambda: rx.bytes_received > 0, 2, "the command to arrive")  # it was heard ...
    rx.hang(False)
    client.send("< GET FW_VER >")
    await client.wait_for(rep("FW_VER"), timeout=2)
    assert not client.matching(rep("MODEL"))  # ... and never answered while hung


async def test_a_slow_boot_accepts_at_once_and_answers_after_its_boot_time(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("AD4D")
    await rx.power_cycle(boot_s=0.5)
    client = await tcp(rx)
    assert rx.frozen
    await until(lambda: not rx.frozen, 3, "booted")
    client.send("< GET MODEL >")
    await client.wait_for(rep("MODEL"), timeout=2)


async def test_another_controller_sets_meter_rate_for_every_client(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("ULXD4D", meter_scope="receiver")
    ours = await tcp(rx)
    ours.send("< SET 0 METER_RATE 00100 >")
    await ours.wait_for(sample(1), timeout=2)
    rx.other_controller(0)
    await ours.wait_for(rep("METER_RATE", 1, "00000"), timeout=2)  # we hear the other one's SET
    seen = len(ours.frames)
    later = await tcp(rx)  # a new client inherits the receiver-wide rate
    later.send("< GET 1 METER_RATE >")
    await later.wait_for(rep("METER_RATE", 1, "00000"), timeout=2)
    assert not ours.matching(sample(), seen)  # meters stopped for everyone


async def test_slxd_plus_refuses_get_0_all_but_answers_per_channel(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("SLXD4Q+")
    client = await tcp(rx)
    client.send("< GET 0 ALL >")
    await client.wait_for(is_err, timeout=2)
    assert not client.matching(rep("CHAN_NAME"))
    client.send("< GET 2 ALL >")
    await client.wait_for(rep("TX_MODEL", 2), timeout=2)


@pytest.mark.parametrize("model", ["P10T", "UR4D"])
async def test_channel_zero_is_refused_where_real_firmware_has_no_such_channel(
    model: str, make_rx: RxFactory, tcp: TcpFactory, udp: UdpFactory
) -> None:
    rx = await make_rx(model)
    if model == "UR4D":
        uclient = await udp(rx)
        uclient.send("* METER 0 ALL 003 *")
        await uclient.wait_for(is_err, timeout=2)
        uclient.send("* METER 2 ALL 003 *")
        await uclient.wait_for(sample(2), timeout=2)
    else:
        client = await tcp(rx)
        client.send("< SET 0 METER_RATE 00100 >\r\n")
        await client.wait_for(is_err, timeout=2)
        client.send("< SET 2 METER_RATE 00100 >\r\n")
        await client.wait_for(rep("AUDIO_IN_LVL_L", 2), timeout=2)


async def test_a_ur4d_answers_only_the_first_command_of_a_datagram(
    make_rx: RxFactory, udp: UdpFactory
) -> None:
    rx = await make_rx("UR4D")
    client = await udp(rx)
    client.send("* GET 1 CHAN_NAME ** GET 2 CHAN_NAME *")
    await client.wait_for(rep("CHAN_NAME", 1), timeout=2)
    client.send("* GET 1 FREQUENCY *")  # one per datagram: each is answered
    await client.wait_for(rep("FREQUENCY", 1), timeout=2)
    assert not client.matching(rep("CHAN_NAME", 2))


async def test_a_p10t_acts_only_on_crlf_terminated_single_commands(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("P10T")
    client = await tcp(rx)
    client.send("< GET 1 CHAN_NAME >")  # no CRLF: waits for one
    client.send("< GET 2 CHAN_NAME >< GET 1 FREQUENCY >\r\n")  # run-on: ignored
    client.send("< GET DEVICE_NAME >\r\n")
    await client.wait_for(rep("DEVICE_NAME"), timeout=2)
    assert not client.matching(rep("CHAN_NAME")) and not client.matching(rep("FREQUENCY"))


async def test_a_refused_property_gets_an_error_and_is_left_out_of_dumps(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("QLXD4", refuse=["MODEL"])
    client = await tcp(rx)
    client.send("< GET MODEL >")
    await client.wait_for(is_err, timeout=2)
    client.send("< GET 0 ALL >", "< GET FW_VER >")
    await client.wait_for(rep("FW_VER"), timeout=2)
    await until(lambda: len(client.matching(rep("FW_VER"))) >= 2, 2, "the marker after the dump")
    assert not client.matching(rep("MODEL"))


async def test_jitter_moves_every_meter_value_on_every_sample(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("ULXD4Q", jitter_db=3.0)
    before = list(rx.channels[0].rf_dbm)
    client = await tcp(rx)
    client.send("< SET 1 METER_RATE 00100 >")
    samples = await client.wait_for(sample(1), 12, timeout=5)
    rf = [int(f.args[1]) for f in samples]  # SAMPLE 1 ALL <antenna> <rf> <audio>
    audio = [int(f.args[2]) for f in samples]
    assert len(set(rf)) > 4 and len(set(audio)) > 4, (rf, audio)
    assert rx.channels[0].rf_dbm == before  # the state itself stays put
