"""A simulated EW-DX receiver (EM 2, EM 2 Dante, EM 4 Dante) speaking SSC v1 over UDP.

What it does, as the real EM 2 in real-captures.md §8 did:
* every datagram is one JSON object; any source port is answered, at that port;
* get (null leaves) and set (values) trees; the reply's key order is the device's own
  (channels descending, leaves before containers, alphabetical), never the request's;
* a path that does not exist (or a container asked for as a whole) -> `404 address not found`
  at that path; a transmitter leaf with no transmitter linked -> `424 failed dependency`;
  a set it cannot take -> `406` [U: the code for a refused value is not documented];
  bytes that are not a JSON object -> the bare `{"osc":{"error":[400,{...}]}}`;
* subscriptions: the ack echoes `#` with the granted `min`/`max`/`lifetime`/`count`, the
  current values follow at once (transmitter leaves as 424 errors while none is linked), then
  changes: settings and warnings as soon as they change, meters one leaf per datagram on the
  meter tick when they changed (`min` throttles, a non-zero `max` repeats unchanged values).
  The same leaves subscribed again renew (a new lifetime and count); `"#":{"cancel":true}`
  ends them silently; on expiry every leaf gets its own `310 subscription terminates`; after
  `count` notifications likewise (0 = no limit) [U: what count counts is not documented];
* up to 8 clients hold subscriptions; a ninth client's subscribe is ignored (no answer)
  [U: what a real EM 2 does then is not documented].

    async with SimEwdx("EWDX-EM2", "127.19.0.2") as rx:
        ...                          # send JSON datagrams to rx.host:rx.port
        rx.tx_off(1)                 # subscribers get 424s and NoLink
        rx.set_meters(2, rf_dbm=[-70.0], af_dbfs=-12.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from micboardd.model import JSON
from micboardd.sennheiser.ssc1 import (
    DEFAULT_COUNT,
    DEFAULT_LIFETIME_S,
    FAILED_DEPENDENCY,
    MESSAGE_NOT_UNDERSTOOD,
    NOT_ACCEPTABLE,
    NOT_FOUND,
    SUBSCRIPTION_TERMINATES,
    Path,
)
from micboardd.sim.sennheiser import (
    SennheiserSim,
    SennheiserState,
    af_dbfs,
    diversity,
    rsqi_percent,
    rssi_dbm,
    rx_warnings,
    tx_warnings,
    valid_name,
)

log = logging.getLogger(__name__)

# An EM 2 serves up to 8 concurrent clients (developer's guide).
MAX_CLIENTS = 8
# How often meters are looked at: 10 Hz, about the rate the real unit's notifications came at.
METER_TICK_S = 0.1
# Lifetimes granted: at least a second (a 0 would end before the first notification), at most
# an hour (nothing renews less often).
MIN_LIFETIME_S = 1
MAX_LIFETIME_S = 3600
# Addresses remembered for send_garbage; the oldest is forgotten beyond this.
MAX_KNOWN_ADDRESSES = 64
DESCRIPTIONS = {
    MESSAGE_NOT_UNDERSTOOD: "message not understood",
    NOT_FOUND: "address not found",
    NOT_ACCEPTABLE: "not acceptable",
    FAILED_DEPENDENCY: "failed dependency",
    SUBSCRIPTION_TERMINATES: "subscription terminates",
}
_NUMBERED = re.compile(r"(rx|tx)(\d+)\Z")

Addr = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Failed:
    """A leaf that answers with an error instead of a value."""

    code: int


NO_TRANSMITTER = Failed(FAILED_DEPENDENCY)


def leaf_values(state: SennheiserState) -> dict[Path, JSON | Failed]:
    """Every non-meter leaf the simulator serves, with its current value or error."""
    out: dict[Path, JSON | Failed] = {
        ("device", "name"): state.device_name,
        ("device", "identity", "product"): state.spec.ssc_product,
        ("device", "identity", "serial"): state.serial,
        ("device", "identity", "version"): state.firmware,
        ("device", "encryption"): state.encryption,
    }
    for ch in state.channels:
        rx = f"rx{ch.number}"
        out[(rx, "name")] = ch.name
        out[(rx, "frequency")] = ch.frequency_khz
        out[(rx, "gain")] = ch.gain_db
        out[(rx, "mute")] = ch.mute
        out[(rx, "warnings")] = rx_warnings(ch)
        tx = ("mates", f"tx{ch.number}")
        present = ch.tx_present
        values: dict[Path, JSON] = {
            (*tx, "battery", "gauge"): ch.battery_percent,
            (*tx, "battery", "lifetime"): ch.battery_minutes,
            (*tx, "battery", "type"): ch.battery_type,
            (*tx, "type"): ch.tx_model,
            (*tx, "name"): ch.tx_name,
            (*tx, "mute"): ch.tx_mute,
            (*tx, "warnings"): tx_warnings(ch),
        }
        for where, value in values.items():
            out[where] = value if present else NO_TRANSMITTER
    return out


def meter_values(state: SennheiserState, jitter: bool = False) -> dict[Path, JSON]:
    out: dict[Path, JSON] = {}
    for ch in state.channels:
        rx = f"rx{ch.number}"
        out[("m", rx, "rssi")] = rssi_dbm(ch, jitter)
        out[("m", rx, "rsqi")] = rsqi_percent(ch, jitter)
        out[("m", rx, "divi")] = diversity(ch)
        out[("m", rx, "af")] = af_dbfs(ch, jitter)
    return out


def _order(where: Path) -> tuple[tuple[int, int, str], ...]:
    """The device's own key order: leaves first, numbered nodes descending, else by name."""
    key = []
    for depth, part in enumerate(where):
        numbered = _NUMBERED.match(part)
        container = 1 if depth < len(where) - 1 else 0
        key.append((container, -int(numbered.group(2)) if numbered else 0, part))
    return tuple(key)


