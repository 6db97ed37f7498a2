"""UDP endpoints to Sennheiser receivers: one socket per SSC v1 receiver, one shared socket
on port 53212 for every Media Control Protocol receiver.

Both protocols are one message per datagram, so a link hands whole datagrams to a
synchronous sink as they arrive (`deliver_to`), and reports its end through `failed()`.

SSC v1 answers any source port: each receiver gets its own connected socket (an ICMP port
unreachable then ends the link at once). MCP receivers answer only datagrams sent FROM port
53212 (real-captures.md §10), so every MCP link to receivers reached through one local
address shares one socket bound to (that address, 53212), demultiplexed by the sender.
Toward a loopback receiver (a simulator) that socket binds the `.1` of the receiver's /24:
a simulator on loopback listens on 53212 itself, and test runs side by side keep to their
own corners of 127/8.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from collections.abc import Callable

from micboardd.errors import ConnectionFailed

Sink = Callable[[bytes], None]
Addr = tuple[str, int]

MCP_PORT = 53212


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return str(exc)


class DatagramLink:
    """Datagrams to and from one receiver, whichever socket carries them."""

    def __init__(self, peer: str, send: Callable[[bytes], None], on_close: Callable[[], None]):
        self.peer = peer
        self._send = send
        self._on_close = on_close
        self.sink: Sink | None = None
        self._failure: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False

    def deliver_to(self, sink: Sink) -> None:
        self.sink = sink

    def deliver(self, data: bytes) -> None:
        if self.sink is None or self._failure.done():
            return
        try:
            self.sink(data)
        except Exception as exc:  # the session's processing failed: end the link with it
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        if not self._failure.done():
            self._failure.set_exception(exc)
            self._failure.exception()  # nobody may be waiting: not "never retrieved"

    async def failed(self) -> None:
        """Wait for the link to end; raise why."""
        await asyncio.shield(self._failure)

    def check(self) -> None:
        """Raise why the link ended, if it has."""
        if self._failure.done():
            self._failure.result()

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionFailed(f"{self.peer}: link closed")
        try:
            self._send(data)
        except OSError as exc:
            raise ConnectionFailed(f"{self.peer}: send failed: {_reason(exc)}") from exc

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.fail(ConnectionFailed(f"{self.peer}: link closed"))
            self._on_close()


class _OwnSocket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.link: DatagramLink | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.link is not None:
            self.link.deliver(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: nothing listens there (switched off, or not an EW-DX).
        if self.link is not None:
            failure = ConnectionFailed(f"{self.link.peer}: {_reason(exc)}")
            failure.__cause__ = exc
            self.link.fail(failure)


async def open_udp(host: str, port: int) -> DatagramLink:
    """A link on a socket of its own, connected to host:port (SSC v1)."""
    peer = f"{host}:{port}/udp"
    loop = asyncio.get_running_loop()
    try:
        transport, proto = await loop.create_datagram_endpoint(_OwnSocket, remote_addr=(host, port))
    except (OSError, UnicodeError) as exc:
        raise ConnectionFailed(f"{peer}: cannot open: {_reason(exc)}") from exc
    link = DatagramLink(peer, transport.sendto, transport.close)
    proto.link = link
    return link


# --- the shared MCP socket ----------------------------------------------------------------


class _SharedSocket(asyncio.DatagramProtocol):
    """One socket bound to (local address, 53212): every MCP receiver reached through it."""

    def __init__(self, local: str) -> None:
        self.local = local
        self.transport: asyncio.DatagramTransport | None = None
        self.links: dict[Addr, DatagramLink] = {}
        self.unknown = 0  # datagrams from an address no link is for

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        link = self.links.get((str(addr[0]), int(addr[1])))
        if link is None:
            self.unknown += 1
            return
        link.deliver(data)

    def error_received(self, exc: Exception) -> None:
        # An unconnected socket cannot tell which receiver an ICMP error was for; the
        # silence watchdog of each session notices a dead one.
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        for link in list(self.links.values()):
            link.fail(ConnectionFailed(f"{link.peer}: the shared port {MCP_PORT} closed"))


_SHARED: dict[tuple[asyncio.AbstractEventLoop, str], _SharedSocket] = {}


def local_address_toward(host: str, port: int = MCP_PORT) -> str:
    """The local address datagrams to `host` leave from (no packet is sent)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and ip.is_loopback and ip.version == 4:
        own = ipaddress.ip_address((int(ip) & 0xFFFFFF00) | 1)
        if own != ip:
            return str(own)
    family = socket.AF_INET6 if ip is not None and ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, port))
        except OSError as exc:
            raise ConnectionFailed(f"{host}:{port}/udp: no route: {_reason(exc)}") from exc
        return str(probe.getsockname()[0])


async def open_mcp(host: str, port: int = MCP_PORT) -> DatagramLink:
    """A link to an MCP receiver over the shared socket on port 53212 (opened on first use,
    closed with its last link)."""
    peer = f"{host}:{port}/udp"
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as exc:
        raise ConnectionFailed(f"{peer}: cannot resolve: {_reason(exc)}") from exc
    address = str(infos[0][4][0])
    local = local_address_toward(address)
    key = (loop, local)
    shared = _SHARED.get(key)
    if shared is None or shared.transport is None or shared.transport.is_closing():
        shared = _SharedSocket(local)
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: shared, local_addr=(local, MCP_PORT)
            )
        except OSError as exc:
            raise ConnectionFailed(
                f"{peer}: cannot bind UDP port {MCP_PORT} on {local} (ew receivers answer "
                f"only that port; is Wireless Systems Manager running here?): {_reason(exc)}"
            ) from exc
        shared.transport = transport
        _SHARED[key] = shared
    remote = (address, port)
    if remote in shared.links:
        raise ConnectionFailed(f"{peer}: already monitored through port {MCP_PORT}")

    def send(data: bytes) -> None:
        assert shared.transport is not None
        shared.transport.sendto(data, remote)

    def release() -> None:
        shared.links.pop(remote, None)
        if not shared.links and shared.transport is not None:
            shared.transport.close()
            _SHARED.pop(key, None)

    link = DatagramLink(peer, send, release)
    shared.links[remote] = link
    return link
