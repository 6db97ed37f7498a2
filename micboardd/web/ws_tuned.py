"""uvicorn's sans-I/O WebSocket protocol, tuned as `ws_tuning.py` says (its docstring says
how and why). Importing this module fails with a uvicorn that lacks that protocol:
`protocol_class` (ws_protocol.py) then falls back to uvicorn's own ("auto")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from micboardd.web.ws_tuning import DEFLATE_LEVEL, DIRECT_SEND, MEM_LEVEL, WINDOW_BITS


class TunedProtocol(WebSocketsSansIOProtocol):
    """Cheaper deflate, a direct send, and nothing kept once the connection is gone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        conn = getattr(self, "conn", None)
        if self.config.ws_per_message_deflate and hasattr(conn, "available_extensions"):
            conn.available_extensions = [  # type: ignore[union-attr]
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=WINDOW_BITS,
                    client_max_window_bits=WINDOW_BITS,
                    compress_settings={"memLevel": MEM_LEVEL, "level": DEFLATE_LEVEL},
                )
            ]

    # Set by the HTTP protocol on upgrade: gives the connection's slot back
    # (web/http_limits.py counts WebSockets as connections too).
    release_slot: Callable[[], None] | None = None

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][DIRECT_SEND] = {
                "send_texts": self.send_texts_now,
                "send_frame": self.send_frame_now,
                "wait_writable": self.wait_writable,
            }

    def connection_lost(self, exc: Exception | None) -> None:
        if self.release_slot is not None:
            self.release_slot()
            self.release_slot = None
        super().connection_lost(exc)
        self._release()

    async def run_asgi(self) -> None:
        try:
            await super().run_asgi()
        finally:
            self.app_returned = True
            self._release()

    def _release(self) -> None:
        """Once the socket is gone and the app has returned, nothing of this connection
        is used again: let it go now rather than at the next full garbage collection.

        A closed connection sits in reference cycles (ours: the scope holds our bound
        send; uvicorn's upgraded HTTP protocol and its parser; Litestar's WebSocket and
        its receive wrapper). The cyclic collector frees them only in a full collection,
        minutes apart under steady load, and every closed connection held its zlib
        contexts (about 50 KB) until then: phones coming and going grew the RSS in
        steps. Ours is broken here, and the contexts are dropped whatever still points
        at the protocol."""
        if not (self.disconnected and getattr(self, "app_returned", False)):
            return
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"].pop(DIRECT_SEND, None)
        conn = self.conn
        parser = getattr(conn, "parser", None)
        if parser is not None:
            parser.close()  # its frame holds the protocol: a cycle of websockets' own
        if isinstance(getattr(conn, "extensions", None), list):
            conn.extensions.clear()  # the permessage-deflate zlib contexts

    def _can_write(self) -> bool:
        return not (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.transport.is_closing()
        )

    def send_frame_now(self, frame: bytes) -> bool:
        """Write a whole WebSocket frame built elsewhere (a binary meter frame: unmasked,
        uncompressed, the same bytes for every client) now; False if the socket cannot.

        A message without RSV1 is an uncompressed one even where permessage-deflate was
        agreed (RFC 7692 section 6), and it leaves the compression context alone."""
        if not self._can_write():
            return False
        pending = self.conn.data_to_send()  # what the connection queued (a pong) goes first
        self.transport.write(b"".join(pending) + frame if pending else frame)
        return True

    async def wait_writable(self) -> bool:
        """Until the socket takes data again; False if it never will (closed)."""
        await self.writable.wait()
        return self._can_write()

    def send_texts_now(self, payloads: Sequence[bytes]) -> bool:
        """Frame and write text messages now, all or none; False if the socket cannot."""
        if not self._can_write():
            return False
        try:
            for payload in payloads:
                self.conn.send_text(payload)
        except InvalidState:  # closing (raised before the first frame): the ASGI send
            return False  # reports the disconnect properly
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True
