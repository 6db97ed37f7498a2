"""The httptools protocol of uvicorn with the limits of `http_limits.py` (its docstring says
which and why). Importing this module fails without httptools: `http_protocol_class` then
falls back to uvicorn's h11 protocol."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from micboardd.web.http_limits import (
    MAX_HEAD_BYTES,
    REFUSAL_LINGER_S,
    REQUEST_TIMEOUT_S,
    RETRY_LATER,
    ConnectionLimits,
    plain_response,
)


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for one server: every connection shares these caps."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """One connection; `limits` is set by `guarded_protocol` (one server's shared caps)."""

    limits: ClassVar[ConnectionLimits]
    _deadline: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _reading_head = True
    _started = False  # some byte of the current request has arrived
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else "unknown"
        why = self.limits.admit(address, transport)
        if why is not None:
            # Answered and closed at once: lingering would hold a descriptor per refusal.
            self._refused = True
            self.limits.counters.count("http_connections_refused")
            self.limits.log_refusal(address, why, self.loop.time())
            text = f"{why}: try again later\n"
            transport.write(plain_response(503, "Service Unavailable", text, RETRY_LATER))
            transport.close()
            return
        self._arm(REQUEST_TIMEOUT_S)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.limits.release(self.transport)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered already: the rest is read and dropped until the close
        if self._reading_head and not self._started:
            self._started = True
            self._arm(REQUEST_TIMEOUT_S)  # the keep-alive wait is over: a request began
        in_head = self._reading_head
        super().data_received(data)
        # Counted only when the whole chunk was head (the head began before it and is
        # still not complete): a body that came with its head is not head bytes.
        if in_head and self._reading_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self.limits.counters.count("http_heads_too_large")
                self._refuse(
                    431,
                    "Request Header Fields Too Large",
                    f"request line and headers are limited to {MAX_HEAD_BYTES} bytes\n",
                )

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()  # the request is in: the app takes its time
        self._reading_head, self._head_bytes, self._started = True, 0, False

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        transport = self.transport
        super().handle_websocket_upgrade()
        # The WebSocket protocol gives the slot back when it closes (ws_tuned.py).
        upgraded = transport.get_protocol()
        limits = self.limits  # not self: the upgraded protocol must not keep this one alive
        upgraded.release_slot = lambda: limits.release(transport)  # type: ignore[attr-defined]
        # This protocol is done: nothing will call its connection_lost, where uvicorn
        # drops its parser, and the two refer to each other. Without this every
        # WebSocket left them to the next full garbage collection (issue 21).
        self.parser = None  # type: ignore[assignment]

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._on_deadline)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_deadline(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self.limits.counters.count("http_request_timeouts")
        if self._started:
            self._refuse(
                408,
                "Request Timeout",
                f"the request did not arrive within {REQUEST_TIMEOUT_S:.0f} s\n",
            )
        else:
            self.transport.close()  # never said anything: nothing to answer

    def _refuse(self, status: int, reason: str, text: str) -> None:
        """Answer, then close after a moment: a client still sending would otherwise get
        a reset instead of the answer. Whatever it sends meanwhile is dropped."""
        self._disarm()
        self._refused = True
        self.transport.write(plain_response(status, reason, text))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._deadline = self.loop.call_later(REFUSAL_LINGER_S, self.transport.close)
