"""WebSocket limits (web/ws_clients.py) against the daemon as a real process over loopback:
a cap per address, slots kept for the crew, a message rate per connection, one snapshot for a
flood of requests, and sockets of ended sessions closed with 4003."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from micboardd.config import DEFAULT_MAX_CLIENTS_PER_ADDRESS
from micboardd.web.ws_clients import WS_FLOOD_DROPS, WS_MESSAGE_BURST

from ..conftest import DaemonFactory
from ..helpers import DaemonProcess
from .admin import ADMIN_PASSWORD, CSRF_HEADER, set_secret
from .conftest import VIEWER_PIN_LONG
from .lan import CREW, GUEST, client_from, cookie_of, counters, ws_from

CLOSE_WITHIN_S = 10.0  # liveness: the session check runs every 2 s


async def first_frame(ws: Any) -> str:
    """ "initial_data" when admitted, else the close code the server sent."""
    try:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return str(frame["type"])
    except ConnectionClosed as exc:
        assert exc.rcvd is not None
        return f"{exc.rcvd.code} {exc.rcvd.reason}"


async def closed_with(ws: Any, timeout: float = CLOSE_WITHIN_S) -> int:
    """Read until the server closes; its close code."""
    with pytest.raises(ConnectionClosed) as info:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    assert info.value.rcvd is not None
    return info.value.rcvd.code


def jar(cookie: str) -> dict[str, str]:
    name, _, value = cookie.partition("=")
    return {name: value}


async def admin_cookie(d: DaemonProcess, address: str = CREW) -> tuple[str, str]:
    async with client_from(d, address) as c:
        r = await c.post("/api/login", json={"password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        return cookie_of(c), r.json()["csrf_token"]


async def test_one_address_cannot_take_every_socket(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    await set_secret(d.state_dir)
    cap = DEFAULT_MAX_CLIENTS_PER_ADDRESS
    opened = []
    try:
        for _ in range(cap):
            ws = await websockets.connect(d.ws_url + "/ws/health/", local_addr=(GUEST, 0))
            opened.append(ws)
            assert await first_frame(ws) == "initial_data"
        ws = await websockets.connect(d.ws_url + "/ws/devices/", local_addr=(GUEST, 0))
        opened.append(ws)
        assert await first_frame(ws) == "1013 too many clients from this address"
        # Another address is not affected; the crew's session is not capped per address.
        async with ws_from(d, "/ws/devices/", CREW) as other:
            assert await first_frame(other) == "initial_data"
        cookie, _ = await admin_cookie(d, GUEST)
        async with ws_from(
            d, "/ws/devices/", GUEST, additional_headers={"Cookie": cookie}
        ) as admin:
            assert await first_frame(admin) == "initial_data"
    finally:
        await asyncio.gather(*(ws.close() for ws in opened))
    assert counters(d)["ws_clients_refused"] == 1


async def test_the_last_slots_are_kept_for_the_crew(make_daemon: DaemonFactory) -> None:
    d = make_daemon("--max-clients", "20")  # a tenth kept: 2 slots only admins may take
    await set_secret(d.state_dir)
    cookie, _ = await admin_cookie(d)
    opened = []
    try:
        for i in range(18):
            ws = await websockets.connect(d.ws_url + "/ws/health/", local_addr=(f"127.0.6.{i}", 0))
            opened.append(ws)
            assert await first_frame(ws) == "initial_data"
        ws = await websockets.connect(d.ws_url + "/ws/health/", local_addr=("127.0.6.99", 0))
        opened.append(ws)
        assert (await first_frame(ws)).startswith("1013")
        for _ in range(2):
            ws = await websockets.connect(
                d.ws_url + "/ws/health/", additional_headers={"Cookie": cookie}
            )
            opened.append(ws)
            assert await first_frame(ws) == "initial_data"
        ws = await websockets.connect(
            d.ws_url + "/ws/health/", additional_headers={"Cookie": cookie}
        )
        opened.append(ws)
        assert await first_frame(ws) == "1013 too many clients"  # max_clients holds for all
    finally:
        await asyncio.gather(*(ws.close() for ws in opened))


@pytest.mark.parametrize("message", ['{"type": "ping"}', b"\x00\x01"], ids=["ping", "binary"])
async def test_a_message_flood_gets_one_error_then_a_close(
    make_daemon: DaemonFactory, message: str | bytes
) -> None:
    d = make_daemon()
    async with ws_from(d, "/ws/connections/", GUEST) as ws:
        assert await first_frame(ws) == "initial_data"
        flood = 2 * WS_FLOOD_DROPS + int(WS_MESSAGE_BURST)
        for _ in range(flood):
            await ws.send(message)
        frames: list[dict[str, Any]] = []
        with pytest.raises(ConnectionClosed) as info:
            async with asyncio.timeout(CLOSE_WITHIN_S):
                while True:
                    frames.append(json.loads(await ws.recv()))
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    slow_down = [f for f in frames if f["type"] == "error" and "too many" in f["error"]]
    answered = [f for f in frames if f not in slow_down]  # pongs, or errors for binary
    assert len(slow_down) == 1, slow_down
    assert int(WS_MESSAGE_BURST) <= len(answered) < flood - WS_FLOOD_DROPS
    # A well-behaved client on the same address carries on.
    async with ws_from(d, "/ws/connections/", GUEST) as calm:
        assert await first_frame(calm) == "initial_data"
        await calm.send('{"type": "ping"}')
        assert json.loads(await calm.recv()) == {"type": "pong"}


async def test_a_subscribe_flood_builds_no_snapshot_it_does_not_send(
    make_daemon: DaemonFactory,
) -> None:
    d = make_daemon()
    async with ws_from(d, "/ws/devices/", GUEST) as ws:
        assert await first_frame(ws) == "initial_data"
        sent = 300
        for _ in range(sent):
            await ws.send('{"type": "subscribe"}')
        await asyncio.sleep(0)
        frames: list[dict[str, Any]] = []
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(CLOSE_WITHIN_S):
                while True:
                    frames.append(json.loads(await ws.recv()))
    snapshots = [f for f in frames if f["type"] == "initial_data"]
    built = counters(d)["ws_snapshots"] - 1  # the first one, on connecting
    print(f"\n{sent} subscribe messages: {built:.0f} snapshots built, {len(snapshots)} sent")
    assert built == len(snapshots)  # every snapshot built was sent: none for a dropped frame
    assert 1 <= len(snapshots) <= WS_MESSAGE_BURST


async def test_sockets_of_ended_sessions_are_closed_with_4003(
    make_daemon: DaemonFactory,
) -> None:
    d = make_daemon()
    await set_secret(d.state_dir)
    # Logout ends that session's sockets, and only those.
    cookie, csrf = await admin_cookie(d)
    other, _ = await admin_cookie(d)
    async with (
        websockets.connect(d.ws_url + "/ws/health/", additional_headers={"Cookie": cookie}) as mine,
        websockets.connect(d.ws_url + "/ws/health/", additional_headers={"Cookie": other}) as kept,
    ):
        assert await first_frame(mine) == await first_frame(kept) == "initial_data"
        async with client_from(d, CREW, cookies=jar(cookie)) as c:
            assert (await c.post("/api/logout")).status_code == 200
        assert await closed_with(mine) == 4003
        await kept.send('{"type": "ping"}')
        assert json.loads(await kept.recv()) == {"type": "pong"}

        # A viewer PIN set from the dashboard: sockets opened without one are closed.
        async with websockets.connect(d.ws_url + "/ws/devices/") as anonymous:
            assert await first_frame(anonymous) == "initial_data"
            async with client_from(d, CREW, cookies=jar(other)) as admin:
                admin.headers[CSRF_HEADER] = (await admin.get("/api/session")).json()["csrf_token"]
                r = await admin.put("/api/security/viewer-pin", json={"pin": VIEWER_PIN_LONG})
                assert r.status_code == 200, r.text
            assert await closed_with(anonymous) == 4003

        # A new admin password set on the box (`micboardd passwd`): the crew's sockets end.
        await set_secret(d.state_dir, "a brand new password")
        assert await closed_with(kept) == 4003
    assert csrf
