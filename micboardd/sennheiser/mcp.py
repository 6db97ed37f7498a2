"""Sennheiser Media Control Protocol (ew G3 >= 1.7, G4, 2000 over UDP 53212): commands out,
datagrams in.

PURE: no I/O, no clock. `parse_datagram` turns one datagram into typed messages,
`McpInterpreter` maps them to normalized `Reading`s (channel 1: these receivers have one).
The only exceptions leaving this module are `BadMcpDatagram` (longer than the protocol
allows) and `InvalidCommand` (a command we must not send); a line that does not say what its
keyword needs is a `Malformed` message, never an exception.

Wire facts (PROTOCOLS-SENNHEISER.md "ew G3/G4/2000", real-captures.md §10):
* ASCII, case-sensitive, `Keyword p1 ... pN` + CR, at most 1500 characters. A bare keyword
  is a get; a successful set echoes the instruction. Real units answer ONLY datagrams sent
  from source port 53212 (so a client binds 53212: one socket per host).
* Replies pack several attributes into one datagram, each one ending in CR, the last one too.
  Names are space-padded to 8 (`Name VOX 4   `); `Frequency 639100 21 1` is kHz, bank, channel.
* `Push <timeout s> <cycle ms> <mode>` starts the status stream: the cyclic block `RF1`,
  `RF2`, `States`, `RF`, `AF`, `Bat`, `Msg`, `Config` (an IEM transmitter sends `AF` with four
  fields, `States`, `Msg`, `Config`). It stops when the timeout runs out unless renewed.
* Errors: `1000: Invalid command [ X ]`, 1010 invalid parameter, 1020 out of range, 1030
  relative change unsupported, 1040 wrong parameter count, 1050 bad termination.

[U] readings chosen here (each pinned by a test whose name says "pins"):
* RF %: 0 % = 0 dBuV and 100 % = 40 dBuV (documented), reported in dBm as dBuV - 107 (50 ohm):
  0 % -> -107 dBm, 100 % -> -67 dBm; above 100 % goes on linearly. `RF1`/`RF2` give one level
  per antenna (their max), `RF` the active antenna and the level of the diversity output, which
  is `rf_signal`; with level 0 there is no active antenna to show.
* AF %: 0 % = -50 dB, 100 % = peak, reported as dBFS = % / 2 - 50, in `audio_level` and
  `peak_level` alike; the peak-hold field is not reported (it would hold the clip status).
* `Bat` steps 0/30/70/100 -> `battery_level` in %; no bars (the pack shows 3 segments, our bars
  are 5); `Bat ?` -> no transmitter (`tx_on` False), which is the presence signal.
* mute: AF mute bit1 (TX) or bit3 (RX), and `Msg` `TX_Mute`/`RX_Mute`; bit2 (RF mute, squelch
  closed) is not a mute of the performer's. The configuration value `Mute` is a setting and
  is not reported.
* `Msg AF_Peak` -> `peak_level` 0.0 dBFS (as the EW-DX `AfPeak` warning); `Low_Battery` and
  `Low_RF_Signal` -> nothing: the battery step and the RF level say it with a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from micboardd.model import Reading
from micboardd.sennheiser.errors import BadMcpDatagram, InvalidCommand
from micboardd.sennheiser.values import (
    CLIP_DBFS,
    ChannelMemory,
    Fields,
    any_flag,
    frequency_mhz,
    text,
)

__all__ = [
    "CONFIG_KEYWORDS",
    "ERROR_TEXTS",
    "MAX_COMMAND_CHARS",
    "MCP_PORT",
    "PUSH_CONFIG",
    "PUSH_PILOT_BATTERY",
    "PUSH_WARNINGS",
    "AfStatus",
    "Attribute",
    "BatteryStep",
    "ConfigCounter",
    "Firmware",
    "FrequencyReply",
    "Malformed",
    "McpError",
    "McpInterpreter",
    "McpMessage",
    "Messages",
    "NameReply",
    "RfAntenna",
    "RfStatus",
    "command",
    "config_commands",
    "device_kind",
    "parse_datagram",
    "push_command",
]

MCP_PORT = 53212
MAX_COMMAND_CHARS = 1500  # the protocol's own limit (TI 1254)
# Replies are a few hundred bytes; 4096 tolerates a firmware that packs more, yet bounds what
# one hostile datagram makes us split.
MAX_DATAGRAM_BYTES = 4096
PUSH_TIMEOUT_MAX_S = 300
PUSH_CYCLE_MAX_MS = 60_000
PUSH_CYCLE_STEP_MS = 100
PUSH_CONFIG = 1  # send the configuration when it changes (and once now)
PUSH_WARNINGS = 2  # send the cyclic block when a warning changes
PUSH_PILOT_BATTERY = 4  # send the cyclic block when pilot or battery change (receivers)
PUSH_MODE_MAX = PUSH_CONFIG | PUSH_WARNINGS | PUSH_PILOT_BATTERY
CONFIG_COUNTER_MAX = 999
NAME_MAX_CHARS = 8
CONFIG_KEYWORDS: tuple[str, ...] = ("Name", "Frequency", "Squelch", "AfOut", "Mute")
FIRMWARE_KEYWORD = "FirmwareRevision"
# The wording of 1000 and 1020 is quoted from real units; the others are the spec's meaning.
ERROR_TEXTS: dict[int, str] = {
    1000: "Invalid command",
    1010: "Invalid parameter",
    1020: "Value out of range",
    1030: "Relative change not supported",
    1040: "Wrong number of parameters",
    1050: "Wrong termination",
}
BATTERY_STEPS = frozenset({0, 30, 70, 100})
AF_MUTE_ANY = 1
AF_MUTE_TX = 2
AF_MUTE_RF = 4
AF_MUTE_RX = 8
DBUV_PER_PERCENT = 0.4  # 100 % = 40 dBuV
DBM_AT_0_DBUV = -107.0  # 0 dBm = 107 dBuV into 50 ohm
AF_FLOOR_DB = -50.0  # 0 % of the AF meter
AF_DB_PER_PERCENT = 0.5

_KEYWORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_ERROR_RE = re.compile(r"(\d{4}):\s*(.*?)\s*(?:\[\s?(.*?)\s?\])?\Z")
_LINE_END_RE = re.compile(r"\r\n|\r|\n")
_EXCERPT = 60


# --- commands -------------------------------------------------------------------------------


def command(keyword: str, *params: str | int) -> bytes:
    """`command("Name")` -> b"Name\\r" (a get); `command("Mute", 1)` -> b"Mute 1\\r" (a set)."""
    if not _KEYWORD_RE.match(keyword):
        raise InvalidCommand(f"not an MCP keyword: {keyword!r}")
    words = [keyword]
    for param in params:
        if isinstance(param, bool) or not isinstance(param, int | str):
            raise InvalidCommand(f"{keyword}: parameters are str or int, got {param!r}")
        word = str(param)
        if not word or not all(" " <= c <= "~" for c in word):
            raise InvalidCommand(f"{keyword}: parameter {word!r} is not printable ASCII")
        words.append(word)
    line = " ".join(words)
    if len(line) + 1 > MAX_COMMAND_CHARS:
        raise InvalidCommand(f"{keyword}: command longer than {MAX_COMMAND_CHARS} characters")
    return (line + "\r").encode("ascii")


def push_command(timeout_s: int, cycle_ms: int, mode: int) -> bytes:
    """`Push <timeout> <cycle> <mode>`; renew it before `timeout_s` runs out."""
    checks = (
        ("timeout", timeout_s, PUSH_TIMEOUT_MAX_S),
        ("cycle", cycle_ms, PUSH_CYCLE_MAX_MS),
        ("mode", mode, PUSH_MODE_MAX),
    )
    for name, value, high in checks:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            raise InvalidCommand(f"Push {name} must be an int in 0..{high}, got {value!r}")
    if cycle_ms % PUSH_CYCLE_STEP_MS:
        raise InvalidCommand(f"Push cycle must be a multiple of {PUSH_CYCLE_STEP_MS} ms")
    return command("Push", timeout_s, cycle_ms, mode)


def config_commands() -> list[bytes]:
    """Reads of the receiver configuration (one command per datagram) and its firmware."""
    return [command(k) for k in (*CONFIG_KEYWORDS, FIRMWARE_KEYWORD)]


def rename_command(name: str) -> bytes:
    clean = name.strip()
    if not 1 <= len(clean) <= NAME_MAX_CHARS:
        raise InvalidCommand(f"a name has 1-{NAME_MAX_CHARS} characters, got {clean!r}")
    return command("Name", clean)


# --- messages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attribute:
    """An attribute this module does not type (Squelch, AfOut, States, an echo ...)."""

    keyword: str
    args: tuple[str, ...]
    raw: str


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line whose keyword we know but whose values are not what it needs."""

    raw: str
    reason: str


