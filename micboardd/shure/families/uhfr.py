"""UHF-R (UR4S = 1 channel, UR4D = 2): star-framed messages over UDP port 2202.

Everything here comes from third-party code only (PROTOCOLS.md §1.3.4, [S]/[U]): there is no
``GET x ALL``, so the session GETs ``CHAN_NAME``, ``TX_BAT`` and ``FREQUENCY`` per channel;
replies are ``* REPORT x PROP value *``; metering is ``* METER x ALL sss *`` (``sss`` in units
of about 30 ms, per Micboard) and ``* METER x ALL STOP *``; samples are
``* SAMPLE x ALL ant rfA rfB bat audio *``.

UNVERIFIED calibration, chosen and pinned by tests until someone captures a real UR4D:
* RF: ``rfA``/``rfB`` are read as the level in -dBm (``rf = -raw``: 045 -> -45 dBm).
  Micboard draws ``100 * (100 - raw) / 80`` %, i.e. 20 is full scale and 100 is empty, which
  fits -20...-100 dBm. Another implementation uses ``(raw - 255) / 2`` (the Sennheiser D6000
  formula, probably copied); we do not.
* Audio: ``audio`` is read as the receiver's 8-segment LED bar as a bitmap (0, 1, 3, 7 ... 255,
  Micboard's table). Each lit segment is taken as 6 dB: 8 lit = 0 dBFS (Micboard's peak), 7 lit
  = -6 dBFS ... 1 lit = -42 dBFS; none lit = -120 dBFS (silence). Used for RMS and peak.
* Battery: ``bat`` / ``TX_BAT`` is bars 0-5, ``U`` = unknown, meaning no transmitter on air.
* Metering: one ``METER n`` per channel, n = 1..channels (Micboard and the other public
  UHF-R client do; none uses channel 0), one command per datagram.
* Names are sent as ``{name}`` like the TCP families; ``*`` is refused in a name.
"""

from __future__ import annotations

from micboardd.config import MAX_METER_RATE_MS, MIN_METER_RATE_MS
from micboardd.model import Family
from micboardd.shure.codec import Framing, MessageKind, encode
from micboardd.shure.families.base import (
    ChannelHandler,
    ShureFamily,
    TableInterpreter,
)
from micboardd.shure.families.models import MODELS
from micboardd.shure.families.values import (
    AUDIO_FLOOR_DBFS,
    UNKNOWN_8BIT,
    UNKNOWN_TOKENS,
    ChannelState,
    Fields,
    antenna_letters,
    bars,
    first,
    frequency_mhz,
    presence_fields,
    text,
    to_int,
)

METER_UNIT_MS = 30  # one METER step is ~30 ms (Micboard: 100 ms -> "003")
METER_MAX_UNITS = 999  # three digits
AUDIO_SEGMENTS = 8  # LED bar segments in the audio bitmap
AUDIO_DB_PER_SEGMENT = 6


def rf_dbm(token: str) -> int | None:
    """UNVERIFIED: raw RF value is -dBm (module docstring)."""
    value = to_int(token)
    return None if value is None or value >= UNKNOWN_8BIT else -value


def audio_dbfs(token: str) -> int | None:
    """UNVERIFIED: raw audio value is an 8-segment LED bitmap, 6 dB per segment."""
    value = to_int(token)
    if value is None or value > UNKNOWN_8BIT:
        return None
    lit = value.bit_length()
    return AUDIO_FLOOR_DBFS if lit == 0 else -AUDIO_DB_PER_SEGMENT * (AUDIO_SEGMENTS - lit)


def _battery(state: ChannelState, token: str) -> Fields:
    value = bars(token)
    fields: Fields = {"battery_bars": value}
    if value is not None:
        fields |= presence_fields(state, "TX_BAT", True)
    elif token.strip().upper() in UNKNOWN_TOKENS or to_int(token) == UNKNOWN_8BIT:
        fields |= presence_fields(state, "TX_BAT", False)
    return fields


def _sample(state: ChannelState, args: tuple[str, ...]) -> Fields:
    if len(args) < 5:
        return {}
    ant, rf_a, rf_b, bat, audio = args[:5]
    levels = [rf_dbm(rf_a), rf_dbm(rf_b)]
    known = [v for v in levels if v is not None]
    level = audio_dbfs(audio)
    return {
        "antenna": antenna_letters(ant, "AB"),
        "rf_antennas": levels,
        "rf_signal": max(known) if known else None,
        "audio_level": level,
        "peak_level": level,
    } | _battery(state, bat)


HANDLERS: dict[str, ChannelHandler] = {
    "CHAN_NAME": lambda state, args: {"name": text(args)},
    "FREQUENCY": lambda state, args: {"frequency_mhz": frequency_mhz(first(args))},
    "TX_BAT": lambda state, args: _battery(state, first(args)),
    "BATT_BARS": lambda state, args: _battery(state, first(args)),  # Micboard's first GET
}


def new_interpreter(max_channel: int) -> TableInterpreter:
    return TableInterpreter(HANDLERS, _sample, max_channel)


def meter_command(interval_ms: int, channel: int) -> bytes:
    """``* METER x ALL sss *`` (sss ~ 30 ms units, from >= 100 ms) or ``* METER x ALL STOP *``."""
    if interval_ms == 0:
        value = "STOP"
    else:
        clamped = min(max(interval_ms, MIN_METER_RATE_MS), MAX_METER_RATE_MS)
        value = f"{min(round(clamped / METER_UNIT_MS), METER_MAX_UNITS):03d}"
    return encode(MessageKind.METER, "ALL", value, channel=channel, framing=Framing.STAR)


UHFR: ShureFamily = ShureFamily(
    family=Family.UHFR,
    models=MODELS[Family.UHFR],
    interpreter=new_interpreter,
    framing=Framing.STAR,
    transport="udp",
    sync_channel_props=("CHAN_NAME", "TX_BAT", "FREQUENCY"),
    heartbeat_prop="CHAN_NAME",
    identify="none",
    name_forbidden="*",
    meter=meter_command,
    meter_per_channel=True,
    reports_meter_rate=False,
)
