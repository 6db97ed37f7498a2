"""One Sennheiser receiver over datagrams (SSC v1, the Media Control Protocol): the part of
a session both protocols share, on top of `sources/session.py`.

A connection opens a link, probes (what answers there now), syncs (reads and subscriptions)
and then keeps time: the protocol's `_due()` sends what is due (renewals, heartbeats) and says
when it next has something to do; the silence watchdog ends the connection after `SILENCE_S`
without a valid datagram. Every datagram goes to `_readings()` as it arrives; the first valid
one of a connection makes the hub forget the last connection's readings before the new ones
are applied, and only then is the receiver ONLINE (never OK for a microphone we cannot see).
Bytes that are not the protocol are counted and logged once; they prove nothing about
liveness.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from micboardd.aio import Backoff
from micboardd.errors import ConnectionFailed, MicboardError, PeerTimeout, ProtocolError
from micboardd.model import Reading
from micboardd.sennheiser.link import DatagramLink
from micboardd.sources.ports import ProbeResult, ReadingSink
from micboardd.sources.session import Identified, Phase, SessionMachine

# The same watchdog as for Shure: a healthy receiver is never quiet for 2 s (meters, cyclic
# blocks or the heartbeat fill every gap), and a dead one shows rx_offline within 2 s.
SILENCE_S = 2.0
# Probe: receivers answer a get within tens of ms; 2 s bounds one that answers nothing (the
# watchdog's bound), 0.3 s of quiet after the first answer means all has come.
PROBE_WINDOW_S = 2.0
PROBE_QUIET_S = 0.3
# Retry schedule as for Shure receivers: back within 5 s when the receiver is.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 3.0
STABLE_AFTER_S = 10.0
# A host that answers, but not like a receiver we know, is asked again only this often.
REJECTED_RETRY_S = 60.0
# Goodbye (cancel subscriptions, stop the push): best effort, never holds up a shutdown.
GOODBYE_TIMEOUT_S = 0.5


class DatagramMachine(SessionMachine):
    """A session over a datagram link; the protocol fills in the five steps."""

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
        self._link: DatagramLink | None = None
        self._last_answer = 0.0  # monotonic time of the last valid datagram
        self._latency_ms: float | None = None  # measured, not yet told to the hub
        self._scope: asyncio.Timeout | None = None

    # --- what a protocol writes ---

    async def _open(self) -> DatagramLink:
        raise NotImplementedError

    async def _probe(self, link: DatagramLink) -> ProbeResult:
        raise NotImplementedError

    async def _sync(self, link: DatagramLink) -> None:
        """The first commands of a connection (reads, subscriptions)."""
        raise NotImplementedError

    def _readings(self, data: bytes) -> list[Reading]:
        """One datagram -> readings; raises `ProtocolError` for bytes that are not the
        protocol. May note a latency (`_latency_ms`) or ask for an early `_due` (`_hurry`)."""
        raise NotImplementedError

    async def _due(self, link: DatagramLink, now: float) -> float:
        """Send what is due now; return when something is next due (monotonic)."""
        raise NotImplementedError

    async def _goodbye(self, link: DatagramLink) -> None:
        """Before the link closes: end subscriptions, stop pushes."""

    # --- the shared part ---

    async def _release(self) -> None:
        if self._link is not None:
            await self._link.close()
            self._link = None

    async def send(self, data: bytes) -> None:
        if self._link is None or self.phase is not Phase.ONLINE:
            raise ConnectionFailed(f"{self.name} is not connected")
        await self._link.send(data)

    def _hurry(self) -> None:
        """News that makes something due now: wake the time-keeping loop."""
        # An expiring scope wakes the loop anyway (and may not be rescheduled).
        if self._scope is not None and not self._scope.expired():
            self._scope.reschedule(asyncio.get_running_loop().time())

    async def _connection(self) -> None:
        self._enter(Phase.CONNECTING, error=self.error)
        link = await self._open()
        self._link = link
        self.connects += 1
        synced = False
        try:
            self._enter(Phase.PROBING, error=self.error)
            result = await self._probe(link)
            await self._identified(result)
            synced = True
            await self._converse(link)
        finally:
            self._link = None
            if synced:
                with contextlib.suppress(MicboardError, OSError, TimeoutError):
                    async with asyncio.timeout(GOODBYE_TIMEOUT_S):
                        await self._goodbye(link)
            await link.close()

    async def _converse(self, link: DatagramLink) -> None:
        self._enter(Phase.SYNCING, error=self.error)
        self._answered = False
        self._latency_ms = None
        self._last_answer = time.monotonic()
        link.deliver_to(self._datagram)  # before the first command: no answer is missed
        await self._sync(link)
        while not self._stopping.is_set():
            now = time.monotonic()
            due = await self._due(link, now)
            wake_at = min(self._last_answer + SILENCE_S, due)
            try:
                async with asyncio.timeout(max(wake_at - now, 0.0)) as self._scope:
                    await link.failed()  # returns only by raising why the link ended
                    raise ConnectionFailed(f"{self.name}: link ended")
            except TimeoutError:
                if time.monotonic() - self._last_answer >= SILENCE_S:
                    what = "no data" if self._answered else "no answer to its first commands"
                    raise PeerTimeout(f"{self.name}: {what} for {SILENCE_S:g} s") from None
            finally:
                self._scope = None

    def _datagram(self, data: bytes) -> None:
        try:
            readings = self._readings(data)
        except ProtocolError as exc:
            self._log_garbage(1, str(exc))
            return
        now = self._last_answer = time.monotonic()
        self.frames += 1
        first = not self._answered
        if first:
            self._first_answer()
        if readings:
            self.sink.apply(self.receiver_id, readings)
        latency, self._latency_ms = self._latency_ms, None
        if first:
            self._now_online(now, latency)
        elif latency is not None:
            self._enter(Phase.ONLINE, latency_ms=latency)


async def collect(
    link: DatagramLink,
    requests: Sequence[bytes],
    done: Callable[[list[bytes]], bool],
    window: float = PROBE_WINDOW_S,
) -> list[bytes]:
    """Send `requests` (one datagram each) and gather what comes back until `done` says so,
    `PROBE_QUIET_S` passes without news after a first answer, or the window ends."""
    got: list[bytes] = []
    news = asyncio.Event()

    def take(data: bytes) -> None:
        got.append(data)
        news.set()

    link.deliver_to(take)
    for request in requests:
        await link.send(request)
    deadline = time.monotonic() + window
    while not done(got):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        news.clear()
        try:
            async with asyncio.timeout(min(left, PROBE_QUIET_S) if got else left):
                await news.wait()
        except TimeoutError:
            break
    if not got:
        link.check()  # an ICMP error says more than silence
    return got
