"""The ew G3/G4 simulator over real UDP on loopback, from source port 53212 as real units demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from micboardd.sennheiser import mcp
from micboardd.sennheiser.mcp import (
    AfStatus,
    BatteryStep,
    ConfigCounter,
    McpError,
    McpInterpreter,
    Messages,
    NameReply,
    RfAntenna,
)
from micboardd.sim.g4 import SimG4

from .sennclients import McpClient, senn_host
from .wireclient import until

G4Factory = Callable[..., Awaitable[SimG4]]
ClientFactory = Callable[..., Awaitable[McpClient]]
BLOCK = ("RF1", "RF2", "States", "RF", "AF", "Bat", "Msg", "Config")


@pytest.fixture
async def make_g4() -> AsyncIterator[G4Factory]:
    started: list[SimG4] = []

    async def factory(model: str = "EM300-500G4", **options: Any) -> SimG4:
        rx = SimG4(model, senn_host(), **options)
        started.append(rx)
        await rx.start()
        return rx

    yield factory
    for rx in started:
        await rx.close()


@pytest.fixture
async def client() -> AsyncIterator[ClientFactory]:
    opened: list[McpClient] = []

    async def factory(rx: SimG4, port: int = mcp.MCP_PORT) -> McpClient:
        c: McpClient = await McpClient.open((rx.host, rx.port), (senn_host(), port))
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()


def is_type(kind: type, **attrs: Any) -> Callable[[mcp.McpMessage], bool]:
    def pred(m: mcp.McpMessage) -> bool:
        return isinstance(m, kind) and all(getattr(m, k) == v for k, v in attrs.items())

    return pred


def blocks(c: McpClient, start: int = 0) -> list[bytes]:
    return [d for d in c.datagrams[start:] if d.startswith(b"RF1 ")]


async def test_only_datagrams_from_port_53212_are_answered(
    make_g4: G4Factory, client: ClientFactory
) -> None:
    rx = await make_g4()
    stranger = await client(rx, 0)
    stranger.send(mcp.command("Name"))
    await until(lambda: rx.wrong_port == 1, what="the stranger's datagram")
    c = await client(rx)
    c.send(mcp.command("Name"))
    await c.wait_for(is_type(NameReply, name="VOX 1"))
    assert stranger.datagrams == []


async def test_configuration_replies_like_the_real_em300(
    make_g4: G4Factory, client: ClientFactory
) -> None:
    rx = await make_g4("EM300G3", names=["VOX 4"])
    c = await client(rx)
    for data in mcp.config_commands():
        c.send(data)
    await c.wait_count(6)
    assert b"Name VOX 4   \r" in c.datagrams
    assert b"Frequency 639100 21 1\r" in c.datagrams
    assert b"FirmwareRevision 1.8.0\r" in c.datagrams
    assert all(d.endswith(b"\r") for d in c.datagrams)
    readings = McpInterpreter().interpret_all(c.messages())
    state: dict[int, dict[str, Any]] = {}
    for r in readings:
        state.setdefault(r.channel, {}).update(r.fields)
    assert state[1] == {"name": "VOX 4", "frequency_mhz": 639.1}
    assert state[0] == {"firmware": "1.8.0"}


async def test_push_sends_config_then_blocks_with_a_cr_after_every_attribute(
    make_g4: G4Factory, client: ClientFactory
) -> None:
    rx = await make_g4()
    c = await client(rx)
    c.send(mcp.push_command(3, 100, 1))
    await until(lambda: len(blocks(c)) >= 3, what="three cyclic blocks")
    assert c.datagrams[0] == b"Push 3 100 1\r"
    assert c.datagrams[1].startswith(b"Name VOX 1   \rFrequency ")
    block = blocks(c)[0]
    attributes = block.split(b"\r")
    assert (
        attributes[-1] == b"" and tuple(a.split(b" ")[0].decode() for a in attributes[:-1]) == BLOCK
    )
    messages = mcp.parse_datagram(block)
    # -55 dBm = 52 dBuV = 130 %: above 100 %, as the protocol allows.
    assert messages[0] == RfAntenna(1, 130, 130, True)
    assert BatteryStep(100) in messages and Messages(frozenset()) in messages
    state: dict[str, Any] = {}
    for r in McpInterpreter().interpret_all(messages):
        state.update(r.fields)
    assert state["rf_signal"] == -55.0 and state["antenna"] == "A"
    assert state["rf_antennas"] == pytest.approx([-55.0, -58.0], abs=0.4)  # 0.4 dB per %
    assert state["tx_on"] is True and state["battery_level"] == 100


async def test_push_stops_at_its_timeout_unless_renewed(
    make_g4: G4Factory, client: ClientFactory
) -> None:
    rx = await make_g4()
    renewed, lapsing = await client(rx), await client(rx)
    renewed.send(mcp.push_command(1, 100, 0))
    lapsing.send(mcp.push_command(1, 100, 0))
    await until(lambda: len(rx.pushes) == 2, what="two pushes")
    loop_time = asyncio.get_running_loop().time
    deadline = rx.pushes[renewed.local].expires
    await until(lambda: loop_time() > deadline - 0.4, what="renewal time")
    renewed.send(mcp.push_command(1, 100, 0))
    await until(lambda: lapsing.local not in rx.pushes, 3.0, "the lapsing push to end")
    assert renewed.local in rx.pushes
    seen = len(lapsing.datagrams)
    lapsing.send(mcp.command("Name"))
    await lapsing.wait_for(is_type(NameReply), start=seen)
    assert blocks(lapsing, seen) == []  # nothing cyclic after the timeout
    await until(lambda: len(blocks(renewed)) > 12, 3.0, "blocks past the first timeout")


async def test_transmitter_off_on_and_battery_reach_a_pushed_client(
    make_g4: G4Factory, client: ClientFactory
) -> None:
    rx = await make_g4()
    c = await client(rx)
    # No cycle: blocks come only on warning (2) or pilot/battery (4) changes.
    c.send(mcp.push_command(60, 0, mcp.PUSH_WARNINGS | mcp.PUSH_PILOT_BATTERY))
    await c.wait_for(lambda m: isinstance(m, mcp.Attribute) and m.keyword == "Push")
    rx.tx_off(1)
    await c.wait_for(is_type(BatteryStep, percent=None))
    assert Messages(frozenset({"RF_Mute"})) in c.messages()
    assert AfStatus(0, 0, 5) in c.messages()  # any + RF mute, as the real EM 300 said
    rx.tx_on(1)
    rx.battery_drain(1, percent=30)
    await c.wait_for(is_type(BatteryStep, percent=30))
    interpreter = McpInterpreter()
    tx_on = [
        r.fields["tx_on"] for r in interpreter.interpret_all(c.messages()) if "tx_on" in r.fields
    ]
    assert tx_on[0] is False and tx_on[-1] is True


async def test_configuration_changes_count_and_are_pushed(
    make_g4: G4Factory, client: ClientFactory
) -> None:
    rx = await make_g4()
    c = await client(rx)
    c.send(mcp.push_command(60, 100, mcp.PUSH_CONFIG))
    await c.wait_for(is_type(ConfigCounter, value=0))
    interpreter = McpInterpreter()
    interpreter.interpret_all(c.messages())
    rx.front_panel_rename(1, "LEAD")
    await c.wait_for(is_type(NameReply, name="LEAD"))
    await c.wait_for(is_type(ConfigCounter, value=1))
    interpreter.interpret_all(c.messages())
    assert interpreter.take_config_change()
    other = await client(rx)
    other.send(mcp.command("Mute", 1))
    await other.wait_for(lambda m: isinstance(m, mcp.Attribute) and m.raw == "Mute 1")
    await c.wait_for(is_type(ConfigCounter, value=2))
    assert rx.channel.mute


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"Wibble\r", 1000),
        (b"Push 1 2\r", 1040),
        (b"Push 1 150 0\r", 1020),
        (b"Mute 5\r", 1020),
        (b"Mute x\r", 1010),
        (b"Squelch +1\r", 1030),
        (b"FirmwareRevision 2\r", 1040),
        (b"Name\n", 1050),
        (b"Name", 1050),
    ],
)
async def test_errors(make_g4: G4Factory, client: ClientFactory, data: bytes, code: int) -> None:
    rx = await make_g4()
    c = await client(rx)
    c.send(data)
    (error,) = await c.wait_for(is_type(McpError))
    assert error.code == code and error.command == data.decode().strip()
    assert rx.errors_sent == 1


async def test_hang_garbage_and_power(make_g4: G4Factory, client: ClientFactory) -> None:
    rx = await make_g4()
    c = await client(rx)
    rx.hang(True)
    c.send(mcp.command("Name"))
    await until(lambda: rx.ignored == 1, what="the request to arrive")
    rx.hang(False)
    c.send(mcp.command("Squelch"))
    await c.wait_count(1)
    assert c.datagrams == [b"Squelch 17\r"]
    rx.send_garbage(b"\x00\xffnot MCP")
    await c.wait_count(2)
    assert mcp.parse_datagram(c.datagrams[1])  # odd, but no exception
    await rx.power_loss()
    await rx.power_restore()
    assert rx.port == mcp.MCP_PORT
    c.send(mcp.command("Name"))
    await c.wait_for(is_type(NameReply))


def test_models_with_more_channels_are_refused() -> None:
    with pytest.raises(ValueError, match="SimEwdx"):
        SimG4("EWDX-EM2", "127.0.0.1")
