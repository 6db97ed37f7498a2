"""Only answers to the probe's questions identify a receiver: what a receiver announces to
every client on its own (a battery, after a hang) is not an answer, and does not make it a
box we do not know (issue 21's soak: a receiver back from a hang was rejected for a minute).
Real TCP servers on loopback play the receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from micboardd.errors import PeerTimeout, ProtocolError
from micboardd.model import Family
from micboardd.shure.codec import Frame, Framing
from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.probe import PROBE_QUIET_S, classify, probe

# What a ULXD4Q says on its own when a transmitter's battery changes (tests/transcripts).
NEWS = b"< REP 1 BATT_BARS 003 >< REP 1 BATT_RUN_TIME 00120 >"
# Its answers to the probe's questions (a few are enough to identify it).
ANSWERS = (
    b"< REP MODEL {ULXD4Q                          } >< REP DEVICE_ID {ULXQ-1  } >"
    b"< REP FW_VER {2.7.23.0          } >< REP 1 CHAN_NAME {Vox 1   } >"
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def receiver(handle: Handler) -> AsyncIterator[int]:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handle(reader, writer)
            await reader.read()  # hold the line until the probe closes it
        finally:
            writer.close()

    srv = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        await srv.wait_closed()


async def back_from_a_hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The questions came while it was hung and are lost; then it tells every client what
    changed meanwhile."""
    await reader.readuntil(b"DEVICE_NAME >\r\n")
    writer.write(NEWS)
    await writer.drain()


async def news_then_slow_answers(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A battery change goes out as the client connects; the answers come later than the
    probe's quiet time after it (a busy receiver: the delay is the behaviour under test)."""
    writer.write(NEWS)
    await writer.drain()
    await reader.readuntil(b"DEVICE_NAME >\r\n")
    await asyncio.sleep(PROBE_QUIET_S * 2)
    writer.write(ANSWERS)
    await writer.drain()


async def test_a_receiver_back_from_a_hang_answered_nothing_yet() -> None:
    async with receiver(back_from_a_hang) as port:
        with pytest.raises(PeerTimeout):  # retried as a silent receiver, not rejected
            await probe("127.0.0.1", port)


async def test_news_on_the_way_in_does_not_cut_the_wait_for_answers() -> None:
    async with receiver(news_then_slow_answers) as port:
        result = await probe("127.0.0.1", port)
    assert (result.family, result.model, result.channels) == (Family.ULXD, "ULXD4Q", 4)
    assert result.name == "ULXQ-1"


def frames(data: bytes) -> list[Frame]:
    return StreamDecoder(Framing.ANGLE).feed(data)


def test_classify_ignores_what_was_not_asked() -> None:
    assert classify(frames(NEWS + ANSWERS), "tcp", 1).model == "ULXD4Q"
    with pytest.raises(PeerTimeout):
        classify(frames(NEWS), "tcp", len(NEWS))
    # Answers that name no receiver are still a box we do not know.
    with pytest.raises(ProtocolError):
        classify(frames(NEWS + b"< REP DEVICE_ID {X} >"), "tcp", 1)
    with pytest.raises(ProtocolError, match="only errors"):
        classify(frames(NEWS + b"< REP ERR >"), "tcp", 1)
