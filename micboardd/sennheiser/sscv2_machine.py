"""One EW-DX on SSCv2 (firmware >= 4): a `sources/session.py` machine whose connection is one
SSCv2 session (probe, subscribe, online; silence, the stream ended, 401 or a new certificate
end it), on the shared phases, backoff and failure logging.

As for every receiver, never show OK for a receiver we cannot see: SYNCING counts as offline,
and only the first `event: message` with values of the current session forgets what the
previous session said (`_first_answer()`), applies the new values and makes the receiver
ONLINE.

Every session: `GET /api/ssc/version` without credentials (which protocol it speaks; the
first certificate seen is pinned here), `GET /api/device/identity` (product -> model and
channel count), then the event stream, `PUT .../add` of every resource we show
(`sscv2.resource_paths`); the receiver sends their current values at once, then changes.
Meters come only when they change, so a still receiver sends nothing: whenever nothing was
heard for `HEARTBEAT_IDLE_S` the session's list is read (`GET .../{uuid}`), which proves the
receiver and the session alive and measures latency. Nothing heard for `SILENCE_S` ends the
session. A receiver that says it is not SSCv2, refuses the password, has none set, or shows
another certificate than the pinned one is an ERROR with that reason, retried slowly (or at
once on `wake()`, e.g. when a password is saved).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from micboardd.aio import Backoff, cancel_and_wait
from micboardd.errors import ConfigError, ConnectionFailed, MicboardError, PeerTimeout
from micboardd.model import Family, Reading
from micboardd.sennheiser.errors import BadResource, NotSscv2, Sscv2Unavailable
from micboardd.sennheiser.sscv2 import (
    HTTPS_PORT,
    Sscv2Interpreter,
    SscVersion,
    SseEvent,
    parse_open,
    parse_updates,
    resource_paths,
)
from micboardd.sennheiser.sscv2_client import CONNECT_TIMEOUT_S, EventStream, Sscv2Client
from micboardd.sennheiser.sscv2_trust import Password, Pins
from micboardd.sennheiser.values import model_fields
from micboardd.sources.ports import ProbeResult, ReadingSink
from micboardd.sources.session import Identified, Phase, SessionMachine
from micboardd.tls.pinning import PinningContext, make_context

log = logging.getLogger(__name__)

IDENTITY_PATH = "/api/device/identity"
# How a receiver reached over SSCv2 is described (`ProbeResult.transport`).
TRANSPORT = "sscv2"
# The Shure machine's bound: a receiver we have not heard from for 2 s is offline.
SILENCE_S = 2.0
# Nothing heard for this long (still meters): ask the receiver, four times per silence window.
HEARTBEAT_IDLE_S = 0.5
# At least this often anyway: latency, and proof the session still holds our list.
HEARTBEAT_S = 30.0
# The `event: open` that names the session follows the stream's headers at once.
OPEN_EVENT_S = 2.0
# Retry schedule, as for Shure receivers: back within 5 s of returning, one try every few s.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 3.0
STABLE_AFTER_S = 10.0
# A receiver that needs someone to act (password, certificate, Legacy Mode) is asked again
# only this often, unless woken (a password saved).
REJECTED_RETRY_S = 60.0
# Ending the session on close: best effort; a dead receiver must not hold shutdown up.
END_SESSION_TIMEOUT_S = 0.5
# Channels an SSCv2 product can have when its code is unknown (the largest EW-DX, EM 4).
FALLBACK_CHANNELS = 4


@dataclass(frozen=True, slots=True)
class Sscv2Identity:
    """What a receiver said it is at the start of a session."""

    model: str
    channels: int
    protocol: str
    product: str | None = None
    serial: str | None = None

    def same_receiver(self, other: Sscv2Identity) -> bool:
        if self.serial and other.serial:
            return self.serial == other.serial
        return (self.model, self.channels) == (other.model, other.channels)

    def probe_result(self, port: int | None = None) -> ProbeResult:
        """As every machine and discovery describe what answers at an address."""
        return ProbeResult(Family.EWDX, self.model, self.channels, TRANSPORT, port=port)


def identity_from(version: SscVersion, body: object) -> Sscv2Identity:
    """The identity resource (`{"product", "serial", ...}`) -> model and channels (pure)."""
    product = body.get("product") if isinstance(body, dict) else None
    serial = body.get("serial") if isinstance(body, dict) else None
    fields = model_fields(product) if isinstance(product, str) else {}
    model = fields.get("model")
    channels = fields.get("channels")
    return Sscv2Identity(
        model=model if isinstance(model, str) and model else "EW-DX",
        channels=channels if isinstance(channels, int) and channels > 0 else FALLBACK_CHANNELS,
        protocol=version.protocol,
        product=product if isinstance(product, str) else None,
        serial=serial if isinstance(serial, str) and serial else None,
    )


PasswordSource = Callable[[], Password | None]


class Sscv2Machine(SessionMachine):
    """Keeps one SSCv2 receiver subscribed and its channels flowing into the sink."""

    WHAT = "Sennheiser EW-DX receiver (SSCv2)"

    def __init__(
        self,
        sink: ReadingSink,
        receiver_id: str,
        host: str,
        port: int = HTTPS_PORT,
        *,
        pins: Pins,
        password: PasswordSource,
        meter_rate_ms: int = 0,  # the receiver paces its meters itself
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
        self.pins = pins
        self.password = password
        self.connect_timeout = connect_timeout
        self.events = 0
        self.session: str | None = None
        self.subscribed: list[str] = []
        self._last_heard = 0.0
        self._opened: asyncio.Event = asyncio.Event()
        self._closed_by_peer = False

    @property
    def name(self) -> str:
        model = self.identity.model if self.identity is not None else "SSCv2 receiver"
        return f"{model} {self.host}:{self.port}"

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def _failure(self, exc: MicboardError) -> tuple[str, bool]:
        if isinstance(exc, Sscv2Unavailable):
            return str(exc), exc.rejected
        if isinstance(exc, ConfigError):  # a password file that cannot be used: fix it first
            return str(exc), True
        return super()._failure(exc)

    async def _connection(self) -> None:
        """One session, from the version probe to its end (which always raises)."""
        self._enter(Phase.CONNECTING, error=self.error)
        pin, origin = await self.pins.load(self.host_port)
        context = make_context(ca_file=None, pin=pin, pin_origin=origin)
        async with Sscv2Client(
            self.host, self.port, context, connect_timeout=self.connect_timeout
        ) as client:
            self.connects += 1
            self._enter(Phase.PROBING, error=self.error)
            version = await client.version()
            await self._trusted(context)
            if not version.speaks_sscv2:
                raise NotSscv2(
                    f"{self.host_port} speaks SSC {version.protocol}, not SSCv2 (Legacy Mode "
                    "on?): add it at port 45 instead"
                )
            client.password = self.password()  # read each time: a new one is used at once
            identity = identity_from(version, await client.get(IDENTITY_PATH, auth=False))
            await self._identified(identity.probe_result())
            self._enter(Phase.SYNCING, error=self.error)
            async with client.stream() as stream:
                await self._converse(client, stream)

    async def _trusted(self, context: PinningContext) -> None:
        """The receiver answered: a certificate trusted on first use is recorded now."""
        if context.first_seen is not None:
            await self.pins.record(self.host_port, context.first_seen)
            context.first_seen = None

    async def _converse(self, client: Sscv2Client, stream: EventStream) -> None:
        interpreter = Sscv2Interpreter(max_channels=self.channels)
        self._answered = self._closed_by_peer = False
        self._opened = asyncio.Event()
        self.session = stream.session
        self._last_heard = time.monotonic()
        reader = asyncio.create_task(
            self._read(stream, interpreter), name=f"sscv2 events {self.host_port}"
        )
        try:
            await self._await_open(reader)
            assert self.session is not None
            paths = resource_paths(self.channels)
            await client.add(self.session, paths)
            self.subscribed = paths
            await self._keep_alive(client, reader)
        finally:
            # The session first: while this task is being cancelled (stop()), cancel_and_wait
            # re-raises at once, and the receiver would keep a session slot taken.
            await self._end(client)
            await cancel_and_wait(reader)

    async def _await_open(self, reader: asyncio.Task[None]) -> None:
        if self.session is not None and self._opened.is_set():
            return
        opened = asyncio.create_task(self._opened.wait())
        try:
            done, _ = await asyncio.wait({opened, reader}, timeout=OPEN_EVENT_S,
                                        return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            await cancel_and_wait(opened)
        if reader in done:
            await reader  # raises why the stream ended
            raise ConnectionFailed(f"{self.name}: the event stream ended before it opened")
        if self.session is None:
            raise PeerTimeout(f"{self.name}: the event stream named no session")

    async def _keep_alive(self, client: Sscv2Client, reader: asyncio.Task[None]) -> None:
        """Until the session ends: heartbeats in quiet times, the silence watchdog."""
        last_heartbeat = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            silent_until = self._last_heard + SILENCE_S
            if now >= silent_until:
                what = "no data" if self._answered else "no values after subscribing"
                raise PeerTimeout(f"{self.name}: {what} for {SILENCE_S:g} s")
            if now - self._last_heard >= HEARTBEAT_IDLE_S or now - last_heartbeat >= HEARTBEAT_S:
                last_heartbeat = now
                await self._heartbeat(client, silent_until)
                continue
            wake_at = min(silent_until, self._last_heard + HEARTBEAT_IDLE_S)
            done, _ = await asyncio.wait({reader}, timeout=max(wake_at - now, 0.0))
            if done:
                await reader  # raises why the stream ended
                why = "closed the subscription" if self._closed_by_peer else "ended the stream"
                raise ConnectionFailed(f"{self.name}: the receiver {why}")

    async def _heartbeat(self, client: Sscv2Client, silent_until: float) -> None:
        assert self.session is not None
        sent = time.monotonic()
        try:
            async with asyncio.timeout(max(silent_until - sent, 0.0)):
                paths = await client.subscriptions(self.session)
        except TimeoutError:
            raise PeerTimeout(f"{self.name}: no data for {SILENCE_S:g} s") from None
        now = self._last_heard = time.monotonic()
        if not set(self.subscribed) <= set(paths):
            raise ConnectionFailed(f"{self.name}: the receiver dropped our subscriptions")
        if self._answered:
            self._enter(Phase.ONLINE, latency_ms=round((now - sent) * 1000, 1))

    async def _end(self, client: Sscv2Client) -> None:
        session, self.session, self.subscribed = self.session, None, []
        if session is None or self._closed_by_peer:
            return
        with contextlib.suppress(MicboardError, OSError, TimeoutError):
            async with asyncio.timeout(END_SESSION_TIMEOUT_S):
                await client.end(session)

    # --- reading ---

    async def _read(self, stream: EventStream, interpreter: Sscv2Interpreter) -> None:
        seen = 0  # this stream's garbage already counted
        async for batch in stream.batches():
            garbage = stream.parser.garbage_count
            if garbage != seen:
                self._log_garbage(garbage - seen, stream.parser.last_error)
                seen = garbage
            for event in batch:
                if self._take(event, interpreter):
                    return

    def _take(self, event: SseEvent, interpreter: Sscv2Interpreter) -> bool:
        """One event; True when it ends the session."""
        self.events += 1
        try:
            if event.event == "open":
                self.session = self.session or parse_open(event.data).session
                self._opened.set()
                self._last_heard = time.monotonic()
            elif event.event == "close":
                self._closed_by_peer = True
                return True
            elif event.event == "message":
                self._values(interpreter.interpret_updates(parse_updates(event.data)))
        except BadResource as exc:
            self._log_garbage(1, str(exc))
        return False

    def _values(self, readings: list[Reading]) -> None:
        now = self._last_heard = time.monotonic()
        self.frames += 1
        first = not self._answered
        if first:
            self._first_answer()
        self.sink.apply(self.receiver_id, readings)
        if first:
            self._now_online(now)
