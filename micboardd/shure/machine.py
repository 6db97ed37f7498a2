"""One receiver, one state machine: connect, probe, sync, online, backoff, stopped.

    CONNECTING ──► PROBING ──► SYNCING ──► ONLINE
        ▲             │            │          │   (silence, EOF, a failed write)
        └── BACKOFF ◄─┴────────────┴──────────┘
    any ──► STOPPED                               (stop())

Never show OK for a receiver we cannot hear: the hub learns only what was read on the
current connection. SYNCING (commands sent, nothing valid read yet) counts as offline, so a
receiver whose TCP port accepts but which answers nothing (frozen firmware, still booting)
stays `rx_offline` however often it accepts. At the first valid frame of a connection the
previous connection's readings are forgotten, the new ones applied, and only then is the
receiver ONLINE.

Every connection starts with a probe (what answers here now, `probe.py`), then meters on,
then `GET 0 ALL` (per-property GETs for families without it, and as a fallback, refreshed
by a slow poll, for a receiver that does not answer it within `GET_ALL_ANSWER_S`).
Non-metered changes arrive as unsolicited REPs. The silence watchdog ends a connection
after `SILENCE_S` without a valid frame. It is a timer, not the conversation's task: a
receiver metering every 100 ms is never quiet for 2 s, and a task woken every 2 s per
receiver to find that out (a cancelled wait, an exception, a new wait) cost more than all
the rest of keeping time; the timer wakes the task only for silence.

Other controllers (Wireless Workbench, Companion, Home Assistant) may change `METER_RATE`
receiver-wide. A `METER_RATE` report we did not ask for is noticed and logged once; our rate
is re-asserted at most once per `REASSERT_S` (never a fight); while meters are slower than
the watchdog needs (or off) a cheap heartbeat `GET` every `HEARTBEAT_FAST_S` keeps liveness.

Failures wait on the shared backoff (`micboardd.aio.Backoff`), which an SLP or mDNS
announcement of the receiver cuts short (`wake()`). Before every close, meters are switched
off: QLX-D firmware is known to lock up when a metering client vanishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from micboardd.aio import Backoff
from micboardd.config import MAX_METER_RATE_MS, MIN_METER_RATE_MS
from micboardd.errors import (
    CommandRejected,
    ConnectionFailed,
    MicboardError,
    PeerTimeout,
)
from micboardd.model import Family
from micboardd.pacing import beat_after
from micboardd.shure.codec import Frame, MessageKind
from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.families import FAMILIES
from micboardd.shure.families.base import FamilySpec, Interpreter, SampleScan
from micboardd.shure.link import CONNECT_TIMEOUT_S, Link
from micboardd.shure.probe import PROBE_WINDOW_S, ProbeResult, identify, open_probe_link
from micboardd.sources.ports import ReadingSink
from micboardd.sources.session import Identified, Phase, SessionMachine

__all__ = ["Phase", "ReceiverMachine", "wire_rate"]

log = logging.getLogger(__name__)

# Silence watchdog: a receiver metering at 100 ms never goes quiet for 2 s while healthy,
# and 2 s lets a receiver on a busy LAN answer `GET 0 ALL`; the heartbeat fills the gap
# whenever meters alone come less often than the watchdog needs.
SILENCE_S = 2.0
# Meters must arrive at least this many times per silence window to keep the watchdog fed.
METER_SAMPLES_PER_WINDOW = 3
# Heartbeat while meters keep the link alive: latency, and proof the command path works.
HEARTBEAT_S = 30.0
# Heartbeat while meters are slower than the watchdog needs (another controller set 5 s, or
# off): four answers per silence window, so a dead receiver is still noticed within 2 s.
HEARTBEAT_FAST_S = 0.5
# A receiver that has not answered `GET 0 ALL` within 1 s does not support it (SLX-D+).
GET_ALL_ANSWER_S = 1.0
# Per-property GETs standing in for `GET 0 ALL` are repeated this often, while unsolicited
# REPs keep the values live in between.
FALLBACK_POLL_S = 60.0
# Our meter rate is re-asserted at most this often when another controller changes it:
# often enough that a tool that set it once is undone soon, never a fight with one that
# keeps setting it.
REASSERT_S = 60.0
# After we change our METER_RATE, reports of the old value may still be in flight.
SET_ECHO_GRACE_S = 1.0
# Retry schedule: a receiver that comes back is online within 5 s (cap with jitter plus a
# probe), and a dead address costs one SYN every few seconds.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 3.0
# A connection that stayed online this long resets the backoff: it was healthy, not flapping.
STABLE_AFTER_S = 10.0
# A host that answers, but not like a Shure receiver, is asked again only this often.
REJECTED_RETRY_S = 60.0
# Meters-off on close: best effort; a dead receiver must not hold shutdown up.
METER_OFF_TIMEOUT_S = 0.5


def wire_rate(meter_rate_ms: int) -> int:
    """The METER_RATE value a receiver will report for the interval we ask for."""
    if meter_rate_ms <= 0:
        return 0
    return min(max(meter_rate_ms, MIN_METER_RATE_MS), MAX_METER_RATE_MS)


class ReceiverMachine(SessionMachine):
    """Keeps one Shure receiver connected and its channels flowing into the sink."""

    WHAT = "Shure receiver"

    # One conversation's reading state, set by `_converse` before `_take` can be called.
    _decoder: StreamDecoder
    _interpreter: Interpreter
    _scan: SampleScan | None

    def __init__(
        self,
        sink: ReadingSink,
        receiver_id: str,
        host: str,
        port: int,
        *,
        meter_rate_ms: int,
        identity: ProbeResult | None = None,
        on_identified: Identified | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        super().__init__(
            sink,
            receiver_id,
            host,
            port,
            meter_rate_ms=meter_rate_ms,
            backoff=Backoff(
                first_s=BACKOFF_FIRST_S, max_s=BACKOFF_MAX_S, reset_after_s=STABLE_AFTER_S
            ),
            rejected_retry_s=REJECTED_RETRY_S,
            identity=identity,
            on_identified=on_identified,
        )
        self.connect_timeout = connect_timeout
        self.foreign_rates: dict[int, int] = {}  # channel -> METER_RATE someone else set
        self._link: Link | None = None
        self._last_frame = 0.0  # monotonic time of the last valid frame (the watchdog's base)
        self._heartbeat_sent: float | None = None
        self._latency_at = 0.0  # when latency was last reported (it moves on every reply)
        self._dump_seen = False  # a REP other than METER_RATE: GET 0 ALL was answered
        self._set_at = 0.0  # when we last sent METER_RATE (asserted our rate)
        self._replaced_rate: int | None = None  # our rate before the last change
        self._reassert = False
        self._polling = False  # GET 0 ALL went unanswered: per-property GETs, slow poll
        self._logged_rates: set[int] = set()
        # The time-keeping loop's current wait: news read in `_take` (another controller's
        # METER_RATE) or the silence watch moves it, so the loop acts on the news at once.
        self._scope: asyncio.Timeout | None = None
        self._silence_watch: asyncio.TimerHandle | None = None  # the watchdog's next look
        self._silent = False  # the watch found the receiver quiet for SILENCE_S

    @property
    def spec(self) -> FamilySpec | None:
        return FAMILIES.get(self.identity.family) if self.identity is not None else None

    async def _release(self) -> None:
        if self._link is not None:
            await self._link.close()
            self._link = None

    # --- commands from the REST layer (through the hub) ---

    async def send(self, data: bytes) -> None:
        if self._link is None or self.phase is not Phase.ONLINE:
            raise ConnectionFailed(f"{self.name} is not connected")
        await self._link.send(data)

    async def set_meter_rate(self, meter_rate_ms: int) -> None:
        """Change the metering interval now (and on every reconnect)."""
        replaced, self.meter_rate_ms = wire_rate(self.meter_rate_ms), meter_rate_ms
        self.foreign_rates.clear()
        if self._link is not None and self.phase is Phase.ONLINE:
            await self._meters(self._link, meter_rate_ms, replaced=replaced)

    async def rename(self, channel: int, name: str) -> None:
        spec = self._spec_or_fail()
        await self.send(spec.rename_command(channel, name))

    async def identify(self, channel: int | None) -> None:
        spec = self._spec_or_fail()
        await self.send(spec.identify_command(channel))

    def _spec_or_fail(self) -> FamilySpec:
        spec = self.spec
        if spec is None:
            raise ConnectionFailed(f"{self.name} is not connected")
        return spec

    # --- one connection ---

    async def _connection(self) -> None:
        """One connection, from connect to its end (which always raises)."""
        self._enter(Phase.CONNECTING, error=self.error)
        hint = self.identity.transport if self.identity is not None else None
        link, transport, refused = await open_probe_link(
            self.host, self.port, hint, self.connect_timeout
        )
        self._link = link
        self.connects += 1
        meters_on = False
        try:
            self._enter(Phase.PROBING, error=self.error)
            result = await self._probe(link, transport, refused)
            await self._identified(result)
            meters_on = True
            await self._converse(link)
        finally:
            self._link = None
            if meters_on:
                await self._meters_off(link)
            await link.close()

    async def _probe(
        self, link: Link, transport: str, refused: ConnectionFailed | None
    ) -> ProbeResult:
        try:
            return await identify(link, transport, refused)
        except PeerTimeout as exc:
            known = self.identity.family if self.identity is not None else Family.SLXD
            if known is Family.SLXD:
                raise  # the probe's hint names the SLX-D menus
            raise PeerTimeout(
                f"{self.name}: connected but answered nothing within {PROBE_WINDOW_S:g} s "
                "(still starting up, or its firmware hung)"
            ) from exc

    async def _converse(self, link: Link) -> None:
        spec = self._spec_or_fail()
        self._enter(Phase.SYNCING, error=self.error)
        decoder = StreamDecoder(spec.framing)
        interpreter = spec.new_interpreter()
        self._answered = self._dump_seen = self._reassert = self._polling = False
        self.foreign_rates.clear()
        self._heartbeat_sent = None
        self._last_frame = time.monotonic()
        self._silent = False
        # Every chunk goes to _take as it arrives (set before the first command, so no
        # answer is missed); this task only keeps time. The bound method, not a partial
        # with keywords: that copies its keywords on every call, and this is every write.
        self._decoder, self._interpreter, self._scan = decoder, interpreter, spec.sample_scan
        link.deliver_to(self._take)
        self._watch_silence(SILENCE_S)
        try:
            # Meters first: the dump that follows then reports our own rate, so a different
            # rate reported later is somebody else's.
            await self._meters(link, self.meter_rate_ms)
            for command in spec.sync_commands(self.channels):
                await link.send(command)
            fallback = spec.fallback_commands(self.channels)
            get_all_sent = time.monotonic()
            next_fallback = get_all_sent + GET_ALL_ANSWER_S if fallback else None
            # The first heartbeat at once: latency at once.
            await self._keep_time(link, spec, fallback, next_fallback, get_all_sent)
        finally:
            if self._silence_watch is not None:
                self._silence_watch.cancel()
                self._silence_watch = None

    async def _keep_time(
        self,
        link: Link,
        spec: FamilySpec,
        fallback: list[bytes],
        next_fallback: float | None,
        next_heartbeat: float,
    ) -> None:
        last_heartbeat = next_heartbeat
        # Ends by raising, or when stop() was asked for: a cancellation swallowed by a
        # library must not keep a stopped machine talking.
        while not self._stopping.is_set():
            self._raise_if_silent()
            now = time.monotonic()
            if next_fallback is not None and now >= next_fallback:
                next_fallback = await self._fallback(link, fallback, now)
            if self._reassert and now >= self._set_at + REASSERT_S:
                await self._meters(link, self.meter_rate_ms)
            # Recomputed every pass: the interval shrinks the moment meters slow down.
            next_heartbeat = min(next_heartbeat, last_heartbeat + self._heartbeat_interval())
            if now >= next_heartbeat:
                # Its answer is read as it comes, so the latency is the receiver's own. Made
                # prompt first: what waited for the read tick (the dump's METER_RATE of
                # channel 1) is taken before the clock starts, not mistaken for the answer.
                link.prompt(True)
                self._heartbeat_sent = last_heartbeat = now
                await link.send(spec.heartbeat_command())
                next_heartbeat = now + self._heartbeat_interval()
            deadlines = [next_heartbeat]  # silence: the watch wakes this wait (_look)
            if next_fallback is not None:
                deadlines.append(next_fallback)
            if self._reassert:
                deadlines.append(self._set_at + REASSERT_S)
            # On the beat (at most one read tick late): the read tick's wake-up serves it.
            wake_on_beat = beat_after(min(deadlines) - now)
            try:
                # One timeout scope until the next thing to do (a heartbeat, 30 s away while
                # meters flow), not one per read: meters arrive every 100 ms.
                async with asyncio.timeout_at(wake_on_beat) as self._scope:
                    await link.failed()  # returns only by raising why the link ended
                    raise ConnectionFailed(f"{self.name}: link ended")
            except TimeoutError:
                self._raise_if_silent()
            finally:
                self._scope = None  # over: a report until the next wait has none to wake

    def _watch_silence(self, after: float) -> None:
        # On the beat (at most one read tick late): the read tick's wake-up serves it.
        loop = asyncio.get_running_loop()
        self._silence_watch = loop.call_at(beat_after(after), self._look)

    def _look(self) -> None:
        """The silence watchdog's look (a timer): wakes the conversation when no valid frame
        came for SILENCE_S, else looks again when that could first be so."""
        self._silence_watch = None
        quiet = time.monotonic() - self._last_frame
        if quiet >= SILENCE_S and self._link is not None:
            self._link.read_now()  # bytes waiting for the read tick are not silence
            quiet = time.monotonic() - self._last_frame
        if quiet < SILENCE_S:
            self._watch_silence(SILENCE_S - quiet)
            return
        self._silent = True
        # A scope already expiring wakes the loop anyway (and may not be rescheduled).
        if self._scope is not None and not self._scope.expired():
            self._scope.reschedule(asyncio.get_running_loop().time())

    def _raise_if_silent(self) -> None:
        if self._silent:
            what = "no data" if self._answered else "no answer to its first commands"
            raise PeerTimeout(f"{self.name}: {what} for {SILENCE_S:g} s")

    async def _fallback(self, link: Link, commands: list[bytes], now: float) -> float | None:
        """`GET 0 ALL` unanswered: GET each property instead, and again on a slow poll."""
        if self._dump_seen and not self._polling:
            return None  # answered: REPs keep everything live from here
        if not self._polling:
            self._polling = True
            log.info(
                "%s does not answer GET 0 ALL; reading its properties one by one",
                self.name,
                extra=self._log_extra,
            )
        for command in commands:
            await link.send(command)
        return now + FALLBACK_POLL_S

    def _heartbeat_interval(self) -> float:
        """Slow while our meters keep the watchdog fed, fast when they cannot."""
        rate = wire_rate(self.meter_rate_ms)
        feeds = (
            rate > 0
            and rate * METER_SAMPLES_PER_WINDOW <= SILENCE_S * 1000
            and not self.foreign_rates
        )
        return HEARTBEAT_S if feeds else HEARTBEAT_FAST_S

    async def _meters(self, link: Link, meter_rate_ms: int, *, replaced: int | None = None) -> None:
        spec = self._spec_or_fail()
        self._set_at = time.monotonic()
        self._replaced_rate = replaced
        self._reassert = False
        for command in spec.meter_commands(meter_rate_ms, self.channels):
            await link.send(command)

    async def _meters_off(self, link: Link) -> None:
        spec = self.spec
        if spec is None:
            return
        with contextlib.suppress(MicboardError, OSError, TimeoutError, CommandRejected):
            async with asyncio.timeout(METER_OFF_TIMEOUT_S):
                for command in spec.meter_commands(0, self.channels):
                    await link.send(command)

    # --- reading (called by the link for every chunk) ---

    def _take(self, data: bytes) -> None:
        decoder, scan = self._decoder, self._scan
        # A metering write (nearly every one, once the receiver answered): one pass over
        # it, its values straight to the sink, no object per frame.
        if scan is not None and self._answered:
            rows = decoder.sample_rows(data, scan.frame, scan.frame_len)
            if rows is not None:
                self.frames += len(rows)
                self._last_frame = time.monotonic()
                self.sink.apply_samples(self.receiver_id, scan.read(rows))
                return
        garbage_before = decoder.garbage_count
        frames = decoder.feed(data)
        if decoder.garbage_count != garbage_before:
            self._log_garbage(decoder.garbage_count - garbage_before, decoder.last_error)
        if not frames:
            return
        now = self._last_frame = time.monotonic()
        first = not self._answered
        if first:
            self._first_answer()
        latency: float | None = None
        sink, receiver_id = self.sink, self.receiver_id
        for frame in frames:
            self.frames += 1
            kind = frame.kind
            if kind is not MessageKind.SAMPLE and kind is not MessageKind.ERR:
                if frame.prop == "METER_RATE":
                    self._meter_rate_report(frame, now)
                else:
                    self._dump_seen = True
                if self._heartbeat_sent is not None and self._heartbeat_reply(frame):
                    if now - self._latency_at >= HEARTBEAT_S or first:
                        latency = round((now - self._heartbeat_sent) * 1000, 1)
                        self._latency_at = now
                    self._heartbeat_sent = None
                    if self._link is not None:
                        self._link.prompt(False)  # back to the read tick
            sink.apply(receiver_id, self._interpreter.interpret(frame))
        if first:
            self._now_online(now, latency)
        elif latency is not None:
            self._enter(Phase.ONLINE, latency_ms=latency)

    def _heartbeat_reply(self, frame: Frame) -> bool:
        spec = self.spec
        return spec is not None and spec.is_heartbeat_reply(frame)

    def _meter_rate_report(self, frame: Frame, now: float) -> None:
        spec = self.spec
        if spec is None or not spec.reports_meter_rate or not frame.args:
            return
        value = frame.args[0]
        if not value.isdigit():
            return
        reported, ours = int(value), wire_rate(self.meter_rate_ms)
        channel = frame.channel or 0
        if reported == ours:
            self.foreign_rates.pop(channel, None)
            return
        if reported == self._replaced_rate and now - self._set_at < SET_ECHO_GRACE_S:
            return  # our own old rate, reported before our change reached the receiver
        self.foreign_rates[channel] = reported
        if not self._reassert:
            self._reassert = True
            # Act now. A scope already expiring wakes the loop anyway and may not be
            # rescheduled (RuntimeError): on uvloop a chunk can be delivered after the
            # wait's timer fired and before the task has left the scope.
            if self._scope is not None and not self._scope.expired():
                self._scope.reschedule(asyncio.get_running_loop().time())
        if reported not in self._logged_rates:
            self._logged_rates.add(reported)
            effect = "off" if reported == 0 else "slower" if reported > ours else "faster"
            log.warning(
                "another controller set METER_RATE to %05d on %s; meters will be %s "
                "(ours, %05d, is asked for again at most once a minute)",
                reported,
                self.host,
                effect,
                ours,
                extra=self._log_extra,
            )
