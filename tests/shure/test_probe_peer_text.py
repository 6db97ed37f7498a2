"""A probe never echoes what a box sent: whatever answers on loopback (a real TCP server here),
the reason for rejecting it is ours, and what a real receiver says about itself is kept
printable and short."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from micboardd.errors import ProtocolError
from micboardd.shure.codec import PEER_TEXT_MAX
from micboardd.shure.probe import probe

BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(answer: bytes) -> AsyncIterator[int]:
    """A box on 127.0.0.1 that sends `answer` when spoken to, then holds the line."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer)
        await writer.drain()
        await reader.read()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        await srv.wait_closed()


@pytest.mark.parametrize(
    "answer",
    [
        BANNER,
        b"< REP MODEL SSH-2.0-OpenSSH_9.2p1 >\r\n",  # Shure-shaped, but no receiver's model
        b"< REP DEVICE_ID {SSH-2.0-OpenSSH} >\r\n< REP FW_VER {OpenSSH} >\r\n",
    ],
)
async def test_a_rejection_never_quotes_what_the_box_said(answer: bytes) -> None:
    async with server(answer) as port:
        with pytest.raises(ProtocolError) as info:
            await probe("127.0.0.1", port)
    reason = str(info.value)
    assert "SSH" not in reason and "OpenSSH" not in reason, reason


async def test_what_a_receiver_says_about_itself_is_kept_short() -> None:
    long_name = "N" * 300
    answer = (
        f"< REP MODEL AD4Q{'X' * 300} >\r\n< REP DEVICE_ID {{{long_name}}} >\r\n"
        "< REP 1 CHAN_NAME {A} >\r\n"
    ).encode()
    async with server(answer) as port:
        result = await probe("127.0.0.1", port)
    assert result.model.startswith("AD4QXXX") and len(result.model) == PEER_TEXT_MAX
    assert result.name is not None and len(result.name) == PEER_TEXT_MAX
