"""Links in delivery mode, over real loopback sockets: chunks reach the sink as they arrive,
and the end of the link (peer close, ICMP error, a failing sink) is reported by failed()."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from micboardd.errors import ConnectionFailed
from micboardd.shure.link import TcpLink, open_tcp, open_udp

from ..helpers import async_wait_for

pytestmark = pytest.mark.both_loops  # the link's reads, timeouts and cancellations


@pytest.fixture
async def tcp_pair(
    server: tuple[int, asyncio.Queue[asyncio.StreamWriter]],
) -> AsyncIterator[tuple[TcpLink, asyncio.StreamWriter]]:
    """A link to the loopback server, and the server's end of it (both closed after)."""
    port, accepted = server
    link = await open_tcp("127.0.0.1", port)
    peer = await accepted.get()
    yield link, peer
    peer.close()
    await link.close()


async def test_tcp_chunks_reach_the_sink_and_a_peer_close_ends_the_link(
    tcp_pair: tuple[TcpLink, asyncio.StreamWriter],
) -> None:
    link, peer = tcp_pair
    got: list[bytes] = []
    link.deliver_to(got.append)
    peer.write(b"< REP 1 CHAN_NAME {A} >")
    await async_wait_for(lambda: b"".join(got) == b"< REP 1 CHAN_NAME {A} >", what="delivery")
    peer.close()
    with pytest.raises(ConnectionFailed, match="closed by the receiver"):
        await asyncio.wait_for(link.failed(), 5)


async def test_a_failing_sink_ends_the_link_with_its_exception(
    tcp_pair: tuple[TcpLink, asyncio.StreamWriter],
) -> None:
    link, peer = tcp_pair
    calls: list[bytes] = []

    def sink(data: bytes) -> None:
        calls.append(data)
        raise ValueError("bug in processing")

    link.deliver_to(sink)
    peer.write(b"one")
    with pytest.raises(ValueError, match="bug in processing"):
        await asyncio.wait_for(link.failed(), 5)
    peer.write(b"two")  # after the failure nothing more is handed over
    await peer.drain()
    await link.close()
    assert calls == [b"one"]


async def test_a_timeout_around_failed_leaves_the_link_usable(
    tcp_pair: tuple[TcpLink, asyncio.StreamWriter],
) -> None:
    # The session waits on failed() inside a renewable timeout: being cancelled must not
    # cancel the link's own state, so a later end is still reported.
    link, peer = tcp_pair
    link.deliver_to(lambda data: None)
    for _ in range(3):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await link.failed()
    peer.close()
    with pytest.raises(ConnectionFailed):
        await asyncio.wait_for(link.failed(), 5)


async def test_udp_datagrams_reach_the_sink_and_an_icmp_error_ends_the_link() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    port = rx.getsockname()[1]
    link = await open_udp("127.0.0.1", port)
    got: list[bytes] = []
    link.deliver_to(got.append)
    await link.send(b"* GET 1 CHAN_NAME *")
    data, addr = rx.recvfrom(100)
    assert data == b"* GET 1 CHAN_NAME *"
    rx.sendto(b"* REPORT 1 CHAN_NAME {A} *", addr)
    await async_wait_for(lambda: got == [b"* REPORT 1 CHAN_NAME {A} *"], what="datagram")
    rx.close()  # now nothing listens: the next send draws ICMP port unreachable
    await link.send(b"* GET 1 CHAN_NAME *")
    with pytest.raises(ConnectionFailed):
        await asyncio.wait_for(link.failed(), 5)
    await link.close()


async def test_a_cancelled_send_is_never_swallowed(
    tcp_pair: tuple[TcpLink, asyncio.StreamWriter],
) -> None:
    # Python 3.11's wait_for returned normally when its inner await finished in the same loop
    # pass as the cancel: a session stopped while sending a command then kept running. Either
    # the send is over before the cancel, or the cancel reaches the task that sent.
    link, _ = tcp_pair
    for passes in range(4):  # cancel after every possible number of loop passes
        task = asyncio.create_task(link.send(b"GET 1 METER_RATE"))
        for _ in range(passes):
            await asyncio.sleep(0)
        if task.cancel():
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            assert task.done() and task.exception() is None
