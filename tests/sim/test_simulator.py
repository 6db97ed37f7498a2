"""Every family over real loopback sockets: dumps, per-property GETs, metering, UDP."""

from __future__ import annotations

import time

import pytest

from micboardd.model import Family
from micboardd.shure.codec import MessageKind

from .conftest import RxFactory, TcpFactory, UdpFactory
from .wireclient import is_err, rep, sample

# Properties that prove a dump speaks the family's own vocabulary.
VOCABULARY = {
    "ULXD4": {
        "FW_VER",
        "DEVICE_ID",
        "CHAN_NAME",
        "TX_TYPE",
        "BATT_BARS",
        "BATT_RUN_TIME",
        "GROUP_CHAN",
    },
    "ULXD4D": {"AUDIO_SUMMING_MODE", "AUDIO_MUTE", "RF_INT_DET", "ENCRYPTION_WARNING"},
    "ULXD4Q": {"FREQUENCY_DIVERSITY_MODE", "BATT_CHARGE", "TX_RF_PWR", "METER_RATE"},
    "QLXD4": {"CHAN_NAME", "TX_TYPE", "BATT_BARS", "ENCRYPTION", "FREQUENCY"},
    "SLXD4": {"MODEL", "RF_BAND", "LOCK_STATUS", "GROUP_CHANNEL", "TX_MODEL", "TX_BATT_MINS"},
    "SLXD4D": {"AUDIO_OUT_LVL_SWITCH", "TX_BATT_BARS", "RSSI", "AUDIO_LEVEL_RMS"},
    "SLXD4Q+": {"AUDIO_LEVEL_PEAK", "TX_MODEL"},
    "AD4D": {"QUADVERSITY_MODE", "ENCRYPTION_STATUS", "INTERFERENCE_STATUS", "SLOT_STATUS"},
    "AD4Q": {"TX_BATT_CHARGE_PERCENT", "TX_BATT_MINS", "CHAN_QUALITY", "RSSI_LED_BITMAP"},
}
# (property whose value proves "no transmitter", its sentinel)
ABSENT = {
    Family.ULXD: ("TX_TYPE", "UNKN"),
    Family.QLXD: ("BATT_BARS", "255"),
    Family.SLXD: ("TX_MODEL", "UNKNOWN"),
    Family.AXIENT: ("TX_BATT_MINS", "65535"),
}
FORBIDDEN = {"QLXD4": {"AUDIO_MUTE", "HIGH_DENSITY"}, "SLXD4": {"AUDIO_MUTE", "BATT_CHARGE"}}


