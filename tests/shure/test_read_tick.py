"""Receivers read on the loop's read tick (micboardd.pacing), over real loopback sockets:
writes wait for the tick and reach their sinks together and in order, a prompt link is read
as each write arrives, an end of the link is passed on after what came before it, and a
flood is read a bounded amount per tick."""

from __future__ import annotations

import asyncio
import time

import pytest

from micboardd.errors import ConnectionFailed
from micboardd.pacing import READ_TICK_S, read_tick
from micboardd.shure.link import MAX_READS_PER_TICK, READ_CHUNK, TcpLink, open_tcp

from ..helpers import async_wait_for
from .conftest import Server

pytestmark = pytest.mark.both_loops


async def pair(server: Server) -> tuple[TcpLink, asyncio.StreamWriter]:
    port, accepted = server
    link = await open_tcp("127.0.0.1", port)
    return link, await accepted.get()


async def test_writes_of_two_receivers_reach_their_sinks_together_on_the_tick(
    server: Server,
) -> None:
    (a, peer_a), (b, peer_b) = await pair(server), await pair(server)
    seen: list[tuple[str, bytes, int]] = []
    tick = read_tick()
    a.deliver_to(lambda data: seen.append(("a", data, tick.ticks)))
    b.deliver_to(lambda data: seen.append(("b", data, tick.ticks)))
    try:
        peer_a.write(b"< REP 1 CHAN_NAME {A} >")
        peer_b.write(b"< REP 1 CHAN_NAME {B} >")
        sent_at = time.monotonic()
        await async_wait_for(lambda: len(seen) == 2, what="both writes")
        handed_at = time.monotonic()
    finally:
        for link in (a, b):
            await link.close()
    assert sorted(who for who, _, _ in seen) == ["a", "b"]
    assert {who: data for who, data, _ in seen} == {
        "a": b"< REP 1 CHAN_NAME {A} >",
        "b": b"< REP 1 CHAN_NAME {B} >",
    }
    # Read on a tick, not as they came: both in the same one (sent together, well inside
    # one period), which ran no sooner than the tick's period after the links joined.
    assert seen[0][2] == seen[1][2] >= 1
    assert handed_at - sent_at <= 10 * READ_TICK_S  # generous: a loaded machine


async def test_a_tick_hands_on_a_link_s_writes_in_the_order_they_were_sent(
    server: Server,
) -> None:
    link, peer = await pair(server)
    got: list[bytes] = []
    link.deliver_to(got.append)
    frames = [f"< REP {n % 4 + 1} BATT_BARS 00{n % 6} >".encode() for n in range(50)]
    for frame in frames:
        peer.write(frame)
        await peer.drain()
    await async_wait_for(lambda: b"".join(got) == b"".join(frames), what="every write")
    await link.close()


async def test_a_prompt_link_is_read_as_each_write_arrives_and_on_the_tick_again_after(
    server: Server,
) -> None:
    tick = read_tick()
    tick._period = 3600.0  # no tick runs in this test: only a prompt read can deliver
    link, peer = await pair(server)
    got: list[bytes] = []
    link.deliver_to(got.append)
    link.prompt(True)
    peer.write(b"< REP 1 FW_VER {2.4.6.0} >")
    await async_wait_for(lambda: got == [b"< REP 1 FW_VER {2.4.6.0} >"], what="a prompt read")
    link.prompt(False)
    peer.write(b"< REP 1 CHAN_NAME {X} >")
    await peer.drain()

    def read() -> bool:
        link.read_now()  # what the tick would do, without it (the watchdog's read)
        return len(got) == 2

    await async_wait_for(read, what="a read without the tick")
    assert got[1] == b"< REP 1 CHAN_NAME {X} >"
    assert tick.ticks == 0
    await link.close()


async def test_what_waits_for_the_tick_is_read_before_a_prompt_read(server: Server) -> None:
    link, peer = await pair(server)
    got: list[bytes] = []
    link.deliver_to(got.append)
    peer.write(b"first ")
    await peer.drain()
    await asyncio.sleep(0)  # let it cross loopback; order must hold whichever read takes it
    link.prompt(True)
    peer.write(b"second")
    await async_wait_for(lambda: b"".join(got) == b"first second", what="both, in order")
    await link.close()


async def test_a_peer_close_is_passed_on_after_the_bytes_sent_before_it(server: Server) -> None:
    link, peer = await pair(server)
    got: list[bytes] = []
    link.deliver_to(got.append)
    peer.write(b"< REP 1 BATT_BARS 001 >")
    await peer.drain()
    peer.close()
    with pytest.raises(ConnectionFailed, match="closed by the receiver"):
        await asyncio.wait_for(link.failed(), 5)
    # Read before the close, so handed on before it: a last reading is never dropped.
    assert got == [b"< REP 1 BATT_BARS 001 >"]
    await link.close()


async def test_a_flood_is_read_a_bounded_amount_per_tick_and_all_of_it_in_the_end(
    server: Server,
) -> None:
    link, peer = await pair(server)
    per_tick: dict[int, int] = {}
    tick = read_tick()

    def sink(data: bytes) -> None:
        per_tick[tick.ticks] = per_tick.get(tick.ticks, 0) + len(data)

    link.deliver_to(sink)
    total = 3 * MAX_READS_PER_TICK * READ_CHUNK
    peer.write(b"x" * total)
    await async_wait_for(lambda: sum(per_tick.values()) == total, what="the whole flood")
    assert max(per_tick.values()) <= MAX_READS_PER_TICK * READ_CHUNK
    await link.close()


async def test_a_closed_link_leaves_the_tick_and_its_descriptor_closed(server: Server) -> None:
    link, _peer = await pair(server)
    link.deliver_to(lambda _: None)
    polled = link._polled
    assert polled is not None
    fd = polled.fileno()
    assert fd in read_tick()._readers
    await link.close()
    assert polled.fileno() == -1  # closed
    assert fd not in read_tick()._readers
