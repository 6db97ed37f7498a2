"""The flood figures of docs/security.md, measured against `micboardd run` on loopback.

    .venv/bin/python -m tests.security.flood_figures

Not a test (tests assert counts, never timings): it prints how many guesses a login flood
gets hashed and how long the crew's login takes meanwhile, the daemon's memory under 200 MiB
of request headers, how long a silent or half-sent connection lives, and the WebSocket
per-address cap at work. The flood runs in a process of its own, so the crew's login is not
slowed by the test's own client.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

from ..helpers import DaemonProcess, daemon_env
from .admin import ADMIN_PASSWORD, set_secret
from .lan import CREW, GUEST, client_from, closed_by_server, counters, open_raw, rss_mib

LOGIN_FLOOD = 400
HEADER_FLOOD_BYTES = 200 * 1024 * 1024
HEADER_FLOOD_CONNECTIONS = 16
CHUNK = b"X-Pad: " + b"a" * 65536 + b"\r\n"


def _login_flood(port: int, n: int) -> None:
    """In a child process: n concurrent wrong guesses from the guest's address."""

    async def one(i: int) -> None:
        body = json.dumps({"password": f"guess number {i}"}).encode()
        head = (
            f"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(GUEST, 0))
            writer.write(head + body)
            await reader.read()
            writer.close()
        except OSError:
            pass

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(n)))

    asyncio.run(main())


async def login_figures(d: DaemonProcess) -> None:
    flood = multiprocessing.get_context("spawn").Process(
        target=_login_flood, args=(d.port, LOGIN_FLOOD)
    )
    flood.start()
    deadline = time.monotonic() + 20
    while counters(d).get("login_refused_in_flight", 0) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    async with client_from(d, CREW) as crew:
        t0 = time.monotonic()
        r = await crew.post("/api/login", json={"password": ADMIN_PASSWORD})
        crew_ms = (time.monotonic() - t0) * 1000
    flood.join(60)
    c = counters(d)
    print(
        f"login flood of {LOGIN_FLOOD} guesses from one address: "
        f"{c.get('login_checked', 0) - 1:.0f} hashed, "
        f"{c.get('login_refused_in_flight', 0):.0f} refused while one was checked, "
        f"{c.get('http_connections_refused', 0):.0f} connections refused over the cap; "
        f"crew login meanwhile from another address: {r.status_code} in {crew_ms:.0f} ms"
    )


async def header_flood_figures(d: DaemonProcess) -> None:
    assert d.proc is not None
    before = rss_mib(d.proc.pid)
    peak = before
    sent = 0
    closed = 0

    async def one() -> None:
        nonlocal sent, closed
        while sent < HEADER_FLOOD_BYTES:
            reader, writer = await open_raw(d, GUEST)
            answer = asyncio.ensure_future(reader.read())  # done when the server closes
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            try:
                while sent < HEADER_FLOOD_BYTES and not answer.done():
                    writer.write(CHUNK)
                    await writer.drain()
                    sent += len(CHUNK)
            except OSError:
                pass
            closed += answer.done()
            writer.close()
            try:
                await answer
            except OSError:
                pass

    async def sample() -> None:
        nonlocal peak
        while sent < HEADER_FLOOD_BYTES:
            assert d.proc is not None
            peak = max(peak, rss_mib(d.proc.pid))
            await asyncio.sleep(0.05)

    t0 = time.monotonic()
    await asyncio.gather(sample(), *(one() for _ in range(HEADER_FLOOD_CONNECTIONS)))
    print(
        f"header flood: {sent / 2**20:.0f} MiB offered over {closed} connections in "
        f"{time.monotonic() - t0:.1f} s; RSS {before:.0f} MiB before, {peak:.0f} MiB at most"
    )


async def silent_socket_figures(d: DaemonProcess) -> None:
    async def lifetime(first: bytes) -> tuple[float, bytes | None]:
        reader, writer = await open_raw(d, GUEST)
        t0 = time.monotonic()
        if first:
            writer.write(first)
        answer = await closed_by_server(reader, 60)
        writer.close()
        return time.monotonic() - t0, answer

    silent, half = await asyncio.gather(
        lifetime(b""), lifetime(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
    )
    print(
        f"silent connection closed after {silent[0]:.1f} s; half-sent request after "
        f"{half[0]:.1f} s with {(half[1] or b'')[:12]!r}"
    )


async def ws_figures(d: DaemonProcess, per_address: int) -> None:
    admitted = refused = 0
    sockets = []
    for _ in range(per_address + 5):
        ws = await websockets.connect(d.ws_url + "/ws/health/", local_addr=(GUEST, 0))
        sockets.append(ws)
        try:
            frame = json.loads(await ws.recv())
            admitted += frame["type"] == "initial_data"
        except websockets.ConnectionClosed as exc:
            refused += exc.rcvd is not None and exc.rcvd.code == 1013
    async with client_from(d, GUEST) as admin:
        r = await admin.post("/api/login", json={"password": ADMIN_PASSWORD})
        cookie = "; ".join(f"{k}={v}" for k, v in admin.cookies.items())
        assert r.status_code == 200
    ws = await websockets.connect(
        d.ws_url + "/ws/health/", local_addr=(GUEST, 0), additional_headers={"Cookie": cookie}
    )
    admin_in = json.loads(await ws.recv())["type"] == "initial_data"
    sockets.append(ws)
    other = await websockets.connect(d.ws_url + "/ws/health/", local_addr=("127.0.0.77", 0))
    other_in = json.loads(await other.recv())["type"] == "initial_data"
    sockets.append(other)
    for s in sockets:
        await s.close()
    print(
        f"WebSockets from one address (cap {per_address}): {admitted} admitted, {refused} "
        f"refused with 1013; an admin session from it admitted: {admin_in}; another "
        f"address admitted: {other_in}"
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        config = Path(tmp) / "empty.toml"
        config.write_text("")
        args = ["run", "--host", "127.0.0.1", "--port", "0", "--state-dir", str(state)]
        args += ["--no-discovery", "--config", str(config), "--max-clients-per-address", "10"]
        d = DaemonProcess(args=args, state_dir=state, env=daemon_env()).start()
        try:
            await set_secret(state)
            async with httpx.AsyncClient(base_url=d.url) as c:
                await c.get("/api/health")
            which = sys.argv[1:] or ["login", "silent", "headers", "ws"]
            if "login" in which:
                await login_figures(d)
            if "silent" in which:
                await silent_socket_figures(d)
            if "headers" in which:
                await header_flood_figures(d)
            if "ws" in which:
                await ws_figures(d, 10)
        finally:
            d.stop()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
