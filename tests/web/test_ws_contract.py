"""WebSocket hygiene over real sockets: a phone that stops reading, the client limit, deflate."""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import time
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import PerMessageDeflate

from micboardd.sim.venue import Venue
from micboardd.web.ws_protocol import protocol_class
from micboardd.web.ws_tuning import WINDOW_BITS
from tests.conftest import DaemonFactory
from tests.helpers import async_wait_for

# What a healthy client may wait between two meter frames while another client is being
# timed out: meters come every 100 ms, so a whole second means it was held up.
HEALTHY_GAP_S = 1.0


def stalled_client(host: str, port: int, path: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads again."""
    sock = socket.socket()
    # A tiny receive window: the daemon's buffers fill after a few frames.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # byte by byte: leave every frame unread
        byte = sock.recv(1)
        assert byte, "closed during the handshake"
        head += byte
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def devices_clients(d: Any) -> int:
    health = await d.async_get("/api/health")
    return int(health["clients"]["devices"])


async def test_a_client_that_stops_reading_is_closed_and_never_slows_the_others(
    make_daemon: DaemonFactory,
) -> None:
    venue = Venue.many(16, "AD4Q", base_host="127.0.0.1", port=0, seed=3)
    async with venue:
        args = [a for rx in venue.receivers for a in ("--receiver", rx.address)]
        d = make_daemon(*args, "--ws-send-timeout-s", "2", wait=False)
        await d.async_wait_listening()
        await async_wait_for(lambda: d.async_get("/api/devices"), what="the first devices")
        async with websockets.connect(d.ws_url + "/ws/devices/") as good:
            await good.recv()
            await good.send(json.dumps({"type": "subscribe", "format": "compact"}))
            host, port = d.url.removeprefix("http://").split(":")
            stalled = stalled_client(host, int(port), "/ws/devices/")
            try:

                async def both_counted() -> bool:
                    return await devices_clients(d) == 2

                await async_wait_for(both_counted, what="both clients counted")
                arrivals: list[float] = []
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    frame = json.loads(await good.recv())
                    if frame["type"] == "meters":
                        arrivals.append(time.monotonic())
                    if "stopped reading" in d.log and await devices_clients(d) == 1:
                        break
                else:
                    pytest.fail("the stalled client was never closed")
                # The slow phone took its 2 s and more to be noticed; meanwhile the healthy
                # one kept getting meters at their own pace.
                assert arrivals[-1] - arrivals[0] >= 2.0
                gaps = [b - a for a, b in itertools.pairwise(arrivals)]
                assert max(gaps) < HEALTHY_GAP_S, f"healthy client held up {max(gaps):.2f} s"
                # Its frames went the waiting way, counted for the operator.
                assert (await d.async_get("/api/health"))["ws"]["frames_waited"] >= 1
            finally:
                stalled.close()
            # The healthy client still gets live data after the other one is gone.
            while json.loads(await good.recv())["type"] != "meters":
                pass


async def test_client_limit_refuses_with_try_again_then_admits_again(
    make_daemon: DaemonFactory,
) -> None:
    d = make_daemon("--max-clients", "2")
    async with (
        websockets.connect(d.ws_url + "/ws/devices/") as first,
        websockets.connect(d.ws_url + "/ws/health/") as second,
    ):
        await first.recv()
        await second.recv()
        async with websockets.connect(d.ws_url + "/ws/connections/") as third:
            with pytest.raises(ConnectionClosed) as refused:
                await third.recv()
        assert refused.value.rcvd is not None
        assert refused.value.rcvd.code == 1013
        assert refused.value.rcvd.reason == "too many clients"
        # The close frame can arrive before the log line is read from the daemon's stderr.
        await async_wait_for(lambda: "limit of 2 reached" in d.log, what="the refusal logged")
    # Both slots are free again once their clients have gone.

    async def admitted() -> bool:
        async with websockets.connect(d.ws_url + "/ws/devices/") as again:
            try:
                frame: dict[str, Any] = json.loads(await again.recv())
                return bool(frame["type"] == "initial_data")
            except ConnectionClosed:
                return False

    assert await async_wait_for(admitted, what="a client admitted after others left")


def test_the_cheaper_deflate_protocol_is_in_use() -> None:
    cls = protocol_class()
    assert not isinstance(cls, str), "fell back to uvicorn's default protocol"
    assert cls.__name__ == "TunedProtocol"


async def test_browsers_still_get_permessage_deflate(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    async with websockets.connect(d.ws_url + "/ws/devices/", compression="deflate") as ws:
        frame = json.loads(await ws.recv())
        assert frame["type"] == "initial_data"
        (ext,) = ws.protocol.extensions
        assert isinstance(ext, PerMessageDeflate)
        assert ext.remote_max_window_bits == WINDOW_BITS
