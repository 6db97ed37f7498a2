"""The life of one receiver session, whatever its protocol: connect, probe, sync, online,
backoff, stopped.

    CONNECTING ──► PROBING ──► SYNCING ──► ONLINE
        ▲             │            │          │   (silence, EOF, a failed write)
        └── BACKOFF ◄─┴────────────┴──────────┘
    any ──► STOPPED                               (stop())

A protocol's machine (`shure/machine.py`, `sennheiser/ssc1_machine.py`,
`sennheiser/mcp_machine.py`) writes `_connection()`: one connection from its start to its
end, which always raises (why it ended). This class runs it again and again on the shared
backoff (`micboardd.aio.Backoff`), tells the sink each phase, and logs each failure once.

The rule every protocol keeps: never show OK for a microphone we cannot see. SYNCING
(commands sent, nothing valid read yet) counts as offline; at the first valid answer of a
connection the machine calls `_first_answer()`, which makes the sink forget the previous
connection's readings before the new ones are applied, and only then enters ONLINE.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable

from micboardd.aio import Backoff, cancel_and_wait
from micboardd.errors import CommandRejected, MicboardError, ProtocolError
from micboardd.model import SourceState
from micboardd.sources.ports import ProbeResult, ReadingSink

log = logging.getLogger(__name__)


class Phase(enum.StrEnum):
    CONNECTING = "connecting"
    PROBING = "probing"
    SYNCING = "syncing"
    ONLINE = "online"
    BACKOFF = "backoff"
    STOPPED = "stopped"


# What the hub (and /ws/connections/) shows for each phase; BACKOFF is DISCONNECTED, or
# ERROR for a host that answers but is no receiver we can use.
SOURCE_STATE = {
    Phase.CONNECTING: SourceState.CONNECTING,
    Phase.PROBING: SourceState.CONNECTING,
    Phase.SYNCING: SourceState.SYNCING,
    Phase.ONLINE: SourceState.ONLINE,
    Phase.BACKOFF: SourceState.DISCONNECTED,
    Phase.STOPPED: SourceState.DISCONNECTED,
}

Identified = Callable[[ProbeResult], Awaitable[None]]


class SessionMachine:
    """Keeps one receiver connected; the protocol's subclass writes `_connection()`."""

    # How a host that answers in some other way is described ("not a supported X").
    WHAT = "receiver"

    def __init__(
        self,
        sink: ReadingSink,
        receiver_id: str,
        host: str,
        port: int,
        *,
        meter_rate_ms: int,
        backoff: Backoff,
        rejected_retry_s: float,
        identity: ProbeResult | None = None,
        on_identified: Identified | None = None,
    ) -> None:
        self.sink = sink
        self.receiver_id = receiver_id
        self.host = host
        self.port = port
        self.meter_rate_ms = meter_rate_ms
        self.identity = identity  # what answered last (or what we expect: store, discovery)
        self.on_identified = on_identified
        self.backoff = backoff
        self.rejected_retry_s = rejected_retry_s
        self.phase = Phase.STOPPED
        self.state = SourceState.DISCONNECTED
        self.error: str | None = None
        self.frames = 0
        self.garbage = 0
        self.connects = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._answered = False  # a valid answer was read on the current connection
        self._online_since: float | None = None
        self._logged_error: str | None = None
        self._log_extra = {"RECEIVER_ID": receiver_id, "RECEIVER_ADDR": host}

    @property
    def channels(self) -> int:
        return self.identity.channels if self.identity is not None else 0

    @property
    def name(self) -> str:
        model = self.identity.model if self.identity is not None else "receiver"
        return f"{model} {self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.phase.value}>"

    # --- lifecycle ---

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=f"receiver {self.host}:{self.port}")

    async def stop(self) -> None:
        self._stopping.set()
        # Cancelling runs the connection's `finally`, which says goodbye to the receiver.
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self._release()
        self._enter(Phase.STOPPED)

    async def _release(self) -> None:
        """After the task has ended: close what the connection may have left open."""

    def wake(self) -> None:
        """News that the receiver is there (an announcement): retry now if backing off."""
        if self.phase is Phase.BACKOFF:
            log.debug("%s announced itself: retrying now", self.name, extra=self._log_extra)
            self.backoff.wake()

    async def set_meter_rate(self, meter_rate_ms: int) -> None:
        """Change the metering interval (the protocol's machine applies it now if it can)."""
        self.meter_rate_ms = meter_rate_ms

    # --- commands from the REST layer (through the hub); each protocol says how ---

    async def rename(self, channel: int, name: str) -> None:
        raise CommandRejected(f"{self.name}: renaming is not supported")

    async def identify(self, channel: int | None) -> None:
        raise CommandRejected(f"{self.name}: identify is not supported")

    # --- states ---

    def _enter(
        self,
        phase: Phase,
        *,
        error: str | None = None,
        latency_ms: float | None = None,
        rejected: bool = False,
    ) -> None:
        self.phase = phase
        self.state = SourceState.ERROR if rejected else SOURCE_STATE[phase]
        self.error = error
        self.sink.set_source_state(self.receiver_id, self.state, error=error, latency_ms=latency_ms)

    async def _connection(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        while not self._stopping.is_set():
            rejected = False
            try:
                await self._connection()
                error = f"{self.name}: connection ended"
            except MicboardError as exc:
                error, rejected = self._failure(exc)
            except OSError as exc:  # anything the link layer did not map
                error = f"{self.name}: {exc}"
            if self._stopping.is_set():
                return
            online_for = (
                time.monotonic() - self._online_since if self._online_since is not None else 0.0
            )
            self._log_failure(error, rejected)
            self._online_since = None
            delay = self.rejected_retry_s if rejected else self.backoff.next_delay(online_for)
            self._enter(Phase.BACKOFF, error=error, rejected=rejected)
            await self.backoff.wait(delay)

    def _failure(self, exc: MicboardError) -> tuple[str, bool]:
        """Why a connection ended, as the receiver's error, and whether it is rejected: it
        answers, but not in a way we can use (ERROR, asked again every `rejected_retry_s`)."""
        if isinstance(exc, ProtocolError):
            return f"not a supported {self.WHAT}: {exc}", True
        return str(exc), False

    def _log_failure(self, error: str, rejected: bool) -> None:
        """Once when it goes, once per new reason while it stays away; repeats at DEBUG."""
        first = self._logged_error is None
        if self._online_since is not None:
            log.warning(
                "%s went offline: %s; reconnecting", self.name, error, extra=self._log_extra
            )
        elif error != self._logged_error:
            level = logging.WARNING if first or rejected else logging.INFO
            log.log(level, "%s unavailable: %s; retrying", self.name, error, extra=self._log_extra)
        else:
            log.debug("%s still unavailable: %s", self.name, error, extra=self._log_extra)
        self._logged_error = error

    async def _identified(self, result: ProbeResult) -> None:
        previous, self.identity = self.identity, result
        if previous is None or not previous.same_receiver(result):
            log.info(
                "%s is a %s (%s, %d channel%s)",
                f"{self.host}:{self.port}",
                result.model,
                result.family.value,
                result.channels,
                "" if result.channels == 1 else "s",
                extra={**self._log_extra, "MODEL": result.model},
            )
        if self.on_identified is not None:
            await self.on_identified(result)

    def _first_answer(self) -> None:
        """The first valid answer of this connection: forget the last one's readings (the
        caller applies the new ones next), then count as answered."""
        self._answered = True
        self.sink.forget_readings(self.receiver_id)

    def _now_online(self, now: float, latency_ms: float | None = None) -> None:
        """After the first answer's readings were applied: ONLINE, and logged once."""
        self._online_since = now
        self._logged_error = None
        log.info("%s online", self.name, extra=self._log_extra)
        self._enter(Phase.ONLINE, latency_ms=latency_ms)

    def _log_garbage(self, count: int, reason: str | None) -> None:
        self.garbage += count
        level = logging.WARNING if self.garbage == count else logging.DEBUG
        log.log(
            level,
            "%s sent %d malformed frame(s), ignored: %s",
            self.name,
            count,
            reason,
            extra=self._log_extra,
        )
