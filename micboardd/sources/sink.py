"""What a source needs of the hub: the `ReadingSink` protocol.

Receiver state machines (`shure/machine.py`) depend on this, never on the `Hub` class, so
the vendor layer stays below the state layer it feeds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from micboardd.model import Reading, SourceState


class ReadingSink(Protocol):
    def apply(self, receiver_id: str, readings: Iterable[Reading]) -> None:
        """What the source just read about a receiver's channels (channel 0: the receiver)."""

    def set_source_state(
        self,
        receiver_id: str,
        state: SourceState,
        *,
        latency_ms: float | None = None,
        error: str | None = None,
    ) -> None:
        """The source's link to the receiver changed (or its latency did)."""

    def forget_readings(self, receiver_id: str) -> None:
        """A new connection answered: what the previous one said no longer holds."""
