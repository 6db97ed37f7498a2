"""The `ws` protocol for uvicorn: ours (ws_tuned.py, tuned as ws_tuning.py says), or
uvicorn's own when its internals are not what ours builds on."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def protocol_class() -> type[Any] | str:
    """The `ws` argument for uvicorn.Config: our subclass, or "auto" if it cannot be built."""
    try:
        from micboardd.web.ws_tuned import TunedProtocol
    except ImportError:  # pragma: no cover - depends on the installed uvicorn
        log.info("uvicorn without the sans-I/O WebSocket protocol: default compression")
        return "auto"
    return TunedProtocol
