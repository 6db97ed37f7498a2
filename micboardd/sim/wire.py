"""How receivers render their state on the wire (PROTOCOLS.md §1.3): conventions and helpers.

The renderer of each family is in wire_families.py (`wire_for(family)`).

Pure functions of a `ReceiverState`: the `GET x ALL` dump, single-property replies, meter
lines, and the exact sentinels of an absent transmitter (255 / 65535 / UNKN / UNKNOWN / U).
Values are produced as `(property, value)` items; `value` is everything after the property
name (`"2 012"` for antenna 2 of RSSI). The receiver turns items into frames with `rep()`.

Engineering units to raw, per family:
- ULX-D / QLX-D: RF raw = dBm + 128 (0-115); audio raw = dBFS + 50 (0-50) [U for the unit].
- SLX-D / Axient: raw = value + 120 for RSSI, audio peak and rms.
- UHF-R [U, assumed until a capture exists; the inverse of what
  `micboardd/shure/families/uhfr.py` pins]: RF raw = -dBm; audio = an 8-segment LED bitmap,
  6 dB per segment (8 lit = 0 dBFS); battery `TX_BAT` = bars or `U`.
- PSM1000 [U]: `AUDIO_IN_LVL_L/_R` = 24-bit linear amplitude, 11 digits.
"""

from __future__ import annotations

from dataclasses import dataclass

from micboardd.model import Family
from micboardd.sim.state import ChannelState, ReceiverState

Item = tuple[str, str]

# RF above which an antenna counts as receiving (antenna LEDs, UHF-R "AB").
ANTENNA_LIT_DBM = -95.0


def clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def braced(text: str, width: int = 0) -> str:
    """`{text}` right-padded with spaces to `width`, as receivers send strings."""
    return "{" + text[: width or None].ljust(width) + "}"


def n3(value: int) -> str:
    return f"{value:03d}"


def n5(value: int) -> str:
    return f"{value:05d}"


def maybe3(value: int | None, present: bool) -> str:
    """3-digit value, or the 255 sentinel when unknown or no transmitter."""
    return n3(value) if present and value is not None else "255"


def maybe5(value: int | None, present: bool) -> str:
    """5-digit value, or the 65535 sentinel when unknown or no transmitter."""
    return n5(value) if present and value is not None else "65535"


def onoff(flag: bool) -> str:
    return "ON" if flag else "OFF"


def group_text(group: tuple[int, int] | None, *, pad: int = 2) -> str:
    if group is None:
        return "--,--"
    return f"{group[0]:0{pad}d},{group[1]:0{pad}d}"


def lit_bitmap(level: float, ladder: tuple[float, ...]) -> int:
    """Bitmap of LEDs lit from the bottom of a ladder."""
    lit = sum(1 for threshold in ladder if level >= threshold)
    return (1 << lit) - 1


def temp_raw(celsius: int, *, fahrenheit: bool = False) -> int:
    """Battery temperature as sent: degrees + 40 (so raw 062 = 22 C)."""
    degrees = round(celsius * 9 / 5 + 32) if fahrenheit else celsius
    return degrees + 40


def rf_quality(ch: ChannelState) -> int:
    """Axient CHAN_QUALITY 0-5 (255 = no transmitter), from the best antenna."""
    if not ch.tx_present:
        return 255
    best = max(ch.heard_rf_dbm())
    quality = clamp((best + 95) / 5, 0, 5)
    return max(0, quality - 2) if ch.interference else quality


def antenna_pair(ch: ChannelState) -> str:
    """Active-antenna indicator of ULX-D / UHF-R samples: AX, XB or XX (none)."""
    if not ch.tx_present:
        return "XX"
    rf = ch.heard_rf_dbm()
    if max(rf) < ANTENNA_LIT_DBM:
        return "XX"
    return "AX" if rf[0] >= rf[1] else "XB"


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Property names a family uses for the settings the simulator lets clients change."""

    name: str = "CHAN_NAME"
    device_name: str = "DEVICE_ID"
    gain: str | None = "AUDIO_GAIN"
    mute: str | None = "AUDIO_MUTE"
    mute_on: str = "ON"
    mute_off: str = "OFF"
    frequency: str = "FREQUENCY"
    frequency_digits: int = 6
    group: str = "GROUP_CHAN"


class FamilyWire:
    """Rendering rules shared by every family; subclasses supply the vocabulary."""

    family: Family = Family.UNKNOWN
    start = "<"
    end = ">"
    eol = ""  # receivers send no newline; PSM1000 terminates with CRLF
    reply = "REP"
    get_all = True  # UHF-R and PSM1000 have no GET x ALL
    answers_errors = True  # whether REP ERR is sent by default for bad commands
    vocab = Vocabulary()
    # Metered properties: in GET replies but never announced by an unsolicited REP.
    metered: frozenset[str] = frozenset()
    name_width = 8
    device_id_width = 8

    # -- frames -------------------------------------------------------------------------

    def frame(self, kind: str, channel: int | None, prop: str, value: str = "") -> str:
        parts = [self.start, kind]
        if channel is not None:
            parts.append(str(channel))
        parts.append(prop)
        if value:
            parts.append(value)
        parts.append(self.end)
        return " ".join(parts) + self.eol

    def rep(self, channel: int | None, prop: str, value: str = "") -> str:
        return self.frame(self.reply, channel, prop, value)

    def error_frame(self) -> str:
        return f"{self.start} REP ERR {self.end}{self.eol}"

    # -- values ---------------------------------------------------------------------------

    def device_items(self, rx: ReceiverState) -> list[Item]:
        raise NotImplementedError

    def channel_items(self, rx: ReceiverState, ch: ChannelState, meter_rate_ms: int) -> list[Item]:
        raise NotImplementedError

    def meter_frames(self, rx: ReceiverState, ch: ChannelState) -> list[str]:
        """The frames one metering interval produces for one channel."""
        raise NotImplementedError

    def name_value(self, name: str) -> str:
        return braced(name, self.name_width)

    def frequency_value(self, khz: int) -> str:
        return f"{khz:0{self.vocab.frequency_digits}d}"

    def dump(
        self, rx: ReceiverState, channels: list[ChannelState], meter_rate_ms: int
    ) -> list[str]:
        """Reply to `GET x ALL`: device properties, then every property of `channels`."""
        frames = [self.rep(None, prop, value) for prop, value in self.device_items(rx)]
        for ch in channels:
            items = self.channel_items(rx, ch, meter_rate_ms)
            frames.extend(self.rep(ch.number, prop, value) for prop, value in items)
        return frames
