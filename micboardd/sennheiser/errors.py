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

from micboardd.errors import CommandRejected, ProtocolError


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
