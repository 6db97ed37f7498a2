"""The limits a venue LAN needs on every HTTP connection (docs/security.md, "Limits").

httptools parses headers of any size and uvicorn waits forever for a request that never
comes, so a guest could hold memory (200 MiB of headers) or every file descriptor (sockets
that send nothing) until receivers cannot reconnect. The guarded protocol (http_guarded.py)
adds, per connection:

* a cap on the bytes of a request's head (request line and headers): `431` and close;
* a deadline for a whole request (head and body) from its first byte, and for the first
  byte of a new connection: a silent or trickling client is closed (`408` if it sent
  anything). Between requests uvicorn's own keep-alive timeout applies;
* a global and a per-address cap on open connections (WebSockets included: an upgraded
  connection keeps its slot until it closes); over either the client gets `503` at once.
  Trusted proxies are exempt from the per-address cap (every client comes through them).

The caps are shared by every connection of one server (`ConnectionLimits`).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any

from micboardd.model import Counters

log = logging.getLogger(__name__)

# Request line and headers of one request. A dashboard request with its cookie is under
# 2 KiB; browsers themselves stop near 256 KiB of cookies, and nothing of ours needs that.
MAX_HEAD_BYTES = 32 * 1024
# A request's head and body must arrive within this from its first byte, and a new
# connection must start its request within it: a phone on poor Wi-Fi sends a 128 KiB body in
# well under that, a slow-loris client is closed.
REQUEST_TIMEOUT_S = 10.0
# Idle time between requests on a kept-alive connection (uvicorn's timeout_keep_alive).
KEEP_ALIVE_S = 5
# How long a client refused mid-request (431, 408) gets to read the answer before the close.
REFUSAL_LINGER_S = 1.0
# Retry-After of a connection refused over a cap.
RETRY_LATER = "retry-after: 5\r\n"
# A refused client is logged at most this often (a flood must not flood the journal).
REFUSAL_LOG_EVERY_S = 60.0


def peer_key(host: str) -> str:
    """The address a limit counts by: IPv4-mapped IPv6 as plain IPv4."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _in_networks(host: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in net for net in networks)


@dataclass(slots=True)
class ConnectionLimits:
    """Open connections, in total and per peer address, for every protocol of one server."""

    max_total: int
    max_per_address: int
    exempt: tuple[Network, ...] = ()
    counters: Counters = field(default_factory=Counters)
    by_address: dict[str, set[Any]] = field(default_factory=dict)
    owner: dict[Any, str] = field(default_factory=dict)  # transport -> address
    _logged_at: float = float("-inf")

    @classmethod
    def from_settings(
        cls, total: int, per_address: int, trusted: tuple[str, ...], counters: Counters
    ) -> ConnectionLimits:
        networks = tuple(ipaddress.ip_network(n, strict=False) for n in trusted)
        return cls(total, per_address, networks, counters)

    @property
    def total(self) -> int:
        return len(self.owner)

    def admit(self, address: str, transport: Any) -> str | None:
        """Take a slot for this connection; why not (None: admitted)."""
        key = peer_key(address)
        if self.total >= self.max_total:
            self._forget_closed()
        if self.total >= self.max_total:
            return f"the server's limit of {self.max_total} connections is reached"
        held = self.by_address.get(key)
        exempt = _in_networks(key, self.exempt)
        if held is not None and len(held) >= self.max_per_address and not exempt:
            for gone in [t for t in held if t.is_closing()]:
                self.release(gone)
            held = self.by_address.get(key)
            if held is not None and len(held) >= self.max_per_address:
                return f"the limit of {self.max_per_address} connections from {key} is reached"
        self.by_address.setdefault(key, set()).add(transport)
        self.owner[transport] = key
        return None

    def release(self, transport: Any) -> None:
        key = self.owner.pop(transport, None)
        if key is None:
            return
        held = self.by_address.get(key)
        if held is not None:
            held.discard(transport)
            if not held:
                del self.by_address[key]

    def _forget_closed(self) -> None:
        """Slots of transports that closed without telling us (a protocol we do not own)."""
        for transport in [t for t in self.owner if t.is_closing()]:
            self.release(transport)

    def log_refusal(self, address: str, why: str, now: float) -> None:
        if now - self._logged_at >= REFUSAL_LOG_EVERY_S:
            self._logged_at = now
            log.warning(
                "refusing connections from %s: %s (logged once a minute)",
                address,
                why,
                extra={"REMOTE_ADDR": address},
            )


def plain_response(status: int, reason: str, text: str, extra: str = "") -> bytes:
    body = text.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n"
        f"{extra}"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body
