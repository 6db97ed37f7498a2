"""The tuned uvicorn WebSocket protocol, served for real on loopback with a bare ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets

from micboardd.web.ws_protocol import protocol_class
from micboardd.web.ws_tuning import direct_sender
from tests.helpers import async_wait_for

pytestmark = pytest.mark.both_loops  # the WebSocket protocol's writes and flow control


class CountingTransport:
    """The real transport, recording each write (socket system call) on its way through."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class App:
    """Accepts, then sends what the test asks through the direct path, recording results."""

    def __init__(self) -> None:
        self.results: list[bool] = []
        self.protocols: list[Any] = []
        self.outbox: asyncio.Queue[list[bytes] | None] = asyncio.Queue()  # None: end

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        send_now = direct_sender(scope)
        assert send_now is not None, "the protocol offers no direct send"
        self.protocols.append(send_now.__self__)  # type: ignore[attr-defined]
        while True:
            payload = await self.outbox.get()
            if payload is None:
                return
            self.results.append(send_now(payload))


@contextlib.asynccontextmanager
async def serve(app: App) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    config = uvicorn.Config(app, ws=protocol_class(), lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await async_wait_for(lambda: server.started, what="uvicorn started")
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        app.outbox.put_nowait(None)
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_direct_send_delivers_text_frames_in_order_with_deflate() -> None:
    app = App()
    async with serve(app) as url, websockets.connect(url, compression="deflate") as ws:
        await async_wait_for(lambda: app.protocols, what="the app accepted")
        protocol = app.protocols[0]
        counting = CountingTransport(protocol.transport)
        protocol.transport = counting  # uvloop's transports cannot be patched: wrap instead
        writes = counting.writes
        app.outbox.put_nowait([b'{"n":0}'])
        app.outbox.put_nowait([b'{"n":1}', b'{"n":2}'])
        assert [await ws.recv() for _ in range(3)] == ['{"n":0}', '{"n":1}', '{"n":2}']
        assert app.results == [True, True]
        assert len(writes) == 2, "two messages handed over together go in one socket write"


async def test_direct_send_declines_a_paused_or_closed_socket() -> None:
    app = App()
    async with serve(app) as url, websockets.connect(url) as ws:
        await async_wait_for(lambda: app.protocols, what="the app accepted")
        protocol = app.protocols[0]
        protocol.writable.clear()  # what uvicorn does when the transport pauses writing
        app.outbox.put_nowait([b'{"held":1}'])
        await async_wait_for(lambda: app.results == [False], what="a declined send")
        protocol.writable.set()
        app.outbox.put_nowait([b'{"sent":1}'])
        assert await ws.recv() == '{"sent":1}'
        await ws.close()
        await async_wait_for(lambda: protocol.disconnected, what="the server saw the close")
        app.outbox.put_nowait([b'{"late":1}'])
        await async_wait_for(lambda: app.results[-1:] == [False], what="a send after close")
