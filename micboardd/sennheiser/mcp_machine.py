"""An ew G3/G4/2000 receiver over the Media Control Protocol (UDP 53212): probe, Push kept
alive, the configuration re-read when its counter moves.

Probe: `Name`, `Frequency`, `Squelch`, `FirmwareRevision`, one command per datagram, from
port 53212 (`link.open_mcp`: receivers answer nothing else). A device that answers with
`Sensitivity`/`Mode` is an in-ear transmitter, not a receiver: rejected with that reason.

Sync: the configuration reads, then `Push <timeout> <cycle> 7`: the cyclic block every cycle
(our meter interval in the protocol's 100 ms steps, at most `MAX_CYCLE_MS` so the blocks feed
the silence watchdog), and at once on a configuration, warning, pilot or battery change. The
Push is renewed at half its timeout; the `Config` counter moving means the configuration
changed on the receiver: it is read again. Errors 1000-1050 are logged once per command; a
refused `Push` means this receiver cannot be monitored (rejected). On close: `Push 0 0 0`.
"""

from __future__ import annotations

import logging
import re
import time

from micboardd.errors import CommandRejected, PeerTimeout, ProtocolError
from micboardd.model import Family, Reading
from micboardd.sennheiser import mcp
from micboardd.sennheiser.link import DatagramLink, open_mcp
from micboardd.sennheiser.session import PROBE_WINDOW_S, DatagramMachine, collect
from micboardd.sources.ports import ProbeResult

log = logging.getLogger(__name__)

# The Push lasts this long unless renewed (the protocol allows up to 300 s); renewed at half.
PUSH_TIMEOUT_S = 10
RENEW_FRACTION = 0.5
# The slowest cycle we ask for: three blocks per watchdog period, so silence means a dead
# receiver, never a slow meter.
MAX_CYCLE_MS = 600
PUSH_MODE = mcp.PUSH_CONFIG | mcp.PUSH_WARNINGS | mcp.PUSH_PILOT_BATTERY
PROBE_COMMANDS = ("Name", "Frequency", "Squelch", "FirmwareRevision")
# What an ew receiver is called: the protocol names no model (G3, G4 and 2000 answer alike).
MODEL = "ew G3/G4 EM"


def cycle_ms(meter_rate_ms: int) -> int:
    """The Push cycle for our meter interval: 100 ms steps, 100..MAX_CYCLE_MS (meters off
    still need the blocks: they are the heartbeat)."""
    if meter_rate_ms <= 0:
        return MAX_CYCLE_MS
    step = mcp.PUSH_CYCLE_STEP_MS
    return min(max(round(meter_rate_ms / step) * step, step), MAX_CYCLE_MS)


_KEYWORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def _valid(message: mcp.McpMessage) -> bool:
    """An attribute of the protocol: typed, or printable with a keyword's shape."""
    if isinstance(message, mcp.Malformed):
        return False
    if isinstance(message, mcp.Attribute):
        return bool(_KEYWORD.match(message.keyword)) and message.raw.isprintable()
    return True


def identify_mcp(messages: list[mcp.McpMessage]) -> ProbeResult:
    """What answered the probe (pure)."""
    if not messages:
        raise PeerTimeout(
            "answered nothing (ew receivers answer only datagrams from port 53212, "
            "and G3 firmware before 1.7 does not speak this protocol)"
        )
    kind = mcp.device_kind(messages)
    if kind == "iem":
        raise ProtocolError("an in-ear monitor transmitter (IEM), not a receiver")
    if kind != "receiver":
        errors = [m for m in messages if isinstance(m, mcp.McpError)]
        if errors:
            raise ProtocolError(f"answered {errors[0].code} ({errors[0].text}) to the probe")
        raise ProtocolError("answers, but not like an ew receiver")
    name = next((m.name for m in messages if isinstance(m, mcp.NameReply)), None)
    firmware = next((m.version for m in messages if isinstance(m, mcp.Firmware)), None)
    return ProbeResult(Family.EW, MODEL, 1, "udp", name, firmware)


