"""Who holds a WebSocket: admission (limits per address, slots kept for the crew), a message
rate per connection, and closing the sockets of sessions that ended.

- A client is refused (close 1013) when the server holds `max_clients`, or, unless it has an
  admin session, when `max_clients - reserved` are taken or its address already holds
  `max_clients_per_address`. The reserved slots let the crew in while guests hold the rest.
- Each connection may send WS_MESSAGE_RATE_HZ messages a second on average (bursts of
  WS_MESSAGE_BURST); beyond that messages are dropped with one `error` frame, and after
  WS_FLOOD_DROPS dropped messages the socket is closed (1008).
- A socket opened with a session that has since ended (logout, new password or PIN,
  expiry), or without one when a viewer PIN has since been set, is closed with 4003:
  `sweep` runs after a logout or a PIN change and every SESSION_CHECK_S (a password set with
  `micboardd passwd` lands in the database behind our back).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from micboardd.auth.passwords import Auth, Session

log = logging.getLogger(__name__)

# Slots of max_clients that only admin sessions may take (at most a tenth of max_clients).
ADMIN_RESERVED_CLIENTS = 10
# Client messages are commands a person triggers (subscribe, resync) and a ping every few
# seconds; twenty a second is far beyond any dashboard, a busy loop is not.
WS_MESSAGE_RATE_HZ = 20.0
WS_MESSAGE_BURST = 40.0
# Dropped messages before the socket is closed: a page with a bug gets its error frame and
# a chance to stop; a flood ends.
WS_FLOOD_DROPS = 100
# How often open sockets are checked against the credentials in the database.
SESSION_CHECK_S = 2.0
# Refused clients are logged at most this often (a flood must not flood the journal).
REFUSAL_LOG_EVERY_S = 60.0

CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013
CLOSE_SESSION_ENDED = 4003
SESSION_ENDED_REASON = "session ended: log in again"


class Client(Protocol):
    """What the registry needs of an open socket (web/ws.py Connection)."""

    session: Session | None

    def end(self, code: int, reason: str) -> None: ...


@dataclass(slots=True)
class MessageRate:
    """A token bucket per connection: `allow()` for each client message."""

    rate_hz: float = WS_MESSAGE_RATE_HZ
    burst: float = WS_MESSAGE_BURST
    clock: Callable[[], float] = time.monotonic
    tokens: float = WS_MESSAGE_BURST
    counted: float = field(default_factory=time.monotonic)
    dropped: int = 0  # messages refused over the whole connection
    warned: bool = False  # an error frame was sent for the current run of drops

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.counted) * self.rate_hz)
        self.counted = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.warned = False
            return True
        self.dropped += 1
        return False


@dataclass(slots=True)
class WsClients:
    """Every open WebSocket of the server, with the address it came from."""

    clients: dict[Client, str] = field(default_factory=dict)
    per_address: Counter[str] = field(default_factory=Counter)
    clock: Callable[[], float] = time.monotonic
    _logged_at: float = float("-inf")

    def __len__(self) -> int:
        return len(self.clients)

    def refusal(
        self, address: str, session: Session | None, max_clients: int, max_per_address: int
    ) -> tuple[str, str] | None:
        """Why this client may not have a socket now, as (close reason, log text); None: it
        may."""
        total = len(self.clients)
        if total >= max_clients:
            return "too many clients", f"limit of {max_clients} reached"
        if session is not None and session.is_admin and session.valid():
            return None
        reserved = min(ADMIN_RESERVED_CLIENTS, max_clients // 10)
        if total >= max_clients - reserved:
            return "too many clients", f"limit of {max_clients} reached, {reserved} kept for admins"
        if self.per_address[address] >= max_per_address:
            return (
                "too many clients from this address",
                f"limit of {max_per_address} per address reached",
            )
        return None

    def log_refusal(self) -> bool:
        """Whether to log this refusal (once a minute at most)."""
        now = self.clock()
        if now - self._logged_at < REFUSAL_LOG_EVERY_S:
            return False
        self._logged_at = now
        return True

    def add(self, client: Client, address: str) -> None:
        self.clients[client] = address
        self.per_address[address] += 1

    def remove(self, client: Client) -> None:
        address = self.clients.pop(client, None)
        if address is None:
            return
        self.per_address[address] -= 1
        if self.per_address[address] <= 0:
            del self.per_address[address]

    def sweep(self, auth: Auth) -> int:
        """Close (4003) every socket whose session no longer stands; how many."""
        ended = [c for c in self.clients if not auth.still_valid(c.session)]
        for client in ended:
            self.remove(client)  # ending: no longer counted, never swept twice
            client.end(CLOSE_SESSION_ENDED, SESSION_ENDED_REASON)
        if ended:
            log.info("closing %d WebSocket(s) whose session ended", len(ended))
        return len(ended)
