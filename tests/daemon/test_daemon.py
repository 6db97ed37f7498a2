"""The daemon as a real process: HTTP, the three WebSocket endpoints, signals, sd_notify."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conftest import DaemonFactory
from tests.helpers import async_wait_for

ENDPOINTS = ["/ws/devices/", "/ws/devices", "/ws/connections/", "/ws/health/"]


def test_health_and_dashboard(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    health = d.get("/api/health").json()
    assert health["status"] == "ok"
    assert health["db_ok"] is True
    assert health["version"]
    assert health["uptime_s"] >= 0
    assert health["sources"]["receivers"] == 0
    # The end-to-end tests run the daemon as production does: on uvloop, our handler on it.
    assert health["event_loop"] == {
        "implementation": "uvloop",
        "exceptions": 0,
        "exceptions_by_kind": {},
    }
    page = d.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Micboard</title>" in page.text
    assert d.get("/app.js").status_code == 200
    assert d.get("/api/devices").json() == []
    assert d.get("/api/receivers").json() == []
    assert d.get("/api/devices/nope:1").status_code == 404
    assert d.get("/schema/openapi.json").json()["info"]["title"] == "micboardd"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_websocket_initial_data_ping_and_bad_messages(
    make_daemon: DaemonFactory, path: str
) -> None:
    d = make_daemon()
    async with websockets.connect(d.ws_url + path) as ws:
        first = json.loads(await ws.recv())
        assert first["type"] == "initial_data"
        assert isinstance(first["seq"], int)
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}
        for bad, why in (
            ("not json", "not valid JSON"),
            ("[1, 2]", "JSON object"),
            ('{"no": "type"}', "JSON object"),
            ('{"type": "frobnicate"}', "unknown message type"),
        ):
            await ws.send(bad)
            reply = json.loads(await ws.recv())
            assert reply["type"] == "error"
            assert why in reply["error"]
        await ws.send("x" * (64 * 1024 + 1))
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error" and "too large" in reply["error"]
        await ws.send(b"\x00\x01")
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error" and "binary" in reply["error"]
        # The connection survives all of it.
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}
    health = d.get("/api/health").json()
    assert health["ws"]["client_errors"] >= 6


async def test_huge_frame_closes_only_that_client(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    async with websockets.connect(d.ws_url + "/ws/devices/") as good:
        await good.recv()
        async with websockets.connect(d.ws_url + "/ws/devices/", max_size=None) as bad:
            await bad.recv()
            await bad.send("y" * (2 * 1024 * 1024))
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await bad.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        await good.send('{"type":"ping"}')
        assert json.loads(await good.recv()) == {"type": "pong"}


async def test_health_endpoint_initial_data_shape(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    async with websockets.connect(d.ws_url + "/ws/health/") as ws:
        first = json.loads(await ws.recv())
        sh = first["system_health"]
        for key in ("uptime_s", "clients", "receivers_online", "db_ok", "cpu_percent", "rss_mb"):
            assert key in sh
        assert sh["clients"] == 1
        assert first["api_health"] == []
    async with websockets.connect(d.ws_url + "/ws/connections/") as ws:
        assert json.loads(await ws.recv())["connections"] == []


async def test_resync_returns_fresh_initial_data(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    async with websockets.connect(d.ws_url + "/ws/devices/") as ws:
        first = json.loads(await ws.recv())
        await ws.send('{"type":"resync"}')
        again = json.loads(await ws.recv())
        assert again["type"] == "initial_data"
        assert again["seq"] > first["seq"]


async def test_cross_origin_websocket_refused(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    with pytest.raises((websockets.InvalidStatus, ConnectionClosed)):
        async with websockets.connect(
            d.ws_url + "/ws/devices/", origin=websockets.Origin("http://evil.example")
        ) as ws:
            await ws.recv()
    async with websockets.connect(d.ws_url + "/ws/devices/", origin=websockets.Origin(d.url)) as ws:
        assert json.loads(await ws.recv())["type"] == "initial_data"


def test_sigterm_exits_zero_quickly(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    started = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait_exit(10) == 0
    assert time.monotonic() - started < 5.0, "SIGTERM must finish within 5 s"
    assert "stopped" in d.log


async def test_sigterm_with_open_websocket_exits_zero(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    async with websockets.connect(d.ws_url + "/ws/devices/") as ws:
        await ws.recv()
        started = time.monotonic()
        d.signal(signal.SIGINT)
        await async_wait_for(lambda: d.proc is not None and d.proc.poll() is not None, 10, "exit")
        assert d.proc is not None and d.proc.returncode == 0
        assert time.monotonic() - started < 5.0


def test_sd_notify_ready_watchdog_stopping(make_daemon: DaemonFactory, tmp_path: Path) -> None:
    addr = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(addr)
    sock.settimeout(10)
    try:
        d = make_daemon(env={"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "200000"}, wait=False)
        messages: list[str] = []

        def receive_until(token: str) -> None:
            while not any(token in m for m in messages):
                messages.append(sock.recv(4096).decode())

        receive_until("READY=1")
        d.wait_listening()
        # READY only after the port answers.
        assert d.get("/api/health").status_code == 200
        for _ in range(3):
            messages.append(sock.recv(4096).decode())
        assert sum("WATCHDOG=1" in m for m in messages) >= 3
        d.signal(signal.SIGTERM)
        receive_until("STOPPING=1")
        assert d.wait_exit(10) == 0
    finally:
        sock.close()
