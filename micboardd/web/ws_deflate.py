"""uvicorn's WebSocket protocol with a cheaper permessage-deflate setting.

Every client compresses every frame with its own zlib context, so compression is the largest
per-client cost of the fan-out. uvicorn uses zlib's default level (6); level 1 costs a third of
the CPU on meter frames for about a quarter more bytes (a compact client still needs only a
few KB/s). uvicorn offers no setting for it, so this subclass replaces the extension offer
before the handshake; if uvicorn's internals change, the daemon falls back to the default.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# zlib level for frames to browsers: 1 = fastest (see the module docstring for the trade).
DEFLATE_LEVEL = 1
# What uvicorn itself offers (window 4 KiB, small memory): kept, only the level changes.
WINDOW_BITS = 12
MEM_LEVEL = 5


def protocol_class() -> type[Any] | str:
    """The `ws` argument for uvicorn.Config: our subclass, or "auto" if it cannot be built."""
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
        from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    except ImportError:  # pragma: no cover - depends on the installed uvicorn
        log.info("uvicorn without the sans-I/O WebSocket protocol: default compression")
        return "auto"

    class FastDeflateProtocol(WebSocketsSansIOProtocol):
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

    return FastDeflateProtocol