@dataclass(frozen=True, slots=True)
class NameReply:
    name: str | None


@dataclass(frozen=True, slots=True)
class FrequencyReply:
    khz: int
    bank: int | None
    channel: int | None


@dataclass(frozen=True, slots=True)
class RfAntenna:
    """`RF1 <min%> <max%> <active>`: one antenna's level over the last cycle."""

    antenna: int
    min_percent: int
    max_percent: int
    active: bool | None


@dataclass(frozen=True, slots=True)
class RfStatus:
    """`RF <level%> <antenna 1|2> <pilot>`."""

    level_percent: int
    antenna: int | None
    pilot: bool | None


@dataclass(frozen=True, slots=True)
class AfStatus:
    """`AF <peak%> <peak-hold%> <mute bits>` (receivers)."""

    peak_percent: int
    hold_percent: int
    mute_bits: int


@dataclass(frozen=True, slots=True)
class BatteryStep:
    """`Bat 0|30|70|100`, or `Bat ?` (percent None) with no transmitter."""

    percent: int | None


@dataclass(frozen=True, slots=True)
class Messages:
    """`Msg OK` (empty) or the active warnings (`AF_Peak`, `Low_Battery`, `TX_Mute` ...)."""

    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class ConfigCounter:
    """`Config n`: n changes with every configuration change (re-read the configuration)."""

    value: int


