"""Which names this box answers to (the `Host` header), and whose page an `Origin` is.

DNS rebinding: a page on `http://evil.example` makes its name resolve to this box, and the
browser then treats the box as part of evil.example (cookies aside, it may read every answer
and open WebSockets). The page cannot choose the `Host` header, though: it stays
`evil.example`. So only requests naming the box the way people reach it are served:

- an IP address of one of the box's own interfaces (loopback included),
- `localhost`, the machine's host name (bare and `.local`),
- `micboard.local` and `micboard-N.local` (the names mDNS advertises, discovery/mdns.py),
- the names in the `allowed_hosts` setting (a DNS name the venue gave the box, a proxy's name).

A request without a Host header (HTTP/1.0 scripts) comes from no browser and is served.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# The mDNS names discovery advertises: micboard.local, micboard-2.local, ...
MDNS_NAME = re.compile(r"micboard(-\d{1,3})?\.local")
# An address the box does not have may have been added since (DHCP, a cable plugged in):
# the interfaces are listed again on such a miss, at most this often.
ADDRESS_REFRESH_S = 10.0
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_host(value: str) -> tuple[str, int | None]:
    """`Host` header -> (lower-case name or address without brackets, port or None)."""
    text = value.strip().lower()
    port: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return text, None
        name, rest = text[1:end], text[end + 1 :]
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
        return name, port
    if text.count(":") == 1:
        name, _, port_text = text.partition(":")
        if port_text.isdigit():
            port = int(port_text)
        return name.rstrip("."), port
    return text.rstrip("."), port


def local_addresses() -> frozenset[str]:
    """Every IP address of this machine's interfaces (and loopback), as text."""
    found = {"127.0.0.1", "::1"}
    try:
        import ifaddr

        for adapter in ifaddr.get_adapters():
            for ip in adapter.ips:
                if isinstance(ip.ip, str):
                    found.add(ip.ip)
                else:  # IPv6: (address, flowinfo, scope_id)
                    found.add(ip.ip[0].split("%")[0])
    except OSError as exc:  # no netlink (a very locked-down sandbox): loopback only
        log.warning("cannot list network interfaces for the Host check: %s", exc)
    return frozenset(str(ipaddress.ip_address(a)) for a in found)


def machine_names() -> frozenset[str]:
    name = socket.gethostname().lower().rstrip(".")
    return frozenset({"localhost", name, f"{name}.local"} if name else {"localhost"})


class HostAllowList:
    """`allowed(host_header)`: whether this box answers to that name."""

    def __init__(
        self,
        configured: Iterable[str] = (),
        *,
        addresses: Callable[[], frozenset[str]] = local_addresses,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._names = machine_names() | {n.lower().rstrip(".") for n in configured}
        self._list_addresses = addresses
        self._clock = clock
        self._addresses = addresses()
        self._listed_at = clock()

    def allowed(self, host_header: str | None) -> bool:
        if host_header is None:
            return True
        name, _ = split_host(host_header)
        if not name:
            return False
        if name in self._names or MDNS_NAME.fullmatch(name):
            return True
        try:
            address = str(ipaddress.ip_address(name))
        except ValueError:
            return False  # a name nobody configured: the DNS rebinding case
        if address in self._addresses:
            return True
        if self._clock() - self._listed_at >= ADDRESS_REFRESH_S:
            self._addresses = self._list_addresses()
            self._listed_at = self._clock()
        return address in self._addresses


def normalized_origin(scheme: str, authority: str) -> str:
    """`scheme://host[:port]` in lower case, without the scheme's default port."""
    scheme = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme.lower())
    name, port = split_host(authority)
    if ":" in name:
        name = f"[{name}]"
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{name}"
    return f"{scheme}://{name}:{port}"


def origin_of(url: str) -> str | None:
    """The normalized origin of an Origin or Referer value (None: not a usable URL)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return normalized_origin(parts.scheme, parts.netloc)


def own_origin(scheme: str, host_header: str) -> str:
    """The origin of a page served to this request (its scheme and Host)."""
    return normalized_origin(scheme, host_header)
