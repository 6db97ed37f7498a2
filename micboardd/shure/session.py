"""One receiver connection: connect, sync, meter, listen, watchdog, reconnect with backoff.

States (published to the hub, shown on `/ws/connections/`): CONNECTING -> SYNCING (commands
sent, waiting for the first answer) -> ONLINE; on any failure DISCONNECTED (or ERROR when
the receiver answers in a way we cannot use), then a capped, jittered backoff and again.

Receivers report non-metered changes unsolicited, so nothing is polled: one `GET 0 ALL` after
connecting, `SET 0 METER_RATE` for meters, and a light heartbeat every 30 s whose round trip
is the `latency_ms` we show. Before every close the session sends `SET 0 METER_RATE 00000`:
QLX-D firmware is known to lock up when a metering client vanishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable

from micboardd.aio import cancel_and_wait
from micboardd.errors import CommandRejected, ConnectionFailed, MicboardError, PeerTimeout
from micboardd.hub import Hub
from micboardd.model import SourceState
from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.families import FamilySpec, Interpreter
from micboardd.shure.link import CONNECT_TIMEOUT_S, Link, open_link

log = logging.getLogger(__name__)

# A heartbeat every 30 s measures latency and proves the command path works even when no
# meter is moving; cheap enough for the oldest receivers (Companion uses the same).
HEARTBEAT_S = 30.0
# Silence watchdog: at 3 missed meter intervals the link is dead (a receiver metering at
# 100 ms has never gone quiet for 300 ms while healthy), but never below 2 s so a busy LAN
# or a receiver answering GET ALL slowly is not mistaken for one.
SILENCE_MIN_S = 2.0
SILENCE_METER_INTERVALS = 3
# Without metering (UHF-R may not answer METER) the heartbeat is the only traffic.
SILENCE_NO_METER_S = HEARTBEAT_S * 2 + 5
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
BACKOFF_JITTER = 0.25  # +-25 %: a venue power cycle must not make 40 sessions retry in step
# A connection that stayed up this long resets the backoff: it was healthy, not flapping.
STABLE_AFTER_S = 10.0
# Meters-off on close: best effort; a dead receiver must not hold shutdown up.
METER_OFF_TIMEOUT_S = 0.5


def backoff_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """1 s, 2 s, 4 s ... capped at 30 s, each +-25 % jitter. `attempt` counts from 0."""
    base: float = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2.0 ** min(attempt, 10))
    return base * (1 + BACKOFF_JITTER * (2 * rng() - 1))


def silence_timeout(meter_rate_ms: int) -> float:
    if meter_rate_ms <= 0:
        return SILENCE_NO_METER_S
    return max(SILENCE_METER_INTERVALS * meter_rate_ms / 1000, SILENCE_MIN_S)


class ReceiverSession:
    """Keeps one receiver connected and its channels flowing into the hub."""

    def __init__(
        self,
        hub: Hub,
        receiver_id: str,
        host: str,
        port: int,
        spec: FamilySpec,
        *,
        channels: int,
        meter_rate_ms: int,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.hub = hub
        self.receiver_id = receiver_id
        self.host = host
        self.port = port
        self.spec = spec
        self.channels = channels
        self.meter_rate_ms = meter_rate_ms
        self.connect_timeout = connect_timeout
        self.state = SourceState.DISCONNECTED
        self.frames = 0
        self.garbage = 0
        self.connects = 0
        self._link: Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._heartbeat_sent: float | None = None
        self._last_bytes = 0.0  # monotonic time of the last read (the silence watchdog's base)
        self._was_online = False
        self._log_extra = {"RECEIVER_ID": receiver_id, "RECEIVER_ADDR": host}

    @property
    def name(self) -> str:
        return f"{self.spec.family.value} receiver {self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"<ReceiverSession {self.name} {self.state.value}>"

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=f"session {self.host}:{self.port}")

    async def stop(self) -> None:
        self._stopping.set()
        # Cancelling the connection task runs its `finally`, which sends METER_RATE 00000
        # before closing: sending it here as well would say it twice.
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._link is not None:
            await self._link.close()
            self._link = None
        self._set_state(SourceState.DISCONNECTED, error=None)

    # --- commands from the REST layer (through the hub) ---

    async def send(self, data: bytes) -> None:
        if self._link is None or self.state is not SourceState.ONLINE:
            raise ConnectionFailed(f"{self.name} is not connected")
        await self._link.send(data)

    async def set_meter_rate(self, meter_rate_ms: int) -> None:
        """Change the metering interval now (and on every reconnect)."""
        self.meter_rate_ms = meter_rate_ms
        if self._link is not None and self.state is SourceState.ONLINE:
            await self._link.send(self.spec.meter_command(meter_rate_ms))

    async def rename(self, channel: int, name: str) -> None:
        await self.send(self.spec.rename_command(channel, name))

    async def identify(self, channel: int | None) -> None:
        await self.send(self.spec.identify_command(channel))

    # --- the connection loop ---

    def _set_state(
        self, state: SourceState, *, error: str | None = None, latency_ms: float | None = None
    ) -> None:
        self.state = state
        self.hub.set_source_state(self.receiver_id, state, error=error, latency_ms=latency_ms)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            error: str | None = None
            try:
                await self._serve_once()
            except MicboardError as exc:
                error = str(exc)
            except OSError as exc:  # anything the link layer did not map
                error = f"{self.name}: {exc}"
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= STABLE_AFTER_S:
                attempt = 0
            delay = backoff_delay(attempt)
            attempt += 1
            if self._was_online:
                log.warning(
                    "%s went offline: %s; reconnecting", self.name, error, extra=self._log_extra
                )
                self._was_online = False
            elif attempt == 1:
                log.warning("%s unavailable: %s; retrying", self.name, error, extra=self._log_extra)
            else:
                log.debug("%s still unavailable (%s); retry in %.1f s", self.name, error, delay)
            self._set_state(SourceState.DISCONNECTED, error=error)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()

    async def _serve_once(self) -> None:
        self._set_state(SourceState.CONNECTING)
        link = await open_link(self.host, self.port, self.spec.transport, self.connect_timeout)
        self._link = link
        self.connects += 1
        try:
            await self._converse(link)
        finally:
            self._link = None
            await self._meters_off(link)
            await link.close()

    async def _converse(self, link: Link) -> None:
        self._set_state(SourceState.SYNCING)
        decoder = StreamDecoder(self.spec.framing)
        interpreter = self.spec.new_interpreter()
        self._last_bytes = time.monotonic()
        # Every chunk goes to _take as it arrives (before the first command, so no answer is
        # missed); this task only keeps time: heartbeats and the silence watchdog.
        link.deliver_to(functools.partial(self._take, decoder=decoder, interpreter=interpreter))
        for command in self.spec.sync_commands(self.channels):
            await link.send(command)
        await link.send(self.spec.meter_command(self.meter_rate_ms))
        next_heartbeat = self._last_bytes  # the first heartbeat right away gives latency at once
        # Ends by raising, or when stop() was asked for: a cancellation swallowed by a library
        # (Python 3.11's wait_for is known to) must not keep a stopped session talking.
        while not self._stopping.is_set():
            quiet_for = silence_timeout(self.meter_rate_ms)
            now = time.monotonic()
            if now >= next_heartbeat:
                self._heartbeat_sent = now
                await link.send(self.spec.heartbeat_command())
                next_heartbeat = now + HEARTBEAT_S
            wait = min(self._last_bytes + quiet_for, next_heartbeat) - now
            try:
                # One timeout scope for a whole quiet period, not one per read: meters arrive
                # every 100 ms and a timer set and cancelled for each was a measurable part of
                # reading them. When it expires while data still flows, it is simply renewed.
                async with asyncio.timeout(max(wait, 0.0)):
                    await link.failed()  # returns only by raising why the link ended
                    raise ConnectionFailed(f"{self.name}: link ended")
            except TimeoutError:
                if time.monotonic() - self._last_bytes >= quiet_for:
                    raise PeerTimeout(f"{self.name}: no data for {quiet_for:g} s") from None

    def _take(self, data: bytes, *, decoder: StreamDecoder, interpreter: Interpreter) -> None:
        """Decode one chunk and hand its readings to the hub (called by the link)."""
        now = self._last_bytes = time.monotonic()
        garbage_before = decoder.garbage_count
        frames = decoder.feed(data)
        if decoder.garbage_count != garbage_before:
            self._log_garbage(decoder.garbage_count - garbage_before, decoder.last_error)
        latency: float | None = None
        for frame in frames:
            self.frames += 1
            if self._heartbeat_sent is not None and self.spec.is_heartbeat_reply(frame):
                latency = round((now - self._heartbeat_sent) * 1000, 1)
                self._heartbeat_sent = None
            self.hub.apply(self.receiver_id, interpreter.interpret(frame))
        if frames and (self.state is not SourceState.ONLINE or latency is not None):
            if self.state is not SourceState.ONLINE:
                log.info("%s online", self.name, extra=self._log_extra)
                self._was_online = True
            self._set_state(SourceState.ONLINE, latency_ms=latency)

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

    async def _meters_off(self, link: Link) -> None:
        with contextlib.suppress(MicboardError, OSError, TimeoutError, CommandRejected):
            async with asyncio.timeout(METER_OFF_TIMEOUT_S):
                await link.send(self.spec.meter_command(0))
