"""What every Shure family shares: the `FamilySpec`/`Interpreter` protocols, the device-level
handlers, the table-driven interpreter and the `ShureFamily` each family module configures.

Normalization rules shared by every family (PROTOCOLS.md §1.4, §5):
* sentinels (255, 65535, 65534 calculating, 65533 comm warning, ``UNKN``, ``UNKNOWN``, ``U``,
  ``--,--``) become None, so they never reach alert thresholds;
* a value that is not what the property needs (letters where digits belong) becomes None;
* unknown properties, ``REP ERR``, GET/SET echoes yield no reading; nothing here raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from micboardd.config import MAX_METER_RATE_MS, MIN_METER_RATE_MS
from micboardd.errors import CommandRejected
from micboardd.model import Family, Reading
from micboardd.shure.codec import Frame, Framing, MessageKind, encode, quote
from micboardd.shure.families.models import family_for_model
from micboardd.shure.families.values import UNKNOWN_TOKENS, ChannelState, Fields, first, text
from micboardd.sources.ports import Sample

ChannelHandler = Callable[["ChannelState", tuple[str, ...]], Fields]
# A receiver-wide setting that changes how later frames are read; it yields no reading.
SettingHandler = Callable[["TableInterpreter", tuple[str, ...]], None]

DEFAULT_PORT = 2202  # TCP command strings (UDP for UHF-R), PROTOCOLS.md §1.1


# SET CHAN_NAME / DEVICE_ID accept 1-8 characters from this set (SLX-D PDF, AD page).
NAME_MAX_CHARS = 8
NAME_CHARSET = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`~"
)


@dataclass(frozen=True, slots=True)
class SampleScan:
    """A family's metering frames read straight off a receiver's write (no Frame, no
    Reading). Every such frame is `frame_len` characters long, so a write that is nothing
    but these frames is exactly tiled by what `frame.findall` finds (the decoder's
    `sample_rows`); `read` turns those rows into the values the interpreter would give."""

    frame: re.Pattern[str]
    frame_len: int
    read: Callable[[list[tuple[str, ...]]], list[Sample]]


class Interpreter(Protocol):
    """Per-receiver parser state: one frame in, normalized readings out (never raises)."""

    def interpret(self, frame: Frame) -> list[Reading]: ...


class FamilySpec(Protocol):
    """What a session needs to talk to one family."""

    @property
    def family(self) -> Family: ...
    @property
    def framing(self) -> Framing: ...
    @property
    def transport(self) -> Literal["tcp", "udp"]: ...
    @property
    def default_port(self) -> int: ...
    @property
    def models(self) -> Mapping[str, int]: ...
    @property
    def reports_meter_rate(self) -> bool: ...
    @property
    def sample_scan(self) -> SampleScan | None: ...
    def sync_commands(self, channels: int) -> list[bytes]: ...
    def fallback_commands(self, channels: int) -> list[bytes]: ...
    def meter_command(self, interval_ms: int, channel: int = 0) -> bytes: ...
    def meter_commands(self, interval_ms: int, channels: int) -> list[bytes]: ...
    def heartbeat_command(self) -> bytes: ...
    def is_heartbeat_reply(self, frame: Frame) -> bool: ...
    def rename_command(self, channel: int, name: str) -> bytes: ...
    def identify_command(self, channel: int | None) -> bytes: ...
    def new_interpreter(self) -> Interpreter: ...


# --- device-level properties (channel 0 readings) ---------------------------------------------


def _model(args: tuple[str, ...]) -> Fields:
    name = text(args)
    found = family_for_model(name) if name else None
    return {"model": name} | ({"channels": found[1]} if found else {})


def _firmware(args: tuple[str, ...]) -> Fields:
    # A trailing '*' means the receiver's self-test failed (SLX-D PDF); the version is the rest.
    version = (text(args) or "").rstrip("*").strip()
    return {"firmware": version or None}


def _encryption(args: tuple[str, ...]) -> Fields:
    value = first(args).strip().lower()
    return {"encryption": None if value.upper() in UNKNOWN_TOKENS else value}


DEVICE_HANDLERS: Mapping[str, Callable[[tuple[str, ...]], Fields]] = {
    "MODEL": _model,
    "DEVICE_ID": lambda args: {"name": text(args)},
    "DEVICE_NAME": lambda args: {"name": text(args)},  # PSM1000
    "FW_VER": _firmware,
    "RF_BAND": lambda args: {"rf_band": text(args)},
    "ENCRYPTION": _encryption,  # ULX-D: OFF/MANUAL/AUTO, QLX-D: OFF/ON
    "ENCRYPTION_MODE": _encryption,  # Axient: OFF/ON
}


class TableInterpreter:
    """Dispatches REP/REPORT/SAMPLE frames to a family's handler table.

    `settings` handle receiver-wide REP/REPORT properties that change how later frames are
    read (Axient QUADVERSITY_MODE); they are a table rather than an `interpret` override so
    that SAMPLE frames pay nothing for them.
    """

    def __init__(
        self,
        handlers: Mapping[str, ChannelHandler],
        sample: ChannelHandler | None,
        max_channel: int,
        antennas: int = 2,
        settings: Mapping[str, SettingHandler] | None = None,
    ) -> None:
        self._handlers = handlers
        self._sample = sample
        self._max_channel = max_channel
        self._antennas = antennas
        self._settings: Mapping[str, SettingHandler] = settings or {}
        self._states: dict[int, ChannelState] = {}

    def set_antennas(self, count: int) -> None:
        """Antenna inputs per channel (Axient Quadversity switches 2 <-> 4)."""
        self._antennas = count
        for state in self._states.values():
            state.antennas = count
            state.rssi.clear()

    def state(self, channel: int) -> ChannelState:
        found = self._states.get(channel)
        if found is None:
            found = self._states[channel] = ChannelState(antennas=self._antennas)
        return found

    def interpret(self, frame: Frame) -> list[Reading]:
        kind = frame.kind
        if kind is MessageKind.SAMPLE:
            handler = self._sample
        elif kind is MessageKind.REP or kind is MessageKind.REPORT:
            setting = self._settings.get(frame.prop)
            if setting is not None:
                setting(self, frame.args)
                return []
            device = DEVICE_HANDLERS.get(frame.prop)
            if device is not None:
                return [Reading(0, device(frame.args))]
            handler = self._handlers.get(frame.prop)
        else:
            return []
        channel = frame.channel
        if handler is None or channel is None or not 1 <= channel <= self._max_channel:
            return []
        fields = handler(self.state(channel), frame.args)
        return [Reading(channel, fields)] if fields else []


# --- the family description every module fills in ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ShureFamily:
    """A `FamilySpec` configured by data; see each family module for its values."""

    family: Family
    models: Mapping[str, int]
    interpreter: Callable[[int], Interpreter]  # called with the family's max channel count
    framing: Framing = Framing.ANGLE
    transport: Literal["tcp", "udp"] = "tcp"
    default_port: int = DEFAULT_PORT
    crlf: bool = False  # PSM1000 terminates commands with CRLF
    # Families without `GET 0 ALL` list what to GET: device-level, then per channel.
    sync_device_props: tuple[str, ...] = ()
    sync_channel_props: tuple[str, ...] | None = None
    # What to GET one by one when a receiver refuses `GET 0 ALL` (real SLX-D+ answer
    # `REP ERR`, real-captures.md §3), and again on a slow poll while REPs keep it live.
    fallback_device_props: tuple[str, ...] = ()
    fallback_channel_props: tuple[str, ...] = ()
    # UHF-R and PSM1000: meters are switched per channel; no public code written against
    # real units addresses them with channel 0 (PROTOCOLS.md §1.3.4, §1.3.5).
    meter_per_channel: bool = False
    # Whether the family reports `METER_RATE` (how another controller's change is seen).
    reports_meter_rate: bool = True
    heartbeat_prop: str = "METER_RATE"
    identify: Literal["device", "channel", "none"] = "channel"
    name_forbidden: str = ""  # extra characters the family cannot take in a name
    meter: Callable[[int, int], bytes] | None = None  # (interval_ms, channel) override
    # Metering frames read without the general decoder and interpreter (machine.py).
    sample_scan: SampleScan | None = None

    @property
    def max_channels(self) -> int:
        return max(self.models.values())

    def _cmd(self, kind: MessageKind, prop: str, *args: str | int, channel: int | None) -> bytes:
        return encode(kind, prop, *args, channel=channel, framing=self.framing, crlf=self.crlf)

    def sync_commands(self, channels: int) -> list[bytes]:
        if self.sync_channel_props is None:
            return [self._cmd(MessageKind.GET, "ALL", channel=0)]
        out = [self._cmd(MessageKind.GET, p, channel=None) for p in self.sync_device_props]
        for ch in range(1, max(1, min(channels, self.max_channels)) + 1):
            out += [self._cmd(MessageKind.GET, p, channel=ch) for p in self.sync_channel_props]
        return out

    def fallback_commands(self, channels: int) -> list[bytes]:
        """Per-property GETs standing in for `GET 0 ALL` (empty: the family has none)."""
        out = [self._cmd(MessageKind.GET, p, channel=None) for p in self.fallback_device_props]
        for ch in range(1, max(1, min(channels, self.max_channels)) + 1):
            out += [self._cmd(MessageKind.GET, p, channel=ch) for p in self.fallback_channel_props]
        return out

    def meter_commands(self, interval_ms: int, channels: int) -> list[bytes]:
        """Metering on (or, with 0, off) for the whole receiver: one command, or one per
        channel where the family needs it."""
        if not self.meter_per_channel:
            return [self.meter_command(interval_ms, 0)]
        count = max(1, min(channels, self.max_channels))
        return [self.meter_command(interval_ms, ch) for ch in range(1, count + 1)]

    def meter_command(self, interval_ms: int, channel: int = 0) -> bytes:
        if interval_ms < 0:
            raise CommandRejected(f"meter interval must be >= 0 ms (0 = off), got {interval_ms}")
        if self.meter is not None:
            return self.meter(interval_ms, channel)
        rate = (
            0 if interval_ms == 0 else min(max(interval_ms, MIN_METER_RATE_MS), MAX_METER_RATE_MS)
        )
        return self._cmd(MessageKind.SET, "METER_RATE", f"{rate:05d}", channel=channel)

    def heartbeat_command(self) -> bytes:
        return self._cmd(MessageKind.GET, self.heartbeat_prop, channel=1)

    def is_heartbeat_reply(self, frame: Frame) -> bool:
        return (
            frame.kind in (MessageKind.REP, MessageKind.REPORT)
            and frame.prop == self.heartbeat_prop
            and frame.channel == 1
        )

    def _check_channel(self, channel: int) -> None:
        if not 1 <= channel <= self.max_channels:
            raise CommandRejected(
                f"{self.family.value}: channel must be 1..{self.max_channels}, got {channel}"
            )

    def rename_command(self, channel: int, name: str) -> bytes:
        self._check_channel(channel)
        clean = name.strip()
        if not 1 <= len(clean) <= NAME_MAX_CHARS:
            raise CommandRejected(
                f"{self.family.value}: a channel name has 1-{NAME_MAX_CHARS} characters, "
                f"got {len(clean)} ({clean!r})"
            )
        bad = sorted({c for c in clean if c not in NAME_CHARSET or c in self.name_forbidden})
        if bad:
            raise CommandRejected(
                f"{self.family.value}: characters {''.join(bad)!r} are not allowed in a name"
            )
        return self._cmd(MessageKind.SET, "CHAN_NAME", quote(clean), channel=channel)

    def identify_command(self, channel: int | None) -> bytes:
        if self.identify == "none":
            raise CommandRejected(f"{self.family.value}: no identify (FLASH) command exists")
        if channel is not None:
            self._check_channel(channel)
        # ULX-D/QLX-D document FLASH only for the whole receiver: a channel flashes it all.
        target = channel if self.identify == "channel" else None
        return self._cmd(MessageKind.SET, "FLASH", "ON", channel=target)

    def new_interpreter(self) -> Interpreter:
        return self.interpreter(self.max_channels)
