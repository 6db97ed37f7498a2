"""TLS to the System API: the shared pinning context (`micboardd/tls/pinning.py`).

The System API's certificate is self-signed by default: a CA file, a pinned fingerprint, or
trust on first use (`trust.py` keeps the pin recorded on first use).
"""

from __future__ import annotations

from micboardd.tls.pinning import PinMismatchError, PinningContext, fingerprint_of, make_context

__all__ = ["PinMismatchError", "PinningContext", "fingerprint_of", "make_context"]