class McpMachine(DatagramMachine):
    """Keeps one ew receiver's Push alive and its channel in the sink."""

    WHAT = "Sennheiser ew receiver (Media Control Protocol)"

    def _new_connection(self) -> None:
        self._interpreter = mcp.McpInterpreter()
        self._renew_at = 0.0
        self._push_sent: float | None = None
        self._reread = False
        self._logged: set[tuple[int, str | None]] = set()

    async def _open(self) -> DatagramLink:
        self._new_connection()
        return await open_mcp(self.host, self.port)

    async def _probe(self, link: DatagramLink) -> ProbeResult:
        requests = [mcp.command(k) for k in PROBE_COMMANDS]
        got = await collect(link, requests, lambda got: len(got) >= len(requests))
        messages: list[mcp.McpMessage] = []
        for data in got:
            try:
                messages += mcp.parse_datagram(data)
            except ProtocolError:
                continue
        try:
            return identify_mcp(messages)
        except PeerTimeout as exc:
            raise PeerTimeout(f"{self.name}: {exc} within {PROBE_WINDOW_S:g} s") from None

    async def _sync(self, link: DatagramLink) -> None:
        self._new_connection()
        for request in mcp.config_commands():
            await link.send(request)
        await self._push(link, time.monotonic())

    async def _push(self, link: DatagramLink, now: float) -> None:
        self._renew_at = now + PUSH_TIMEOUT_S * RENEW_FRACTION
        if self._push_sent is None:
            self._push_sent = now
        await link.send(mcp.push_command(PUSH_TIMEOUT_S, cycle_ms(self.meter_rate_ms), PUSH_MODE))

    async def _due(self, link: DatagramLink, now: float) -> float:
        if self._reread:
            self._reread = False
            for request in mcp.config_commands():
                await link.send(request)
        if now >= self._renew_at:
            await self._push(link, now)
        return self._renew_at

    async def _goodbye(self, link: DatagramLink) -> None:
        await link.send(mcp.push_command(0, 0, 0))

    async def set_meter_rate(self, meter_rate_ms: int) -> None:
        await super().set_meter_rate(meter_rate_ms)
        if self._link is not None and getattr(self, "_interpreter", None) is not None:
            await self._push(self._link, time.monotonic())

    # --- reading ---

    def _readings(self, data: bytes) -> list[Reading]:
        messages = mcp.parse_datagram(data)  # BadMcpDatagram (a ProtocolError) when too long
        if not messages or not all(_valid(m) for m in messages):
            raise ProtocolError(f"{len(data)} bytes that are not MCP attributes")
        readings: list[Reading] = []
        for message in messages:
            if isinstance(message, mcp.McpError):
                self._error(message)
            elif (
                isinstance(message, mcp.Attribute)
                and message.keyword == "Push"
                and self._push_sent is not None
            ):
                self._latency_ms = round((time.monotonic() - self._push_sent) * 1000, 1)
                self._push_sent = None
            readings += self._interpreter.interpret(message)
        if self._interpreter.take_config_change():
            self._reread = True
            self._hurry()
        return readings

    def _error(self, error: mcp.McpError) -> None:
        quoted = (error.command or "").strip()
        if quoted.startswith("Push") and self._link is not None:
            # Nothing to monitor without the push: this receiver is not one we can use.
            self._link.fail(ProtocolError(f"refused the status push ({error.code}: {error.text})"))
            return
        key = (error.code, quoted.split(" ")[0] or None)
        if key not in self._logged:
            self._logged.add(key)
            log.warning(
                "%s answered %d (%s) to %r",
                self.name,
                error.code,
                error.text,
                quoted[:40],
                extra=self._log_extra,
            )

    # --- commands ---

    async def rename(self, channel: int, name: str) -> None:
        if channel != 1:
            raise CommandRejected(f"{self.name} has one channel")
        await self.send(mcp.rename_command(name))

    async def identify(self, channel: int | None) -> None:
        raise CommandRejected(f"{self.name}: ew receivers have no identify command")
