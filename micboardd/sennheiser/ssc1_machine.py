"""An EW-DX receiver over SSC v1 (UDP 45): probe, get-trees, subscriptions kept alive.

Probe: a get of `device/name` and `device/identity/*`, and of each `rx{n}/name` (the channels
that answer are the channel count when the product code is not one we know).

Sync: get-trees of every channel's settings and its transmitter (a transmitter that is off
answers `424` at each leaf: no transmitter), then two subscriptions, each its own datagram:
settings + transmitter leaves (changes as they happen) and meters (`m/rx{n}/*`, at most one
notification per leaf per meter interval: `min`). Each subscription is renewed at half the
lifetime the receiver granted in its ack (a real EM 2 granted 2 s), and at once when the
receiver says it ended (`310`, one per leaf). `count` is asked as 0 [U: a real unit granted
0 when asked; the documented default, 1000 notifications, runs out in seconds of metering].

Meters are sent only on change, so a still channel is silent: a heartbeat get of `device/name`
goes out whenever nothing came for `QUIET_S`, and every `HEARTBEAT_S` for the latency.
A `404` at a subscribed path drops that path from the subscription (logged once); a bare
`400` (message not understood) is logged once. On close the subscriptions are cancelled.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from micboardd.config import MIN_METER_RATE_MS
from micboardd.errors import CommandRejected, PeerTimeout, ProtocolError
from micboardd.model import Family, Reading
from micboardd.sennheiser import ssc1
from micboardd.sennheiser.link import DatagramLink, open_udp
from micboardd.sennheiser.session import PROBE_WINDOW_S, DatagramMachine, collect
from micboardd.sennheiser.values import MAX_EWDX_CHANNELS, product, text
from micboardd.sources.ports import ProbeResult

log = logging.getLogger(__name__)

# Lifetime asked for (the documented default); renewed at half of what is granted.
LIFETIME_S = 10
RENEW_FRACTION = 0.5
# Never renew more often than this, whatever a receiver grants (a lifetime of 0 or 1 s).
MIN_RENEW_S = 0.5
# Heartbeat when nothing came for this long: four per watchdog period, so a receiver whose
# meters are still (meters come on change only) is never mistaken for a dead one.
QUIET_S = 0.5
# Heartbeat anyway this often: the latency the connections view shows.
HEARTBEAT_S = 30.0
HEARTBEAT_PATH: ssc1.Path = ("device", "name")
# The slowest meter notification we ask for: at least three per watchdog period would not
# matter (meters are not the heartbeat), but a tile updating less than once a second is dead.
MAX_METER_PERIOD_MS = 1000


@dataclass(slots=True)
class Subscription:
    """One subscription we hold: its leaves, its `min` and when it is due for renewal."""

    name: str
    paths: list[ssc1.Path]
    min_ms: int
    renew_at: float = 0.0
    granted_s: int | None = None
    dropped: set[ssc1.Path] = field(default_factory=set)

    def request(self) -> bytes:
        return ssc1.subscribe_request(
            self.paths, lifetime_s=LIFETIME_S, min_ms=self.min_ms, max_ms=0, count=0
        )


def meter_period_ms(meter_rate_ms: int) -> int:
    """The `min` of the meter subscription for our meter interval (0: meters off)."""
    if meter_rate_ms <= 0:
        return 0
    return min(max(meter_rate_ms, MIN_METER_RATE_MS), MAX_METER_PERIOD_MS)


def identify_ssc1(messages: list[ssc1.Message]) -> ProbeResult:
    """What answered the probe (pure): raises `ProtocolError` for a device that is not a
    receiver we know, `PeerTimeout` for one that said nothing useful."""
    values = {m.path: m.value for m in messages if isinstance(m, ssc1.Value)}
    errors = [m for m in messages if isinstance(m, ssc1.SscError)]
    code = values.get(("device", "identity", "product"))
    named = sorted(
        n
        for n in range(1, MAX_EWDX_CHANNELS + 1)
        if isinstance(values.get((f"rx{n}", "name")), str)
    )
    if code is None and not named:
        if errors:
            raise ProtocolError(
                "answers SSC, but has no EW-DX receiver channels "
                f"({errors[0].meaning} to the identity and channel reads)"
            )
        raise PeerTimeout("answered nothing to the SSC identity read")
    known = product(code)
    model = known.model if known is not None else (text(code) or "EW-DX")
    channels = known.channels if known is not None else max(named or [1])
    return ProbeResult(
        Family.EWDX,
        model,
        channels,
        "udp",
        text(values.get(("device", "name"))),
        text(values.get(("device", "identity", "version"))),
    )


async def ask_identity(link: DatagramLink, name: str) -> ProbeResult:
    """The probe: identity and channel names asked, the answers read (`identify_ssc1`)."""
    requests = [ssc1.get_request(ssc1.IDENTITY_PATHS)]
    requests += [ssc1.get_request([(f"rx{n}", "name")]) for n in range(1, MAX_EWDX_CHANNELS + 1)]

    def complete(got: list[bytes]) -> bool:
        # The identity and an answer for every channel read (a value or an error).
        return len(got) >= len(requests)

    got = await collect(link, requests, complete)
    messages: list[ssc1.Message] = []
    for data in got:
        try:
            messages += ssc1.parse_datagram(data)
        except ProtocolError:
            continue
    if got and not messages:
        raise ProtocolError(f"answered {len(got)} datagram(s) that are not SSC JSON")
    try:
        return identify_ssc1(messages)
    except PeerTimeout as exc:
        raise PeerTimeout(f"{name}: {exc} within {PROBE_WINDOW_S:g} s") from None


async def probe_ssc1(host: str, port: int) -> ProbeResult:
    """What answers SSC v1 at host:port (discovery, adding by address); nothing kept open."""
    link = await open_udp(host, port)
    try:
        return await ask_identity(link, f"{host}:{port}")
    finally:
        await link.close()


class Ssc1Machine(DatagramMachine):
    """Keeps one EW-DX receiver's SSC v1 session alive and its channels in the sink."""

    WHAT = "Sennheiser EW-DX receiver (SSC v1)"

    def _new_connection(self) -> None:
        self._interpreter = ssc1.Ssc1Interpreter(max(self.channels, 1))
        self._subs: list[Subscription] = []
        self._heartbeat_sent: float | None = None
        self._last_heartbeat = 0.0
        self._logged: set[str] = set()

    async def _open(self) -> DatagramLink:
        self._new_connection()
        return await open_udp(self.host, self.port)

    async def _probe(self, link: DatagramLink) -> ProbeResult:
        return await ask_identity(link, self.name)

    async def _sync(self, link: DatagramLink) -> None:
        self._new_connection()
        channels = range(1, self.channels + 1)
        for n in channels:
            await link.send(ssc1.get_request(ssc1.channel_paths(n)))
            await link.send(ssc1.get_request(ssc1.transmitter_paths(n)))
        await link.send(ssc1.get_request(ssc1.IDENTITY_PATHS))
        settings = [
            p for n in channels for p in (*ssc1.channel_paths(n), *ssc1.transmitter_paths(n))
        ]
        self._subs = [Subscription("settings", settings, 0)]
        period = meter_period_ms(self.meter_rate_ms)
        if period:
            meters = [p for n in channels for p in ssc1.meter_paths(n)]
            self._subs.append(Subscription("meters", meters, period))
        now = time.monotonic()
        for sub in self._subs:
            await self._subscribe(link, sub, now)
        self._heartbeat_sent = self._last_heartbeat = now
        await link.send(ssc1.get_request([HEARTBEAT_PATH]))

    async def _subscribe(self, link: DatagramLink, sub: Subscription, now: float) -> None:
        # Until the ack says what was granted, renew on the lifetime asked for.
        sub.renew_at = now + max(LIFETIME_S * RENEW_FRACTION, MIN_RENEW_S)
        if sub.paths:
            await link.send(sub.request())

    async def _due(self, link: DatagramLink, now: float) -> float:
        for sub in self._subs:
            if now >= sub.renew_at:
                await self._subscribe(link, sub, now)
        quiet = now - self._last_answer >= QUIET_S and now - self._last_heartbeat >= QUIET_S
        if quiet or now - self._last_heartbeat >= HEARTBEAT_S:
            if self._heartbeat_sent is None:
                self._heartbeat_sent = now
            self._last_heartbeat = now
            await link.send(ssc1.get_request([HEARTBEAT_PATH]))
        next_heartbeat = min(
            self._last_heartbeat + HEARTBEAT_S,
            max(self._last_answer, self._last_heartbeat) + QUIET_S,
        )
        return min([next_heartbeat, *(s.renew_at for s in self._subs)])

    async def _goodbye(self, link: DatagramLink) -> None:
        for sub in self._subs:
            if sub.paths:
                await link.send(ssc1.cancel_request(sub.paths))

    async def set_meter_rate(self, meter_rate_ms: int) -> None:
        await super().set_meter_rate(meter_rate_ms)
        period = meter_period_ms(meter_rate_ms)
        link = self._link
        if link is None or not getattr(self, "_subs", None):
            return
        meters = next((s for s in self._subs if s.name == "meters"), None)
        if meters is not None and period:
            meters.min_ms = period
            await self._subscribe(link, meters, time.monotonic())
        elif meters is not None:
            self._subs.remove(meters)
            await link.send(ssc1.cancel_request(meters.paths))
        elif period:
            paths = [p for n in range(1, self.channels + 1) for p in ssc1.meter_paths(n)]
            meters = Subscription("meters", paths, period)
            self._subs.append(meters)
            await self._subscribe(link, meters, time.monotonic())

    # --- reading ---

    def _readings(self, data: bytes) -> list[Reading]:
        messages = ssc1.parse_datagram(data)  # BadDatagram (a ProtocolError) for garbage
        now = time.monotonic()
        readings: list[Reading] = []
        for message in messages:
            if isinstance(message, ssc1.SubscriptionAck):
                self._acked(message, now)
                continue
            if isinstance(message, ssc1.SscError):
                self._error(message, now)
            elif (
                isinstance(message, ssc1.Value)
                and message.path == HEARTBEAT_PATH
                and self._heartbeat_sent is not None
            ):
                self._latency_ms = round((now - self._heartbeat_sent) * 1000, 1)
                self._heartbeat_sent = None
            readings += self._interpreter.interpret(message)
        return readings

    def _owner(self, path: ssc1.Path) -> Subscription | None:
        for sub in self._subs:
            if path in sub.paths:
                return sub
        return None

    def _acked(self, ack: ssc1.SubscriptionAck, now: float) -> None:
        if ack.params.cancel or not ack.paths:
            return
        sub = self._owner(ack.paths[0])
        lifetime = ack.params.lifetime_s
        if sub is None or lifetime is None:
            return
        sub.granted_s = lifetime
        sub.renew_at = now + max(lifetime * RENEW_FRACTION, MIN_RENEW_S)
        self._hurry()

    def _error(self, error: ssc1.SscError, now: float) -> None:
        if error.path is None:
            self._once(
                f"bare {error.code}",
                f"{self.name} answered {error.code} ({error.meaning}) to a request",
            )
            return
        sub = self._owner(error.path)
        if sub is None:
            return
        if error.subscription_ended:
            if sub.renew_at > now:
                sub.renew_at = now  # renewed once, however many leaves say so
                self._hurry()
        elif error.code == ssc1.NOT_FOUND:
            sub.paths.remove(error.path)
            self._once(
                "/".join(error.path),
                f"{self.name} has no {'/'.join(error.path)}; no longer asked for",
            )

    def _once(self, key: str, message: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message, extra=self._log_extra)

    # --- commands ---

    async def rename(self, channel: int, name: str) -> None:
        if not 1 <= channel <= self.channels:
            raise CommandRejected(f"{self.name} has no channel {channel}")
        await self.send(ssc1.set_request({(f"rx{channel}", "name"): name.strip().upper()}))

    async def identify(self, channel: int | None) -> None:
        raise CommandRejected(f"{self.name}: identify is not supported over SSC v1 yet")