@pytest.mark.parametrize("model", sorted(VOCABULARY))
async def test_get_all_dump_speaks_the_family_vocabulary(
    model: str, make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx(model, tx_on=False)
    client = await tcp(rx)
    n = len(rx.channels)
    if rx.get_all_zero:
        client.send("< GET 0 ALL >")
    else:  # SLX-D+ refuse GET 0 ALL and answer per channel (real-captures.md §3)
        client.send(*(f"< GET {ch} ALL >" for ch in range(1, n + 1)))
    prop, sentinel = ABSENT[rx.family]
    client.send("< GET FW_VER >")  # answered after the whole dump: marks its end
    dumps = 1 if rx.get_all_zero else n  # each dump carries FW_VER too
    await client.wait_for(rep("FW_VER", None), dumps + 1)
    frames = client.matching(rep(prop))
    assert len(frames) == n
    props = {f.prop for f in client.frames}
    assert VOCABULARY[model] <= props
    assert not FORBIDDEN.get(model, set()) & props
    assert {f.channel for f in client.frames} == {None, *range(1, n + 1)}
    assert all(f.kind is MessageKind.REP for f in client.frames)
    assert all(f.args == (sentinel,) for f in frames)
    assert client.decoder.garbage_count == 0


@pytest.mark.parametrize("model", ["ULXD4Q", "SLXD4D", "AD4Q"])
async def test_get_one_channel_all_and_single_properties(
    model: str, make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx(model, names=["Lead Vox", "Pastor"])
    client = await tcp(rx)
    client.send("< GET 2 ALL >")
    await client.wait_for(rep("METER_RATE", 2))
    assert {f.channel for f in client.frames} == {None, 2}
    start = len(client.frames)
    client.send("< GET 1 CHAN_NAME >", "< GET 0 FREQUENCY >", "< GET MODEL >", "< GET DEVICE_ID >")
    (name,) = await client.wait_for(rep("CHAN_NAME", 1), start=start)
    assert name.args == ("Lead Vox",)
    freqs = await client.wait_for(rep("FREQUENCY"), len(rx.channels), start=start)
    assert [int(f.args[0]) for f in freqs] == [ch.frequency_khz for ch in rx.channels]
    (model_rep,) = await client.wait_for(rep("MODEL", None), start=start)
    assert model_rep.args[0].startswith(model.rstrip("+"))
    await client.wait_for(rep("DEVICE_ID", None), start=start)


@pytest.mark.parametrize("model", ["ULXD4D", "QLXD4", "SLXD4Q+", "AD4D"])
async def test_meter_rate_starts_and_stops_samples_per_channel(
    model: str, make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx(model)
    client, clock = await tcp(rx), await tcp(rx)
    n = len(rx.channels)
    began = time.monotonic()
    client.send("< SET 0 METER_RATE 00100 >")
    await client.wait_for(rep("METER_RATE", None, "00100"), n)
    for ch in range(1, n + 1):
        await client.wait_for(sample(ch), 4)
    elapsed = time.monotonic() - began
    assert 0.25 < elapsed < 2.5  # 4 samples at 100 ms: loosely "about that rate"
    counts = [len(client.matching(sample(ch))) for ch in range(1, n + 1)]
    assert max(counts) - min(counts) <= 1

    assert rx.metering == 1
    client.send("< SET 0 METER_RATE 00000 >")
    await client.wait_for(rep("METER_RATE", None, "00000"), n)
    assert rx.metering == 0
    after = client.index_of(rep("METER_RATE", n, "00000")) + 1
    # Observe several 100 ms periods on a second connection, then check the first stayed quiet.
    clock.send("< SET 1 METER_RATE 00100 >")
    await clock.wait_for(sample(1), 4)
    assert client.matching(sample(), start=after) == []


@pytest.mark.parametrize("model", ["UR4S", "UR4D"])
async def test_uhfr_over_udp(model: str, make_rx: RxFactory, udp: UdpFactory) -> None:
    rx = await make_rx(model, names=["Choir L", "Choir R"])
    assert rx.transport == "udp"
    client = await udp(rx)
    client.send("* GET 1 CHAN_NAME *")
    client.send("* GET 1 TX_BAT *")
    client.send("* GET 1 GROUP_CHAN *")
    client.send("* GET MODEL *")
    (name,) = await client.wait_for(rep("CHAN_NAME", 1))
    assert name.kind is MessageKind.REPORT and name.args == ("Choir L",)
    (bat,) = await client.wait_for(rep("TX_BAT", 1))
    assert bat.args == ("5",)
    await client.wait_for(rep("GROUP_CHAN", 1, "--,--"))
    await client.wait_for(rep("MODEL", None, model))

    start = len(client.frames)
    client.send("* METER 1 ALL 003 *")
    samples = await client.wait_for(sample(1), 3, start=start)
    assert samples[0].args[0] in ("AX", "XB", "AB") and len(samples[0].args) == 5

    rx.tx_off(1)
    await client.wait_for(rep("TX_BAT", 1, "U"), start=start)
    await client.wait_for(lambda f: f.kind is MessageKind.SAMPLE and f.args[3] == "U")

    client.send("* METER 1 ALL STOP *")
    client.send("* GET 1 CHAN_NAME *")  # answered after the STOP was handled
    await client.wait_for(rep("CHAN_NAME", 1), start=start)
    after = client.index_of(rep("CHAN_NAME", 1), start) + 1
    clock = await udp(rx)
    clock.send("* METER 1 ALL 003 *")
    await clock.wait_for(sample(1), 4)
    assert client.matching(sample(), start=after) == []


async def test_uhfr_has_no_get_all_and_stays_silent_on_errors(
    make_rx: RxFactory, udp: UdpFactory
) -> None:
    rx = await make_rx("UR4D")
    client = await udp(rx)
    client.send("* GET 1 ALL *")
    client.send("* GET 2 CHAN_NAME *")
    await client.wait_for(rep("CHAN_NAME", 2))
    assert [f.prop for f in client.frames] == ["CHAN_NAME"]
    # Channel 0 is not "all channels" on this firmware: that one is answered, with ERR.
    client.send("* GET 0 CHAN_NAME *")
    await client.wait_for(is_err)


async def test_psm1000_reports_with_crlf_and_metered_levels(
    make_rx: RxFactory, tcp: TcpFactory
) -> None:
    rx = await make_rx("P10T", names=["IEM Band", "IEM Vox"], split_writes=False)
    client = await tcp(rx)
    client.send("< GET DEVICE_NAME >\r\n", "< GET 2 CHAN_NAME >\r\n", "< GET 1 RF_MUTE >\r\n")
    await client.wait_for(rep("DEVICE_NAME", None))
    (name,) = await client.wait_for(rep("CHAN_NAME", 2))
    assert name.kind is MessageKind.REPORT and name.args == ("IEM Vox",)
    await client.wait_for(rep("RF_MUTE", 1, "0"))
    raw = b"".join(client.chunks)
    assert raw.count(b">\r\n") == 3 and b"REP " not in raw

    client.send("< GET 0 ALL >\r\n")
    await client.wait_for(is_err)

    client.send("< SET 1 METER_RATE 00100 >\r\n")
    await client.wait_for(rep("AUDIO_IN_LVL_L", 1), 3)
    levels = await client.wait_for(rep("AUDIO_IN_LVL_R", 1), 3)
    assert all(len(f.args[0]) == 11 and f.args[0].isdigit() for f in levels)
    assert client.matching(rep("AUDIO_IN_LVL_L", 2)) == []
