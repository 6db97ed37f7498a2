"""Process-wide counters shown in /api/health and /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Counters:
    ws_frames_sent: int = 0
    ws_bytes_sent: int = 0
    ws_client_errors: int = 0
    # Frames that could not be written at once (the client's socket paused or closing).
    ws_frames_waited: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    # Unexpected exceptions on the event loop (bugs), by exception type (loop_errors.py).
    loop_exceptions: dict[str, int] = field(default_factory=dict)

    def count(self, event: str, n: int = 1) -> None:
        """One more `event` (a name chosen in code: it becomes a metrics label)."""
        self.extra[event] = self.extra.get(event, 0) + n