@dataclass(frozen=True, slots=True)
class Firmware:
    version: str | None


@dataclass(frozen=True, slots=True)
class McpError:
    """`1000: Invalid command [ X ]`: `command` is what the device quotes back."""

    code: int
    text: str
    command: str | None


McpMessage = (
    Attribute
    | Malformed
    | NameReply
    | FrequencyReply
    | RfAntenna
    | RfStatus
    | AfStatus
    | BatteryStep
    | Messages
    | ConfigCounter
    | Firmware
    | McpError
)


def _int(token: str) -> int | None:
    """A signed decimal integer token, or None."""
    body = token[1:] if token[:1] in "+-" else token
    return int(token) if body.isascii() and body.isdigit() else None


def _excerpt(data: bytes | str) -> str:
    shown = data[:_EXCERPT]
    return f"{shown!r}{'...' if len(data) > _EXCERPT else ''}"


def parse_datagram(data: bytes) -> list[McpMessage]:
    """One datagram -> its attributes as typed messages, in order."""
    if len(data) > MAX_DATAGRAM_BYTES:
        raise BadMcpDatagram(f"datagram of {len(data)} bytes exceeds {MAX_DATAGRAM_BYTES}")
    content = data.decode("ascii", errors="replace")
    return [parse_line(line) for line in _LINE_END_RE.split(content) if line.strip()]


def parse_line(line: str) -> McpMessage:
    """One attribute (its CR removed) -> a typed message."""
    error = _ERROR_RE.match(line.strip()) if line.lstrip()[:1].isdigit() else None
    if error is not None:
        return McpError(int(error.group(1)), error.group(2), error.group(3) or None)
    keyword, _, rest = line.lstrip().partition(" ")
    if keyword == "Name":
        return NameReply(text(rest))
    if keyword in ("FirmwareRevision", "Firmware"):
        return Firmware(text(rest))
    args = tuple(rest.split())
    parser = _PARSERS.get(keyword)
    if parser is None:
        return Attribute(keyword, args, line)
    return parser(keyword, args, line)


def _ints(args: tuple[str, ...], count: int) -> list[int] | None:
    if len(args) < count:
        return None
    values = [_int(a) for a in args[:count]]
    return None if any(v is None for v in values) else [v for v in values if v is not None]


def _frequency(keyword: str, args: tuple[str, ...], raw: str) -> McpMessage:
    values = [_int(a) for a in args]
    if not values or values[0] is None or values[0] <= 0:
        return Malformed(raw, "Frequency needs kHz")
    bank = values[1] if len(values) > 1 else None
    channel = values[2] if len(values) > 2 else None
    return FrequencyReply(values[0], bank, channel)


def _rf_antenna(keyword: str, args: tuple[str, ...], raw: str) -> McpMessage:
    values = _ints(args, 2)
    if values is None or min(values) < 0:
        return Malformed(raw, f"{keyword} needs <min%> <max%> [active]")
    active = _int(args[2]) if len(args) > 2 else None
    return RfAntenna(
        int(keyword[2:]), values[0], values[1], None if active is None else active == 1
    )


def _rf(keyword: str, args: tuple[str, ...], raw: str) -> McpMessage:
    values = _ints(args, 1)
    if values is None or values[0] < 0:
        return Malformed(raw, "RF needs <level%> [antenna] [pilot]")
    ant = _int(args[1]) if len(args) > 1 else None
    pilot = _int(args[2]) if len(args) > 2 else None
    return RfStatus(
        values[0], ant if ant in (1, 2) else None, None if pilot is None else pilot == 1
    )


def _af(keyword: str, args: tuple[str, ...], raw: str) -> McpMessage:
    values = _ints(args, 3)
    if len(args) != 3 or values is None or min(values) < 0:
        # An IEM sends four fields (two channels' peak and hold): not a receiver's meter.
        return Attribute(keyword, args, raw)
    return AfStatus(*values)


def _bat(keyword: str, args: tuple[str, ...], raw: str) -> McpMessage:
    if args == ("?",):
        return BatteryStep(None)
    value = _int(args[0]) if len(args) == 1 else None
    if value is None or not 0 <= value <= 100:
        return Malformed(raw, "Bat needs 0|30|70|100 or ?")
    return BatteryStep(value)


