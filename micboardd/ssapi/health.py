"""API health: healthy / degraded / down, with a state an operator can read and act on.

Fed by the request funnel (every attempt, with its duration) and by the source (live
subscription or polling). `body()` is the `api_health` frame of `/ws/health/` without its
`type` and `endpoint`; `on_change` fires when anything but the response time changed, so a
dashboard hears about a failure at once and about timings at the source's refresh pace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from micboardd.isotime import iso
from micboardd.ssapi.errors import CircuitOpen, SystemApiError

# Replies slower than this make the dashboard lag behind the stage: shown as degraded "slow".
SLOW_RESPONSE_MS = 1500.0
# This many failures in a row (retries included) and the API is "down", whatever the cause.
DOWN_AFTER_FAILURES = 3
# Failures that are down at once: nothing will work until someone changes something.
DOWN_KINDS = frozenset({"unauthorized", "tls_mismatch", "unreachable"})

STATE_MESSAGES: dict[str, str] = {
    "ok": "answering normally",
    "slow": "answering slowly",
    "unauthorized": "the API key was refused; check ssapi_key_file against the server's key",
    "tls_mismatch": "TLS certificate refused",
    "unreachable": "cannot connect to the System API server",
    "timeout": "the server did not answer in time",
    "server_error": "the server reports errors",
    "bad_response": "the server sent a reply that is not valid JSON of the expected shape",
    "rejected": "the server refused a request",
    "starting": "connecting",
}


@dataclass(slots=True)
class HealthTracker:
    endpoint: str
    clock: Callable[[], float] = time.monotonic
    slow_ms: float = SLOW_RESPONSE_MS
    on_change: Callable[[dict[str, Any]], None] | None = None
    error_count: int = 0
    consecutive_failures: int = 0
    response_time_ms: float | None = None
    state: str = "starting"
    detail: str = ""
    updates: str = "starting"  # "live" (subscription), "polling", "starting"
    paused_s: float | None = None
    _last_key: tuple[Any, ...] = field(default=())

    # --- fed by the funnel ---

    def success(self, elapsed_ms: float) -> None:
        self.response_time_ms = elapsed_ms
        self.consecutive_failures = 0
        self.paused_s = None
        self.state = "slow" if elapsed_ms >= self.slow_ms else "ok"
        self.detail = f"last reply took {elapsed_ms:.0f} ms" if self.state == "slow" else ""
        self._changed()

    def failure(self, error: SystemApiError, elapsed_ms: float | None = None) -> None:
        if isinstance(error, CircuitOpen):
            self.paused_s = error.retry_in
            self._changed()
            return
        if not error.counts_as_failure:
            return
        if elapsed_ms is not None:
            self.response_time_ms = elapsed_ms
        self.error_count += 1
        self.consecutive_failures += 1
        self.state = error.kind
        self.detail = str(error)
        self._changed()

    def set_updates(self, updates: str) -> None:
        self.updates = updates
        self._changed()

    # --- views ---

    @property
    def status(self) -> str:
        if self.state in DOWN_KINDS or self.consecutive_failures >= DOWN_AFTER_FAILURES:
            return "down"
        if self.state == "ok" and self.consecutive_failures == 0:
            return "healthy"
        return "degraded"  # slow, a recent failure, or no answer yet

    @property
    def is_down(self) -> bool:
        return self.status == "down"

    def message(self) -> str:
        text = STATE_MESSAGES.get(self.state, self.state)
        if self.detail:
            text = f"{text}: {self.detail}"
        if self.paused_s:
            text += f" (requests paused for {self.paused_s:.0f} s after repeated failures)"
        return text

    def body(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "response_time_ms": (
                None if self.response_time_ms is None else round(self.response_time_ms)
            ),
            "error_count": self.error_count,
            "state": self.state,
            "message": self.message(),
            "updates": self.updates,
        }

    def _changed(self) -> None:
        paused = self.paused_s is not None
        key = (self.status, self.state, self.detail, self.error_count, self.updates, paused)
        if key == self._last_key:
            return
        self._last_key = key
        if self.on_change is not None:
            self.on_change(self.body())


def connection_update(endpoint: str, host_port: str, body: dict[str, Any]) -> dict[str, Any]:
    """The `/ws/connections/` entry of the API itself (`source: "system_api"`)."""
    status = {"healthy": "connected", "degraded": "connected", "down": "error"}[body["status"]]
    return {
        "manufacturer": "shure",
        "source": "system_api",
        "id": endpoint,
        "address": host_port,
        "status": "connecting" if body["state"] == "starting" else status,
        "latency_ms": body["response_time_ms"],
        "last_update": iso(time.time()),
        "error": body["message"] if body["status"] == "down" else None,
    }
