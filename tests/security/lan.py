"""A venue LAN on loopback: clients from distinct addresses (all of 127.0.0.0/8 is loopback on
Linux, so a client socket bound to 127.0.0.66 is "another machine" to the daemon), raw sockets
that misbehave, and the daemon's memory as the kernel counts it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from ..helpers import DaemonProcess

GUEST = "127.0.0.66"  # the guest flooding the box
CREW = "127.0.0.1"  # the crew's laptop (and what every other test uses)


def client_from(d: DaemonProcess, address: str, **kw: Any) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=d.url, transport=transport, timeout=15, **kw)


@asynccontextmanager
async def ws_from(
    d: DaemonProcess, path: str, address: str, **kw: Any
) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(
        d.ws_url + path, local_addr=(address, 0), open_timeout=10, **kw
    ) as ws:
        yield ws


async def open_raw(
    d: DaemonProcess, address: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", d.port, local_addr=(address, 0))


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> bytes | None:
    """Everything the server sent until it closed, or None if it did not close in time."""
    data = b""
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                data += chunk
    except TimeoutError:
        return None
    except ConnectionError:  # reset, or our own write found it closed: closed all the same
        pass
    return data


def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for w in writers:
        with contextlib.suppress(Exception):
            w.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def cookie_of(c: httpx.AsyncClient) -> str:
    return "; ".join(f"{k}={v}" for k, v in c.cookies.items())


def counters(d: DaemonProcess) -> dict[str, float]:
    """`micboardd_events_total{event=...}` from /metrics (0 for an event never counted)."""
    found: dict[str, float] = {}
    for line in d.get("/metrics").text.splitlines():
        if line.startswith('micboardd_events_total{event="'):
            name = line.split('"')[1]
            found[name] = float(line.rsplit(" ", 1)[1])
    return found
