"""Venues (demo rig, load-test fleets), the liveliness loop and `micboardd sim`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections import Counter

import pytest

from micboardd.cli.demo import monitor_address
from micboardd.config import ReceiverAddress
from micboardd.errors import ConfigError
from micboardd.model import Family
from micboardd.sim import SimReceiver, Venue
from micboardd.sim.cli import add_sim_arguments, build_venue, execute, parse_receiver_spec
from micboardd.sim.ewdx import SimEwdx
from micboardd.sim.g4 import SimG4
from micboardd.sim.venue import host_at

from .wireclient import TcpClient, rep, sample, until

CLI_DEADLINE_S = 15.0  # a cold interpreter start on a loaded CI box


async def test_many_receivers_start_and_stop_cleanly() -> None:
    venue = Venue.many(100, "ULXD4Q", base_host="127.62.0.2", port=0)
    async with venue:
        assert venue.channel_count == 400
        assert len({rx.host for rx in venue.receivers}) == 100
        assert all(rx.powered and rx.port for rx in venue.receivers)
        for rx in venue.receivers[::33]:
            client = await TcpClient.connect(rx.host, rx.port)
            client.send("< GET 4 CHAN_NAME >")
            await client.wait_for(rep("CHAN_NAME", 4))
            await client.close()
    assert not any(rx.powered for rx in venue.receivers)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(venue.receivers[0].host, venue.receivers[0].port)


async def test_demo_rig_is_mixed_named_and_alive() -> None:
    venue = Venue.demo(base_host="127.62.1.2", port=0, seed=7)
    venue.tick_s, venue.battery_minute_s = 0.02, 0.05
    families = Counter(rx.family for rx in venue.receivers)
    assert 27 <= venue.channel_count <= 31  # 24 Shure, an EW-DX EM 4 and an ew G4
    assert set(families) == {f for f in Family if f is not Family.UNKNOWN}
    names = [ch.name for rx in venue.receivers for ch in rx.channels]
    assert {"Lead Vox", "Pastor", "Guitar 1"} <= set(names) and len(set(names)) == len(names)
    assert len({rx.host for rx in venue.receivers}) == len(venue.receivers)

    async with venue:
        ad4q = next(rx for rx in venue.receivers if rx.model == "AD4Q")
        client = await TcpClient.connect(ad4q.host, ad4q.port)
        client.send("< SET 1 METER_RATE 00100 >")
        await client.wait_for(sample(1), 5)
        # The random walk moves RF and audio between samples...
        await until(lambda: len({f.args for f in client.matching(sample(1))}) > 2)
        # ...and batteries drain, announced by unsolicited REPs.
        await client.wait_for(rep("TX_BATT_MINS", 1))
        await client.close()


async def test_demo_walk_is_seeded() -> None:
    def walk(seed: int) -> list[float]:
        venue = Venue.demo(base_host="127.62.2.2", port=0, seed=seed)
        rx = venue.receivers[0]
        for _ in range(20):
            for ch in rx.channels:
                venue._wiggle(0, rx.family, ch)
        return [v for ch in rx.channels for v in ch.rf_dbm]

    assert walk(1) == walk(1) != walk(2)


def test_host_allocation_stays_on_loopback() -> None:
    assert host_at("127.0.0.2", 300) == "127.0.1.46"
    with pytest.raises(ConfigError):
        host_at("127.255.255.250", 10)
    with pytest.raises(ConfigError):
        Venue.many(3, base_host="10.0.0.1")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_sim_arguments(parser)
    return parser.parse_args(argv)


def test_cli_options_build_a_venue() -> None:
    assert parse_receiver_spec("ad4q@127.0.0.9") == ("ad4q", "127.0.0.9", 2202)
    venue = build_venue(
        parse("--venue", "demo", "--many", "2", "--model", "UR4D", "--receiver", "P10T@127.9.9.9:0")
    )
    assert [rx.model for rx in venue.receivers[-3:]] == ["UR4D", "UR4D", "P10T"]
    assert venue.receivers[-3].host == host_at(venue.receivers[-4].host, 1)
    for bad in ("AD4Q@192.168.1.5:2202", "AD4Q", "NOPE@127.0.0.1", "AD4Q@127.0.0.1:x"):
        with pytest.raises(ConfigError):
            build_venue(parse("--receiver", bad))
    with pytest.raises(ConfigError, match="nothing to simulate"):
        build_venue(parse())


async def test_execute_runs_scenario_verbs() -> None:
    rx = SimReceiver("AD4D", "127.62.3.2", 0)
    venue = Venue([rx], lively=False)
    async with venue:
        at = rx.address
        assert await execute(venue, f"tx_off {at} 1") == "ok"
        assert not rx.channels[0].tx_on
        assert await execute(venue, f"battery_drain {rx.host} 2 bars=2 minutes=90") == "ok"
        assert (rx.channels[1].battery_bars, rx.channels[1].battery_minutes) == (2, 90)
        assert await execute(venue, f"front_panel_rename {at} 2 Lead Vox") == "ok"
        assert rx.channels[1].name == "Lead Vox"
        assert await execute(venue, f"interference {at} 2 off") == "ok"
        assert await execute(venue, f"send_garbage {at} \\x00junk") == "ok"
        assert await execute(venue, f"slow_drip {at} on") == "ok" and rx.dripping
        assert await execute(venue, f"power_loss {at}") == "ok" and not rx.powered
        assert await execute(venue, f"power_restore {at}") == "ok" and rx.powered
        assert await execute(venue, f"hang {at} on") == "ok" and rx.frozen
        assert await execute(venue, f"hang {at} off") == "ok" and not rx.frozen
        assert await execute(venue, f"power_cycle {at} 30") == "ok" and rx.powered and rx.frozen
        assert await execute(venue, f"other_controller {at} 5000") == "ok"
        assert rx.meter_scope == "receiver" and rx.meter_rates == {1: 5000, 2: 5000}
        assert (await execute(venue, "list")).startswith(f"AD4D@{at}")
        for bad in (
            f"tx_off {at}",
            "tx_off 127.0.0.99:1 1",
            f"dance {at} 1",
            f"freeze {at} maybe",
            f"other_controller {at} fast",
        ):
            assert (await execute(venue, bad)).startswith("error: "), bad


async def test_demo_sennheiser_receivers_are_monitored_by_their_protocol() -> None:
    venue = Venue.demo(base_host="127.62.5.2", port=2202)
    ewdx, g4 = venue.receivers[-2:]
    assert isinstance(ewdx, SimEwdx) and isinstance(g4, SimG4)
    assert (ewdx.family, g4.family) == (Family.EWDX, Family.EW)
    # EW-DX's port 45 needs root: the simulator's port is named with its protocol.
    assert monitor_address(ewdx) == ReceiverAddress(ewdx.host, 2202, "ssc1")
    assert monitor_address(g4) == ReceiverAddress(g4.host, 53212)  # the port says it
    assert monitor_address(venue.receivers[0]) == ReceiverAddress("127.62.5.2", 2202)
    for rx in venue.receivers:  # EW-DX names: 1-8 upper-case characters
        if isinstance(rx, SimEwdx):
            assert all(ch.name.isupper() and len(ch.name) <= 8 for ch in rx.channels)


async def test_execute_runs_scenario_verbs_on_sennheiser_receivers() -> None:
    rx = SimEwdx("EWDX-EM4-DANTE", "127.62.6.2", 0)
    venue = Venue([rx], lively=False)
    async with venue:
        at = rx.address
        assert await execute(venue, f"tx_off {at} 2") == "ok"
        assert not rx.channels[1].tx_on
        assert await execute(venue, f"tx_on {rx.host} 2") == "ok" and rx.channels[1].tx_on
        assert await execute(venue, f"battery_drain {at} 1 percent=40 minutes=200") == "ok"
        assert (rx.channels[0].battery_percent, rx.channels[0].battery_minutes) == (40, 200)
        assert await execute(venue, f"front_panel_rename {at} 3 LEAD VOX") == "ok"
        assert rx.channels[2].name == "LEAD VOX"
        assert await execute(venue, f"rf_dropout {at} 4 30") == "ok"
        assert not rx.channels[3].tx_present
        assert await execute(venue, f"freeze {at} on") == "ok" and rx.frozen
        assert await execute(venue, f"hang {at} off") == "ok" and not rx.frozen
        assert await execute(venue, f"power_loss {at}") == "ok" and not rx.powered
        assert await execute(venue, f"power_restore {at}") == "ok" and rx.powered
        assert await execute(venue, f"power_cycle {rx.host} 30") == "ok"
        assert rx.powered and rx.frozen
        assert (await execute(venue, "list")).startswith(f"EW-DX EM 4 Dante@{at}")
        for bad, why in (
            (f"battery_drain {at} 1 bars=2", "no bars"),
            (f"front_panel_rename {at} 1 lower case", "invalid channel name"),
            (f"slow_drip {at} on", "Shure scenario"),
            (f"other_controller {at} 5000", "Shure scenario"),
            (f"tx_off {at} 5", "not in 1..4"),
        ):
            assert why in await execute(venue, bad), bad


async def _read_line(stream: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(stream.readline(), CLI_DEADLINE_S)).decode().strip()


async def test_sim_command_prints_receivers_takes_verbs_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "micboardd.sim.cli",
        "--receiver",
        "SLXD4D@127.62.4.2:0",
        "--static",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = await _read_line(proc.stdout)
        model_at, transport, channels = line.split()
        assert (transport, channels) == ("tcp", "2ch") and model_at.startswith("SLXD4D@127.62.4.2:")
        address = model_at.split("@")[1]
        host, port = address.split(":")
        client = await TcpClient.connect(host, int(port))
        client.send("< GET 1 CHAN_NAME >")
        await client.wait_for(rep("CHAN_NAME", 1))  # connected and served
        proc.stdin.write(f"tx_off {address} 2\nnonsense\n".encode())
        await proc.stdin.drain()
        assert await _read_line(proc.stdout) == "ok"
        assert (await _read_line(proc.stdout)).startswith("error: unknown verb")
        await client.wait_for(rep("TX_MODEL", 2, "UNKNOWN"))
        proc.stdin.close()  # EOF ends the commands, not the simulator
        client.send("< GET 2 TX_BATT_BARS >")
        await client.wait_for(rep("TX_BATT_BARS", 2, "255"))
        await client.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), CLI_DEADLINE_S) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sim_command_refuses_non_loopback_hosts() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "micboardd.sim.cli",
        "--receiver",
        "AD4Q@192.0.2.10:2202",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), CLI_DEADLINE_S)
    assert proc.returncode == 2
    assert b"loopback" in err
