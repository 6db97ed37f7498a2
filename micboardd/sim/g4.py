"""A simulated ew G3/G4 receiver (EM 300, EM 300-500 G4) speaking the Media Control Protocol.

What it does, as the real units in real-captures.md §10 did:
* UDP; it answers ONLY datagrams sent from source port 53212 (`client_port`; None answers
  any port), so a client binds 53212 itself: one socket per host, as real units demand;
* a command is `Keyword [params]` + CR, one per datagram (several CR-terminated commands in
  one datagram are taken in order); a bare keyword is a get, a set is echoed;
* every attribute it sends ends in CR, the last one too; several attributes per datagram;
  `Name` is space-padded to 8, `Frequency` carries bank and channel (`639100 21 1`);
* `Push <timeout> <cycle> <mode>` (echoed): mode bit 1 sends the configuration now and on
  every change, a cycle > 0 sends the cyclic block (`RF1 RF2 States RF AF Bat Msg Config`)
  at once and then every cycle, bit 2 on a warning change, bit 4 on a pilot or battery change;
  it all stops when the timeout runs out unless a new Push renews it. `Push 0 0 1` only
  dumps the configuration;
* `Config n` counts configuration changes (name, frequency, squelch, AF out, mute), 0-999;
* errors: `1000: Invalid command [ X ]` (unknown keyword), 1010 (not a number), 1020 (out of
  range), 1030 (relative change `+1`/`-1`), 1040 (wrong parameter count), 1050 (a datagram
  that does not end in CR) [U: only 1000's and 1020's wording was seen on real units];
* `States a b` is not modelled: it is sent as the real EM 300 sent it with no transmitter
  (`States 5 0`) and as `States 0 0` otherwise [U].

    async with SimG4("EM300-500G4", "127.19.0.2") as rx:   # listens on 127.19.0.2:53212
        ...          # bind a UDP socket to (another loopback address, 53212) and talk to it
        rx.tx_off(1)  # pushed clients see `Bat ?`, `Msg RF_Mute`
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from micboardd.sennheiser.mcp import (
    CONFIG_COUNTER_MAX,
    ERROR_TEXTS,
    MCP_PORT,
    PUSH_CONFIG,
    PUSH_CYCLE_MAX_MS,
    PUSH_CYCLE_STEP_MS,
    PUSH_MODE_MAX,
    PUSH_PILOT_BATTERY,
    PUSH_TIMEOUT_MAX_S,
    PUSH_WARNINGS,
)
from micboardd.sim.sennheiser import (
    AF_PEAK_DBFS,
    LOW_SIGNAL_DBM,
    SennheiserChannel,
    SennheiserSim,
    diversity,
    rssi_dbm,
    valid_name,
)

log = logging.getLogger(__name__)

# How often pushed clients are looked at: the protocol's cycle step.
PUSH_TICK_S = PUSH_CYCLE_STEP_MS / 1000
# Settable numeric values (the G3 EM 300 reported Squelch 17 and AfOut 15; ranges are
# generous because the real ones are not documented per model).
SETTING_RANGE = (0, 99)
NAME_WIDTH = 8
# Battery percent -> the pack's steps (three segments).
BATTERY_STEP_FLOORS = ((67, 100), (34, 70), (10, 30))
BANK, CHANNEL = 21, 1  # the real EM 300's `Frequency 639100 21 1`
# The RF and AF scales of the protocol (TI 1254): 0 % = 0 dBuV = -107 dBm, 2.5 % per dB;
# AF 0 % = -50 dB, 2 % per dB.
RF_ZERO_DBM = -107.0
RF_PERCENT_PER_DB = 2.5
AF_ZERO_DB = -50.0
AF_PERCENT_PER_DB = 2.0
# Addresses remembered for send_garbage; the oldest is forgotten beyond this.
MAX_KNOWN_ADDRESSES = 64

Addr = tuple[str, int]


def battery_step(percent: int | None) -> int:
    for floor, step in BATTERY_STEP_FLOORS:
        if percent is not None and percent >= floor:
            return step
    return 0


def rf_percent(dbm: float) -> int:
    return max(0, round((dbm - RF_ZERO_DBM) * RF_PERCENT_PER_DB))


def af_percent(dbfs: float) -> int:
    return max(0, min(100, round((dbfs - AF_ZERO_DB) * AF_PERCENT_PER_DB)))


def cyclic_block(ch: SennheiserChannel, config_counter: int) -> list[str]:
    """`RF1 RF2 States RF AF Bat Msg Config` for one channel, as attributes without CR."""
    present = ch.tx_present
    rf = ch.heard_rf_dbm() if present else [RF_ZERO_DBM] * ch.antennas
    active = diversity(ch)
    levels = [rf_percent(v) for v in rf[:2]]
    lines = [f"RF{i} {pct} {pct} {int(active == i)}" for i, pct in enumerate(levels, start=1)]
    lines.append("States 0 0" if present else "States 5 0")
    lines.append(f"RF {max(levels)} {active or 2} {int(present)}")
    peak = af_percent(ch.audio_peak_dbfs) if present else 0
    bits = (2 if ch.tx_mute and present else 0) | (0 if present else 4) | (8 if ch.mute else 0)
    lines.append(f"AF {peak} {peak} {bits | (1 if bits else 0)}")
    lines.append(f"Bat {battery_step(ch.battery_percent)}" if present else "Bat ?")
    lines.append(f"Msg {' '.join(messages(ch)) or 'OK'}")
    lines.append(f"Config {config_counter}")
    return lines


def messages(ch: SennheiserChannel) -> list[str]:
    present = ch.tx_present
    flags = []
    if present and ch.audio_peak_dbfs >= AF_PEAK_DBFS:
        flags.append("AF_Peak")
    if present and battery_step(ch.battery_percent) == 0:
        flags.append("Low_Battery")
    if present and ch.tx_mute:
        flags.append("TX_Mute")
    if present and rssi_dbm(ch) < LOW_SIGNAL_DBM:
        flags.append("Low_RF_Signal")
    if not present:
        flags.append("RF_Mute")
    if ch.mute:
        flags.append("RX_Mute")
    return flags


@dataclass(eq=False)
class Push:
    expires: float
    cycle_ms: int
    mode: int
    next_block: float


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, rx: SimG4) -> None:
        self.rx = rx

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.rx._datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("%s: UDP error %s", self.rx.address, exc)


class SimG4(SennheiserSim):
    """A simulated one-channel ew receiver on `host:port` (real units use 53212)."""

    protocol = "mcp"

    def __init__(
        self,
        model: str = "EM300-500G4",
        host: str = "127.0.0.1",
        port: int = MCP_PORT,
        *,
        names: Sequence[str] | None = None,
        tx_on: bool = True,
        hung: bool = False,
        client_port: int | None = MCP_PORT,
    ) -> None:
        super().__init__(model, host, port, names=names, tx_on=tx_on, hung=hung)
        if self.spec.channels != 1 or self.spec.ssc_product:
            raise ValueError(f"{self.spec.key} does not speak MCP (use SimEwdx or SimSscv2)")
        self.client_port = client_port
        self.squelch = 17
        self.af_out = 15
        self.pushes: dict[Addr, Push] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.ignored = 0  # datagrams that arrived while hung
        self.wrong_port = 0  # datagrams not from `client_port`: never answered
        self.errors_sent = 0
        self._known: dict[Addr, None] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._config = self._config_lines()
        self._watched = self._watched_values()

    @property
    def channel(self) -> SennheiserChannel:
        return self.state.channels[0]

    @property
    def clients(self) -> int:
        """Clients whose `Push` is running."""
        return len(self.pushes)

    # -- lifecycle ------------------------------------------------------------------------

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.host, self.port)
        )
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        self._ticker = self.spawn(self._tick_loop())

    async def _unlisten(self) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        self.pushes.clear()
        self._known.clear()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    # -- sending --------------------------------------------------------------------------

    def _send(self, lines: Sequence[str], addr: Addr) -> None:
        if self.frozen or self.transport is None or self.transport.is_closing() or not lines:
            return
        data = "".join(line + "\r" for line in lines).encode("ascii", errors="replace")
        self.transport.sendto(data, addr)

    def _error(self, code: int, command: str, addr: Addr) -> None:
        self.errors_sent += 1
        self._send([f"{code}: {ERROR_TEXTS[code]} [ {command} ]"], addr)

    def _send_garbage(self, data: bytes) -> None:
        if self.transport is None or self.frozen:
            return
        for addr in self._known:
            self.transport.sendto(data, addr)

    def _config_lines(self) -> dict[str, str]:
        ch = self.channel
        return {
            "Name": f"Name {ch.name.ljust(NAME_WIDTH)}",
            "Frequency": f"Frequency {ch.frequency_khz} {BANK} {CHANNEL}",
            "Squelch": f"Squelch {self.squelch}",
            "AfOut": f"AfOut {self.af_out}",
            "Mute": f"Mute {int(ch.mute)}",
        }

    def _watched_values(self) -> tuple[tuple[str, ...], tuple[bool, str]]:
        """(warnings, (pilot, battery)): what Push modes 2 and 4 react to."""
        ch = self.channel
        step = battery_step(ch.battery_percent) if ch.tx_present else "?"
        return tuple(messages(ch)), (ch.tx_present, str(step))

    # -- requests -------------------------------------------------------------------------

    def _datagram(self, data: bytes, addr: Addr) -> None:
        if not self.powered:
            return
        if self.frozen:
            self.ignored += 1
            return
        if self.client_port is not None and addr[1] != self.client_port:
            self.wrong_port += 1
            return
        self.record(data)
        self._known[addr] = None
        if len(self._known) > MAX_KNOWN_ADDRESSES:
            del self._known[next(iter(self._known))]
        text = data.decode("ascii", errors="replace")
        if not text.endswith("\r"):
            self._error(1050, text.strip(), addr)
            return
        for command in text[:-1].split("\r"):
            if command.strip():
                self._command(command.strip(), addr)

    def _command(self, line: str, addr: Addr) -> None:
        keyword, _, rest = line.partition(" ")
        params = rest.split()
        if keyword == "Push":
            self._push(line, params, addr)
        elif keyword == "Name":
            self._name(line, rest.strip(), addr)
        elif keyword in ("Squelch", "AfOut", "Mute"):
            self._setting(line, keyword, params, addr)
        elif keyword in ("Frequency", "FirmwareRevision"):
            if params:
                self._error(1040, line, addr)
            elif keyword == "Frequency":
                self._send([self._config_lines()["Frequency"]], addr)
            else:
                self._send([f"FirmwareRevision {self.state.firmware}"], addr)
        else:
            self._error(1000, line, addr)

    def _name(self, line: str, name: str, addr: Addr) -> None:
        if not name:
            self._send([self._config_lines()["Name"]], addr)
        elif not valid_name(name):
            self._error(1020, line, addr)
        else:
            self.channel.name = name
            self._send([line], addr)
            self.publish()

    def _number(self, line: str, params: list[str], addr: Addr, count: int) -> list[int] | None:
        if len(params) != count:
            self._error(1040, line, addr)
            return None
        if any(p[:1] in "+-" and p[1:].isdigit() for p in params):
            self._error(1030, line, addr)
            return None
        if not all(p.isascii() and p.isdigit() for p in params):
            self._error(1010, line, addr)
            return None
        return [int(p) for p in params]

    def _setting(self, line: str, keyword: str, params: list[str], addr: Addr) -> None:
        if not params:
            self._send([self._config_lines()[keyword]], addr)
            return
        values = self._number(line, params, addr, 1)
        if values is None:
            return
        value = values[0]
        high = 1 if keyword == "Mute" else SETTING_RANGE[1]
        if not SETTING_RANGE[0] <= value <= high:
            self._error(1020, line, addr)
            return
        if keyword == "Mute":
            self.channel.mute = bool(value)
        elif keyword == "Squelch":
            self.squelch = value
        else:
            self.af_out = value
        self._send([line], addr)
        self.publish()

    def _push(self, line: str, params: list[str], addr: Addr) -> None:
        values = self._number(line, params, addr, 3)
        if values is None:
            return
        timeout, cycle, mode = values
        if (
            timeout > PUSH_TIMEOUT_MAX_S
            or cycle > PUSH_CYCLE_MAX_MS
            or cycle % PUSH_CYCLE_STEP_MS
            or mode > PUSH_MODE_MAX
        ):
            self._error(1020, line, addr)
            return
        self._send([line], addr)
        if mode & PUSH_CONFIG:
            self._send(list(self._config_lines().values()), addr)
        if timeout == 0:
            self.pushes.pop(addr, None)
            return
        now = asyncio.get_running_loop().time()
        self.pushes[addr] = Push(now + timeout, cycle, mode, now)
        if cycle:
            self._send_block(addr, self.pushes[addr], now)

    # -- pushing --------------------------------------------------------------------------

    def _send_block(self, addr: Addr, push: Push, now: float) -> None:
        self._send(cyclic_block(self.channel, self.state.config_counter), addr)
        push.next_block = now + push.cycle_ms / 1000

    def publish(self) -> None:
        """Count configuration changes and push what each client's Push mode asked for."""
        config = self._config_lines()
        changed = [line for key, line in config.items() if self._config.get(key) != line]
        if changed:
            self.state.config_counter = (self.state.config_counter + 1) % (CONFIG_COUNTER_MAX + 1)
        self._config = config
        warnings, pilot_battery = self._watched_values()
        old_warnings, old_pilot_battery = self._watched
        self._watched = (warnings, pilot_battery)
        if not self.powered:
            return
        now = asyncio.get_running_loop().time()
        for addr, push in list(self.pushes.items()):
            if changed and push.mode & PUSH_CONFIG:
                self._send(changed, addr)
            block = (push.mode & PUSH_WARNINGS and warnings != old_warnings) or (
                push.mode & PUSH_PILOT_BATTERY and pilot_battery != old_pilot_battery
            )
            if block:
                self._send_block(addr, push, now)

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PUSH_TICK_S)
            if self.frozen:
                continue
            now = loop.time()
            for addr, push in list(self.pushes.items()):
                if now >= push.expires:
                    del self.pushes[addr]
                elif push.cycle_ms and now >= push.next_block:
                    self._send_block(addr, push, now)
