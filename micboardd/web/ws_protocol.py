"""uvicorn's WebSocket protocol, tuned for the fan-out: cheaper deflate and a direct send.

* Every client compresses every frame with its own zlib context, so compression is the
  largest per-client cost of the fan-out. uvicorn uses zlib's default level (6); level 1 costs
  a third of the CPU on meter frames for about a quarter more bytes (a compact client still
  needs only a few KB/s). uvicorn offers no setting for it, so the extension offer is
  replaced before the handshake.
* An ASGI send passes every frame through Litestar's send wrappers, uvicorn's `send` coroutine
  and a timeout scope: several times the cost of framing it. When the socket can take frames
  right now (not paused by flow control, not closing) `send_texts_now` frames them and writes
  them synchronously, several messages in one write (one system call); otherwise the caller
  uses the ordinary ASGI send, which waits for the socket. The protocol offers the function in
  the ASGI scope's `extensions` under DIRECT_SEND.

If uvicorn's internals change, the daemon falls back to uvicorn's own protocol ("auto") and
the ordinary send path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

# zlib level for frames to browsers: 1 = fastest (see the module docstring for the trade).
DEFLATE_LEVEL = 1
# What uvicorn itself offers (window 4 KiB, small memory): kept, only the level changes.
WINDOW_BITS = 12
MEM_LEVEL = 5
# Key in scope["extensions"]: {"send_texts": SendNow}.
DIRECT_SEND = "micboardd.direct_send"

# Text messages (UTF-8 JSON) -> True if all were written, False if none was.
SendNow = Callable[[Sequence[bytes]], bool]


def direct_sender(scope: Mapping[str, Any]) -> SendNow | None:
    """The protocol's synchronous text send for this connection, if it offers one."""
    extension = (scope.get("extensions") or {}).get(DIRECT_SEND)
    send = extension.get("send_texts") if isinstance(extension, dict) else None
    return send if callable(send) else None


def protocol_class() -> type[Any] | str:
    """The `ws` argument for uvicorn.Config: our subclass, or "auto" if it cannot be built."""
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
        from websockets.exceptions import InvalidState
        from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    except ImportError:  # pragma: no cover - depends on the installed uvicorn
        log.info("uvicorn without the sans-I/O WebSocket protocol: default compression")
        return "auto"

    class TunedProtocol(WebSocketsSansIOProtocol):
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
        # (web/http_protocol.py counts WebSockets as connections too).
        release_slot: Callable[[], None] | None = None

        def handle_connect(self, event: Any) -> None:
            super().handle_connect(event)
            scope = getattr(self, "scope", None)  # absent when the handshake was refused
            if scope is not None:
                scope["extensions"][DIRECT_SEND] = {"send_texts": self.send_texts_now}

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

        def send_texts_now(self, payloads: Sequence[bytes]) -> bool:
            """Frame and write text messages now, all or none; False if the socket cannot."""
            if (
                not self.handshake_complete
                or self.close_sent
                or self.disconnected
                or self.initial_response is not None
                or not self.writable.is_set()
                or self.transport.is_closing()
            ):
                return False
            try:
                for payload in payloads:
                    self.conn.send_text(payload)
            except InvalidState:  # closing (raised before the first frame): the ASGI send
                return False  # reports the disconnect properly
            self.transport.write(b"".join(self.conn.data_to_send()))
            return True

    return TunedProtocol
