"""The one error tree of micboardd.

Split as the Home Assistant libraries do: `MicboardError` subclasses are errors callers are
expected to handle (a receiver spoke garbage, a setting is wrong, a peer timed out). Anything
else escaping a module is a bug and is logged with its traceback.
"""

from __future__ import annotations


class MicboardError(Exception):
    """Root of every error micboardd raises on purpose."""


class ConfigError(MicboardError):
    """A setting is invalid. The message names the key, the value and where it came from."""

    def __init__(self, key: str, value: object, origin: str, reason: str) -> None:
        self.key = key
        self.value = value
        self.origin = origin
        self.reason = reason
        super().__init__(f"invalid setting {key}={value!r} (from {origin}): {reason}")


class StoreError(MicboardError):
    """The SQLite store could not be opened or written."""


class ProtocolError(MicboardError):
    """Bytes from a receiver (or a client) do not follow the wire protocol."""


class ConnectionFailed(MicboardError):
    """A peer (receiver, System API, Redis) could not be reached or dropped the connection."""


class PeerTimeout(ConnectionFailed, TimeoutError):
    """A peer did not answer within its named timeout (also a builtin `TimeoutError`)."""


class CommandRejected(MicboardError):
    """A command was refused: invalid for the target, or the receiver answered `REP ERR`."""


class NotFound(MicboardError):
    """A device, receiver or group id does not exist."""


class BadUpload(MicboardError):
    """An uploaded file was refused (photos.py). `reason` picks the HTTP status: "type" (415),
    "size" (413), "content" (400)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)
