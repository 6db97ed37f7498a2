"""Every timeout and interval of the System API source, each with the reason for its value.

`Tuning` bundles them so tests (and the `poll` command) can shrink them; the daemon uses the
defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from micboardd.aio import backoff_delay
from micboardd.ssapi.errors import (
    CircuitOpen,
    ServerError,
    SystemApiError,
    TlsMismatch,
    Unauthorized,
)
from micboardd.ssapi.health import SLOW_RESPONSE_MS

# --- one request ---
# The server is on the venue LAN: a TCP+TLS connect that takes longer is not going to work.
CONNECT_TIMEOUT_S = 5.0
# A busy Windows server enumerating many devices answers within a few seconds; 10 s is broken.
READ_TIMEOUT_S = 10.0
# Bound on the whole request (connect, send, read) whatever the server trickles back.
REQUEST_DEADLINE_S = 15.0
# Tries per request for transient failures (timeouts, 5xx, garbage): one glitch is absorbed.
RETRY_ATTEMPTS = 3
# First retry after about 0.5 s, doubling; capped so one request never waits for long.
RETRY_BASE_S = 0.5
RETRY_CAP_S = 5.0

# --- circuit breaker ---
# Five failures in a row (about two requests with their retries) mean the server is gone.
BREAKER_THRESHOLD = 5
# Then one trial request every 15 s, doubling to 5 min: an outage costs no traffic.
BREAKER_OPEN_S = 15.0
BREAKER_MAX_OPEN_S = 300.0

# --- the source ---
# Capability lists are not pushed: re-read the device list every minute (as SAPI does).
INVENTORY_S = 60.0
# Adaptive polling when no subscription is available (issue 5): normal, alert, offline.
POLL_NORMAL_S = 30.0
POLL_ALERT_S = 10.0
POLL_OFFLINE_S = 60.0
# After a subscription WebSocket fails, poll for this long before trying it again.
SUBSCRIBE_RETRY_S = 60.0
# The WebSocket's first message (the transportId) comes at once on a working server.
WS_OPEN_TIMEOUT_S = 10.0
# Activity is re-pushed every 5 s (PROTOCOLS.md 3.4): three missed pushes and no other
# event mean the socket is dead even if TCP has not noticed.
WS_SILENCE_S = 90.0
# A refused key is not retried in a loop: the key file is re-read and tried this often.
UNAUTHORIZED_RETRY_S = 60.0
# After a failed inventory: first retry soon, then doubling up to the breaker's pace.
FAILURE_RETRY_BASE_S = 2.0
FAILURE_RETRY_CAP_S = 60.0
# The health frame is republished this often even when nothing changed (fresh timings).
HEALTH_REFRESH_S = 10.0


@dataclass(frozen=True, slots=True)
class Tuning:
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    read_timeout_s: float = READ_TIMEOUT_S
    request_deadline_s: float = REQUEST_DEADLINE_S
    retry_attempts: int = RETRY_ATTEMPTS
    retry_base_s: float = RETRY_BASE_S
    retry_cap_s: float = RETRY_CAP_S
    breaker_threshold: int = BREAKER_THRESHOLD
    breaker_open_s: float = BREAKER_OPEN_S
    breaker_max_open_s: float = BREAKER_MAX_OPEN_S
    slow_ms: float = SLOW_RESPONSE_MS
    inventory_s: float = INVENTORY_S
    poll_normal_s: float = POLL_NORMAL_S
    poll_alert_s: float = POLL_ALERT_S
    poll_offline_s: float = POLL_OFFLINE_S
    subscribe_retry_s: float = SUBSCRIBE_RETRY_S
    ws_open_timeout_s: float = WS_OPEN_TIMEOUT_S
    ws_silence_s: float = WS_SILENCE_S
    unauthorized_retry_s: float = UNAUTHORIZED_RETRY_S
    failure_retry_base_s: float = FAILURE_RETRY_BASE_S
    failure_retry_cap_s: float = FAILURE_RETRY_CAP_S
    health_refresh_s: float = HEALTH_REFRESH_S


DEFAULT_TUNING = Tuning()


def next_attempt_in(error: SystemApiError, failures: int, tuning: Tuning = DEFAULT_TUNING) -> float:
    """Seconds until the source tries again after `failures` failed rounds ending in `error`."""
    if isinstance(error, Unauthorized | TlsMismatch):
        return tuning.unauthorized_retry_s  # only an operator can fix these
    if isinstance(error, CircuitOpen):
        return max(error.retry_in, tuning.failure_retry_base_s)
    if isinstance(error, ServerError) and error.retry_after is not None:
        return max(error.retry_after, tuning.failure_retry_base_s)
    return backoff_delay(
        failures - 1,
        first_s=tuning.failure_retry_base_s,
        max_s=tuning.failure_retry_cap_s,
        jitter=0.0,  # rounds are already spread by the poll schedule
    )
