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
* Binary meter frames (feed/meterframe.py) are framed once per subscription by the fan-out
  and written as they are to every client (`send_frame_now`): no per-client framing, and no
  compression, since a message without RSV1 is uncompressed on a permessage-deflate
  connection (RFC 7692 section 6). Without the tuned protocol they go through the ASGI send
  (framed and compressed per client: the fallback only).

If uvicorn's internals change, the daemon falls back to uvicorn's own protocol ("auto") and
the ordinary send path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

# zlib level for frames to browsers: 1 = fastest (see the module docstring for the trade).
DEFLATE_LEVEL = 1
# What uvicorn itself offers (window 4 KiB, small memory): kept, only the level changes.
WINDOW_BITS = 12
MEM_LEVEL = 5
# Key in scope["extensions"]: {"send_texts": SendNow, "send_frame": SendFrame,
# "wait_writable": WaitWritable}.
DIRECT_SEND = "micboardd.direct_send"

# Text messages (UTF-8 JSON) -> True if all were written, False if none was.
SendNow = Callable[[Sequence[bytes]], bool]
# A whole WebSocket frame built once for many clients (binary meters) -> written or not.
SendFrame = Callable[[bytes], bool]
# Until the socket takes data again -> False if it never will.
WaitWritable = Callable[[], Awaitable[bool]]


def _extension(scope: Mapping[str, Any], name: str) -> Any:
    extension = (scope.get("extensions") or {}).get(DIRECT_SEND)
    found = extension.get(name) if isinstance(extension, dict) else None
    return found if callable(found) else None


def direct_sender(scope: Mapping[str, Any]) -> SendNow | None:
    """The protocol's synchronous text send for this connection, if it offers one."""
    send: SendNow | None = _extension(scope, "send_texts")
    return send


def frame_sender(scope: Mapping[str, Any]) -> tuple[SendFrame, WaitWritable] | None:
    """The protocol's write of prebuilt frames and its wait for the socket, if offered."""
    send: SendFrame | None = _extension(scope, "send_frame")
    wait: WaitWritable | None = _extension(scope, "wait_writable")
    return None if send is None or wait is None else (send, wait)