def tree(pairs: Iterable[tuple[Path, JSON]]) -> dict[str, JSON]:
    root: dict[str, JSON] = {}
    for where, value in sorted(pairs, key=lambda p: _order(p[0])):
        node = root
        for part in where[:-1]:
            node = node.setdefault(part, {})
        node[where[-1]] = value
    return root


def _request_leaves(node: JSON, prefix: Path) -> list[tuple[Path, JSON]]:
    if not isinstance(node, dict) or not node:
        return [(prefix, node)]
    out: list[tuple[Path, JSON]] = []
    for key, child in node.items():
        out += _request_leaves(child, (*prefix, str(key)))
    return out


def _int(value: Any, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


@dataclass(eq=False)
class Subscription:
    client: Addr
    leaves: list[Path]
    min_ms: int
    max_ms: int
    count: int
    lifetime_s: int
    expires: float
    remaining: int | None  # notifications left; None: no limit
    sent: dict[Path, JSON] = field(default_factory=dict)
    sent_at: dict[Path, float] = field(default_factory=dict)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, rx: SimEwdx) -> None:
        self.rx = rx

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.rx._datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("%s: UDP error %s", self.rx.address, exc)


class SimEwdx(SennheiserSim):
    """A simulated EW-DX receiver on `host:port` (port 0 = pick a free one; real units use 45)."""

    protocol = "ssc1"

    def __init__(
        self,
        model: str = "EWDX-EM2",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        names: Sequence[str] | None = None,
        tx_on: bool = True,
        hung: bool = False,
        meter_jitter: bool = False,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        super().__init__(
            model, host, port, names=names, tx_on=tx_on, hung=hung, meter_jitter=meter_jitter
        )
        if self.spec.ssc_product == "":
            raise ValueError(f"{self.spec.key} does not speak SSC (use SimG4)")
        self.max_clients = max_clients
        self.subscriptions: list[Subscription] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.garbage_received = 0
        self.ignored = 0  # datagrams that arrived while hung
        self.sent_datagrams = 0
        self._known: dict[Addr, None] = {}
        self._snapshot = leaf_values(self.state)
        self._ticker: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.host, self.port)
        )
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        self._snapshot = leaf_values(self.state)
        self._ticker = self.spawn(self._tick_loop())

    async def _unlisten(self) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        self.subscriptions.clear()
        self._known.clear()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    @property
    def clients(self) -> int:
        """Clients holding at least one subscription."""
        return len({s.client for s in self.subscriptions})

    def subscribed(self, client: Addr | None = None) -> set[Path]:
        """Leaves under subscription (of one client, or of all)."""
        return {
            leaf
            for s in self.subscriptions
            if client is None or s.client == client
            for leaf in s.leaves
        }

    # -- sending --------------------------------------------------------------------------

    def _send(self, message: dict[str, JSON], addr: Addr) -> None:
        if self.frozen or self.transport is None or self.transport.is_closing():
            return
        self.transport.sendto(json.dumps(message, separators=(",", ":")).encode(), addr)
        self.sent_datagrams += 1

    def _send_errors(self, errors: Sequence[tuple[Path, int]], addr: Addr) -> None:
        if errors:
            pairs = [(where, [code, {"desc": DESCRIPTIONS[code]}]) for where, code in errors]
            self._send({"osc": {"error": [tree(pairs)]}}, addr)

    def _send_garbage(self, data: bytes) -> None:
        if self.transport is None or self.frozen:
            return
        for addr in self._known:
            self.transport.sendto(data, addr)

    # -- requests -------------------------------------------------------------------------

    def _datagram(self, data: bytes, addr: Addr) -> None:
        if not self.powered:
            return
        if self.frozen:
            self.ignored += 1
            return
        self.record(data)
        self._known[addr] = None
        if len(self._known) > MAX_KNOWN_ADDRESSES:
            del self._known[next(iter(self._known))]
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, ValueError, RecursionError):
            document = None
        if not isinstance(document, dict) or not document:
            self.garbage_received += 1
            bare = [MESSAGE_NOT_UNDERSTOOD, {"desc": DESCRIPTIONS[MESSAGE_NOT_UNDERSTOOD]}]
            self._send({"osc": {"error": bare}}, addr)
            return
        osc = document.pop("osc", None)
        if osc is not None:
            self._osc(osc, addr)
        if document:
            self._get_set(_request_leaves(document, ()), addr)

    def _osc(self, osc: JSON, addr: Addr) -> None:
        state = osc.get("state") if isinstance(osc, dict) else None
        entries = state.get("subscribe") if isinstance(state, dict) else None
        if entries is None:
            self._send_errors([(("osc",), NOT_FOUND)], addr)
            return
        for entry in entries if isinstance(entries, list) else [entries]:
            if isinstance(entry, dict):
                self._subscribe(entry, addr)

    def _get_set(self, leaves: list[tuple[Path, JSON]], addr: Addr) -> None:
        meters = meter_values(self.state)
        answered: list[tuple[Path, JSON]] = []
        errors: list[tuple[Path, int]] = []
        changed = False
        for where, value in leaves:
            # Meters are served only by subscription.
            current = Failed(NOT_FOUND) if where in meters else self._snapshot.get(where)
            if current is None and where not in self._snapshot:
                current = Failed(NOT_FOUND)
            if isinstance(current, Failed):
                errors.append((where, current.code))
            elif value is None:
                answered.append((where, current))
            elif self._apply(where, value):
                answered.append((where, value))
                changed = True
            else:
                errors.append((where, NOT_ACCEPTABLE))
        if answered:
            self._send(tree(answered), addr)
        self._send_errors(errors, addr)
        if changed:
            self.publish()

    def _apply(self, where: Path, value: JSON) -> bool:
        """Take a set; False when this leaf is read-only or the value is not one it takes."""
        numbered = _NUMBERED.match(where[0]) if len(where) == 2 else None
        if numbered is None or numbered.group(1) != "rx":
            return False
        channel = self.state.channel(int(numbered.group(2)))
        if where[1] == "name" and isinstance(value, str) and valid_name(value):
            channel.name = value
            return True
        if where[1] == "mute" and isinstance(value, bool):
            channel.mute = value
            return True
        return False

    # -- subscriptions --------------------------------------------------------------------

    def _subscribe(self, entry: dict[str, JSON], addr: Addr) -> None:
        raw = entry.pop("#", None)
        params = raw if isinstance(raw, dict) else {}
        cancel = params.get("cancel") is True
        holders = {s.client for s in self.subscriptions}
        if not cancel and addr not in holders and len(holders) >= self.max_clients:
            log.debug("%s: no room for a subscription of %s:%d", self.address, *addr)
            return
        meters = meter_values(self.state, self.meter_jitter and self.jitter_phase)
        wanted = [where for where, _ in _request_leaves(entry, ())] if entry else []
        known = [w for w in wanted if w in self._snapshot or w in meters]
        self._send_errors([(w, NOT_FOUND) for w in wanted if w not in known], addr)
        if not known:
            return
        self._drop_leaves(addr, set(known))
        if cancel:
            ack: dict[str, JSON] = {"#": {"cancel": True}}
            ack.update(tree((w, None) for w in known))
            self._send({"osc": {"state": {"subscribe": [ack]}}}, addr)
            return
        lifetime = min(
            max(_int(params.get("lifetime"), DEFAULT_LIFETIME_S), MIN_LIFETIME_S), MAX_LIFETIME_S
        )
        count = _int(params.get("count"), DEFAULT_COUNT)
        loop = asyncio.get_running_loop()
        sub = Subscription(
            client=addr,
            leaves=known,
            min_ms=_int(params.get("min"), 0),
            max_ms=_int(params.get("max"), 0),
            count=count,
            lifetime_s=lifetime,
            expires=loop.time() + lifetime,
            remaining=count or None,
        )
        self.subscriptions.append(sub)
        granted = {"min": sub.min_ms, "max": sub.max_ms, "lifetime": lifetime, "count": count}
        ack = {"#": granted}
        ack.update(tree((w, None) for w in known))
        self._send({"osc": {"state": {"subscribe": [ack]}}}, addr)
        now = loop.time()
        self._notify(sub, [w for w in known if w[0] != "m"], initial=True)
        for where in known:
            if where[0] == "m":
                self._send_meter(sub, where, meters[where], now, initial=True)

    def _drop_leaves(self, addr: Addr, leaves: set[Path]) -> None:
        for sub in [s for s in self.subscriptions if s.client == addr]:
            sub.leaves = [w for w in sub.leaves if w not in leaves]
            if not sub.leaves:
                self.subscriptions.remove(sub)

    def _count(self, sub: Subscription) -> None:
        if sub.remaining is None:
            return
        sub.remaining -= 1
        if sub.remaining <= 0:
            self._terminate(sub)

    def _terminate(self, sub: Subscription) -> None:
        """One `310 subscription terminates` per leaf, as the real unit sends them."""
        if sub in self.subscriptions:
            self.subscriptions.remove(sub)
        for where in sub.leaves:
            self._send_errors([(where, SUBSCRIPTION_TERMINATES)], sub.client)

    def _notify(self, sub: Subscription, leaves: Sequence[Path], *, initial: bool = False) -> None:
        values = [(w, self._snapshot[w]) for w in leaves if w in self._snapshot]
        good = [(w, v) for w, v in values if not isinstance(v, Failed)]
        bad = [(w, v.code) for w, v in values if isinstance(v, Failed)]
        for where, value in values:
            sub.sent[where] = None if isinstance(value, Failed) else value
        if good:
            self._send(tree(good), sub.client)
        self._send_errors(bad, sub.client)
        if (good or bad) and not initial:
            self._count(sub)

    def _send_meter(
        self, sub: Subscription, where: Path, value: JSON, now: float, *, initial: bool = False
    ) -> None:
        sub.sent[where], sub.sent_at[where] = value, now
        self._send(tree([(where, value)]), sub.client)
        if not initial:
            self._count(sub)

    def publish(self) -> None:
        """Send every subscriber the settings, warnings and transmitter leaves that changed."""
        snapshot = leaf_values(self.state)
        changed = {w for w, v in snapshot.items() if self._snapshot.get(w) != v}
        self._snapshot = snapshot
        if not changed or not self.powered:
            return
        for sub in list(self.subscriptions):
            leaves = [w for w in sub.leaves if w in changed]
            if leaves:
                self._notify(sub, leaves)

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(METER_TICK_S)
            if self.frozen:
                continue
            now = loop.time()
            if self.meter_jitter:
                self.jitter_phase = not self.jitter_phase
            meters = meter_values(self.state, self.meter_jitter and self.jitter_phase)
            for sub in list(self.subscriptions):
                if now >= sub.expires:
                    self._terminate(sub)
                    continue
                self._meters_due(sub, meters, now)

    def _meters_due(self, sub: Subscription, meters: dict[Path, JSON], now: float) -> None:
        for where in list(sub.leaves):
            if where[0] != "m" or sub not in self.subscriptions:
                continue
            value = meters[where]
            since_ms = (now - sub.sent_at.get(where, 0.0)) * 1000
            changed = value != sub.sent.get(where) and since_ms >= sub.min_ms
            periodic = sub.max_ms > 0 and since_ms >= sub.max_ms
            if changed or periodic:
                self._send_meter(sub, where, value, now)
