"""Errors of the System API client, each one a distinct health state the dashboard can show.

They sit under `micboardd.errors.ConnectionFailed` (a peer could not be used), so code that
already handles "a source is unavailable" handles these too. Every instance carries a short
`kind` (the machine-readable health state) and a sentence an operator can act on; the API key
never appears in any of them.
"""

from __future__ import annotations

from typing import ClassVar

from micboardd.errors import ConnectionFailed, PeerTimeout, ProtocolError


class SystemApiError(ConnectionFailed):
    """A request to the System API failed. `transient` says whether retrying may help."""

    kind: ClassVar[str] = "error"
    transient: ClassVar[bool] = False
    # Counted against the API's health (a missing optional endpoint is not a failure).
    counts_as_failure: ClassVar[bool] = True

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reported = False  # already counted in the API's health by the request funnel


class Unauthorized(SystemApiError):
    """HTTP 401/403: the key in the key file is wrong (or missing on the server)."""

    kind = "unauthorized"


class TlsMismatch(SystemApiError):
    """The server's certificate is not the pinned one, or not trusted by the CA file."""

    kind = "tls_mismatch"


class Unreachable(SystemApiError):
    """No TCP/TLS connection: wrong address, server stopped, firewall."""

    kind = "unreachable"
    transient = True


class ApiTimeout(SystemApiError, PeerTimeout):
    """The server accepted the request but did not answer within the request deadline."""

    kind = "timeout"
    transient = True


class ServerError(SystemApiError):
    """HTTP 5xx or 429; `retry_after` (seconds) when the server said how long to wait."""

    kind = "server_error"
    transient = True

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class BadResponse(SystemApiError, ProtocolError):
    """The reply is not the JSON we expect (truncated, not JSON, wrong shape)."""

    kind = "bad_response"
    transient = True


class Rejected(SystemApiError):
    """Another HTTP 4xx: the server understood and refused this request."""

    kind = "rejected"


class NotAvailable(SystemApiError):
    """HTTP 404/405: the device lacks this endpoint (no battery, no audio channels)."""

    kind = "not_available"
    counts_as_failure = False


class CircuitOpen(SystemApiError):
    """Requests are paused after repeated failures; `retry_in` seconds until the next try."""

    kind = "circuit_open"
    counts_as_failure = False  # no request was sent: the failures that opened it were counted

    def __init__(self, message: str, *, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in
