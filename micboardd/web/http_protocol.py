"""The `http` protocol for uvicorn: httptools guarded by the limits of `http_limits.py`."""

from __future__ import annotations

import logging
from typing import Any

from micboardd.web.http_limits import KEEP_ALIVE_S, MAX_HEAD_BYTES, ConnectionLimits

log = logging.getLogger(__name__)

# What the daemon's wiring imports from here (it could import them from http_limits).
__all__ = ["KEEP_ALIVE_S", "MAX_HEAD_BYTES", "ConnectionLimits", "http_protocol_class"]


def http_protocol_class(limits: ConnectionLimits) -> type[Any] | None:
    """The `http` argument for uvicorn.Config: the guarded httptools protocol, or None when
    httptools is not installed (then uvicorn's h11 protocol with its own head limit)."""
    try:
        from micboardd.web.http_guarded import guarded_protocol
    except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
        log.warning("httptools is not installed: request timeouts and connection caps are off")
        return None
    return guarded_protocol(limits)
