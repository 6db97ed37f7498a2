"""Errors of the Sennheiser codecs, one type per failure, inside micboardd's one error tree.

Bytes from a receiver that do not follow its protocol are `ProtocolError`s; a command we were
asked to build that the receiver would refuse is a `CommandRejected`. Every instance carries a
short `kind` (for a log line or a probe's rejection reason) and a sentence a person can act on;
the bytes themselves are quoted only as a short excerpt.

What a receiver *answers* with an error code (SSC v1 `424 failed dependency`, an MCP
`1000: Invalid command`) is not an exception: the parsers return it as a typed message.
"""

from __future__ import annotations

from typing import ClassVar

from micboardd.errors import CommandRejected, ConnectionFailed, ProtocolError


class BadDatagram(ProtocolError):
    """An SSC v1 datagram that is not one bounded JSON object (too long, not JSON, too deep)."""

    kind: ClassVar[str] = "bad_datagram"


class BadMcpDatagram(ProtocolError):
    """A Media Control Protocol datagram longer than the protocol allows."""

    kind: ClassVar[str] = "bad_mcp_datagram"


class BadResource(ProtocolError):
    """An SSCv2 HTTP body or event payload that is not the JSON shape the spec gives."""

    kind: ClassVar[str] = "bad_resource"


class InvalidCommand(CommandRejected):
    """A command the receiver would refuse: a bad path, name, parameter or range."""

    kind: ClassVar[str] = "invalid_command"


# --- SSCv2 over HTTPS: why a receiver cannot be used (a peer could not be used) -------------


class Sscv2Unavailable(ConnectionFailed):
    """An SSCv2 receiver could not be used. `rejected`: it answers, but not in a way we can
    use until someone changes a setting (a password, a pin), so it is retried only slowly."""

    kind: ClassVar[str] = "unavailable"
    rejected: ClassVar[bool] = False


class PasswordMissing(Sscv2Unavailable):
    """No third-party password is set for this receiver: nothing but its version is readable."""

    kind = "password_missing"
    rejected = True


class PasswordRefused(Sscv2Unavailable):
    """HTTP 401/403: the receiver refused the third-party password we sent."""

    kind = "unauthorized"
    rejected = True


class CertificateChanged(Sscv2Unavailable):
    """The receiver presents another certificate than the one pinned: the password was not sent."""

    kind = "tls_mismatch"
    rejected = True


class NotSscv2(Sscv2Unavailable):
    """It answers HTTPS, but says it speaks another protocol version (Legacy Mode: SSC v1)."""

    kind = "not_sscv2"
    rejected = True