def _msg(keyword: str, args: tuple[str, ...], raw: str) -> McpMessage:
    return Messages(frozenset(a for a in args if a != "OK"))


def _config(keyword: str, args: tuple[str, ...], raw: str) -> McpMessage:
    values = _ints(args, 1)
    if values is None or len(args) != 1 or values[0] < 0:
        return Malformed(raw, "Config needs a counter")
    return ConfigCounter(values[0])


_PARSERS = {
    "Frequency": _frequency,
    "RF1": _rf_antenna,
    "RF2": _rf_antenna,
    "RF": _rf,
    "AF": _af,
    "Bat": _bat,
    "Msg": _msg,
    "Config": _config,
}

RECEIVER_HINTS = frozenset({"Squelch", "AfOut", "RF1", "RF2", "Bat"})
IEM_HINTS = frozenset({"Sensitivity", "Mode"})


def device_kind(messages: Iterable[McpMessage]) -> str | None:
    """ "receiver" (EM), "iem" (an in-ear transmitter, not monitored) or None from what a
    device answered: the attributes only one of them has (real-captures.md §10)."""
    seen: set[str] = set()
    for message in messages:
        if isinstance(message, Attribute):
            seen.add(message.keyword)
        elif isinstance(message, RfAntenna | BatteryStep):
            seen.add("RF1")
    if seen & RECEIVER_HINTS:
        return "receiver"
    return "iem" if seen & IEM_HINTS else None


# --- readings -------------------------------------------------------------------------------


def rf_dbm(percent: int) -> float:
    """RF % -> dBm [U, module docstring]."""
    return round(DBM_AT_0_DBUV + percent * DBUV_PER_PERCENT, 1)


def af_dbfs(percent: int) -> float:
    """AF % -> dBFS [U, module docstring]."""
    return round(AF_FLOOR_DB + percent * AF_DB_PER_PERCENT, 1)


@dataclass(slots=True)
class _RfMemory:
    antennas: dict[int, float] = field(default_factory=dict)


class McpInterpreter:
    """Messages of one receiver -> normalized readings for channel 1 (never raises).

    `take_config_change()` says (once) that the `Config` counter moved since it was last seen:
    the configuration must be read again (`config_commands()`).
    """

    CHANNEL = 1

    def __init__(self) -> None:
        self._memory = ChannelMemory()
        self._rf = _RfMemory()
        self.config_counter: int | None = None
        self._config_changed = False

    def take_config_change(self) -> bool:
        changed, self._config_changed = self._config_changed, False
        return changed

    def interpret(self, message: McpMessage) -> list[Reading]:
        fields = self._fields(message)
        if not fields:
            return []
        if isinstance(message, Firmware):
            return [Reading(0, fields)]
        return [Reading(self.CHANNEL, fields)]

    def interpret_all(self, messages: Iterable[McpMessage]) -> list[Reading]:
        return [r for m in messages for r in self.interpret(m)]

    def _fields(self, message: McpMessage) -> Fields:
        memory = self._memory
        if isinstance(message, NameReply):
            return {"name": message.name}
        if isinstance(message, FrequencyReply):
            return {"frequency_mhz": frequency_mhz(message.khz)}
        if isinstance(message, Firmware):
            return {"firmware": message.version}
        if isinstance(message, RfAntenna):
            self._rf.antennas[message.antenna] = rf_dbm(message.max_percent)
            count = max(2, *self._rf.antennas)
            return {"rf_antennas": [self._rf.antennas.get(i) for i in range(1, count + 1)]}
        if isinstance(message, RfStatus):
            lit = message.level_percent > 0 and message.antenna is not None
            letter = "AB"[message.antenna - 1] if lit and message.antenna else None
            return {"rf_signal": rf_dbm(message.level_percent), "antenna": letter}
        if isinstance(message, AfStatus):
            level = af_dbfs(message.peak_percent)
            muted = bool(message.mute_bits & (AF_MUTE_TX | AF_MUTE_RX))
            return {"audio_level": level, "peak_level": level} | memory.mute("af", muted)
        if isinstance(message, BatteryStep):
            present = message.percent is not None
            return {"battery_level": message.percent} | memory.present("bat", present)
        if isinstance(message, Messages):
            fields = memory.mute("msg", bool(message.flags & {"TX_Mute", "RX_Mute"}))
            if "AF_Peak" in message.flags:
                fields["peak_level"] = CLIP_DBFS
            return fields
        if isinstance(message, ConfigCounter):
            if self.config_counter is not None and message.value != self.config_counter:
                self._config_changed = True
            self.config_counter = message.value
        return {}

    @property
    def muted(self) -> bool | None:
        return any_flag(self._memory.mutes.values())
