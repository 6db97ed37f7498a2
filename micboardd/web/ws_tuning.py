"""How uvicorn's WebSocket protocol is tuned for the fan-out: cheaper deflate and a direct
send (the protocol itself is ws_tuned.py, chosen by ws_protocol.py).

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
