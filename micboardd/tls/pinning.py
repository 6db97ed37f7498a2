"""Certificate pinning inside the TLS handshake: a CA file, a pinned fingerprint, or trust on
first use.

Devices on a venue LAN (the System API server, an EW-DX on firmware 4) present self-signed
certificates, so ordinary verification cannot work without a CA file. Pinning is done inside
the TLS handshake: the context hands out an `SSLObject` subclass that compares the peer
certificate's SHA-256 with the pin as soon as the handshake completes, before a single byte of
HTTP (and so before any key or password) is written. The same context serves httpx (anyio)
and the `websockets` client (asyncio or uvloop), which all create their TLS objects through
`SSLContext.wrap_bio`.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path
from typing import cast

FINGERPRINT_HEX_LEN = 64  # SHA-256


def normalize_fingerprint(text: str) -> str:
    """`AB:CD:...`, `abcd...` or `sha256:...` -> 64 lower-case hex digits; ValueError if not."""
    value = text.strip().lower().removeprefix("sha256:").removeprefix("sha256/")
    value = value.replace(":", "").replace(" ", "")
    if len(value) != FINGERPRINT_HEX_LEN or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("must be a SHA-256 fingerprint: 64 hex digits, colons allowed")
    return value


def format_fingerprint(hex_digest: str) -> str:
    """`AB:CD:...` as browsers and `openssl x509 -fingerprint -sha256` show it."""
    return ":".join(hex_digest[i : i + 2] for i in range(0, len(hex_digest), 2)).upper()


def fingerprint_of(der: bytes) -> str:
    """SHA-256 of a DER certificate as 64 lower-case hex digits."""
    return hashlib.sha256(der).hexdigest()


class PinMismatchError(ssl.SSLCertVerificationError):
    """Raised inside the handshake; each client maps it to its own "certificate changed"."""

    def __init__(self, seen: str, expected: str, origin: str) -> None:
        # (errno, strerror): anyio reads `strerror` of every SSLError it sees.
        super().__init__(
            1,
            f"certificate SHA-256 {format_fingerprint(seen)} is not the pinned "
            f"{format_fingerprint(expected)} ({origin})",
        )
        self.seen = seen
        self.expected = expected
        self.origin = origin


class _PinCheckingObject(ssl.SSLObject):
    def do_handshake(self) -> None:
        super().do_handshake()  # raises SSLWantReadError until the handshake is complete
        context = cast("PinningContext", self.context)
        der = self.getpeercert(binary_form=True)
        if der is None:
            raise ssl.SSLCertVerificationError(1, "the server sent no certificate")
        context.check_peer(fingerprint_of(der))


class PinningContext(ssl.SSLContext):
    """An `SSLContext` that also enforces `pin` (or records the first certificate it sees)."""

    sslobject_class = _PinCheckingObject
    pin: str | None = None
    pin_origin: str = ""
    # Trust on first use: with no pin yet, the first certificate becomes the pin.
    tofu: bool = False
    first_seen: str | None = None
    last_seen: str | None = None

    def check_peer(self, seen: str) -> None:
        self.last_seen = seen
        if self.pin is None:
            if self.tofu:
                # Pinned at once, so a second connection racing this one cannot bring its own.
                self.pin, self.pin_origin, self.first_seen = seen, "recorded on first use", seen
            return
        if seen != self.pin:
            raise PinMismatchError(seen, self.pin, self.pin_origin)


def make_context(
    *, ca_file: Path | None, pin: str | None, pin_origin: str = "pinned"
) -> PinningContext:
    """The one TLS context of a connection to a device.

    - CA file: full verification (chain and host name), plus the pin when one is set.
    - pin (from the settings or recorded earlier): exactly that certificate, nothing else.
    - neither: trust on first use; the caller records `first_seen` and logs it.
    """
    context = PinningContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        # The certificate is checked by its fingerprint instead (never "no check at all").
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.tofu = pin is None
    context.pin = pin
    context.pin_origin = pin_origin
    return context
