"""Axient Digital (AD4D = 2 channels, AD4Q = 4): vocabulary checked against a real AD4Q dump.

Levels are ``raw - 120``: AUDIO_LEVEL_PEAK / AUDIO_LEVEL_RMS in dBFS, RSSI in dBm; 255 is
unknown. The transmitter is described by the ``TX_*`` properties (``TX_MODEL UNKNOWN`` = none on
air). ``TX_MUTE_MODE_STATUS ON`` means the transmitter is *unmuted*, ``MUTE`` muted.

SAMPLE is variable length::

    < SAMPLE ch ALL qual audBitmap audPeak audRms antStat bmA rssiA bmB rssiB [...] >

``antStat`` has one character per antenna (``X`` off, ``R`` red, ``B`` blue), so its length
says how many (bitmap, rssi) pairs follow: 2, or 4 with Quadversity. In FD-C mode a second
``antStat`` + pairs section follows for the second frequency; it is accepted and not reported,
as `frequency_mhz` reports only the first frequency. `antenna` lists the antennas whose status
is lit (``R`` or ``B``), e.g. "AB"; `rf_signal` is the strongest antenna.

Slot-indexed properties (``< REP 1 SLOT_BATT_BARS 8 255 >``) describe the transmitters
registered to a channel's eight slots, not the one on air, which ``TX_*`` already covers: they
are ignored.
"""

from __future__ import annotations

import re

from micboardd.model import Family, Reading
from micboardd.shure.codec import Frame, MessageKind
from micboardd.shure.families import (
    ChannelHandler,
    ShureFamily,
    TableInterpreter,
)
from micboardd.shure.families.values import (
    ChannelState,
    Fields,
    antenna_letters,
    antenna_rssi,
    bars,
    first,
    flag,
    frequency_mhz,
    interference_fields,
    minutes,
    model_name,
    mute_fields,
    offset_level,
    percent,
    presence_fields,
    text,
    to_int,
)

LEVEL_OFFSET = 120  # audio dBFS = raw - 120, RSSI dBm = raw - 120
QUADVERSITY_ANTENNAS = 4
_ANT_STATUS = re.compile(r"[XRB]{1,4}\Z")
_LIT = "RB"


def sample_fields(args: tuple[str, ...]) -> Fields:
    """The Axient SAMPLE payload after ``ALL`` -> fields (also used for SLX-D, see slxd)."""
    if len(args) < 5:
        return {}
    _quality, _bitmap, peak, rms, status = args[:5]
    fields: Fields = {
        "peak_level": offset_level(peak, LEVEL_OFFSET),
        "audio_level": offset_level(rms, LEVEL_OFFSET),
    }
    pairs = args[5 : 5 + 2 * len(status)]
    if _ANT_STATUS.match(status) and len(pairs) == 2 * len(status):
        levels = [offset_level(rssi, LEVEL_OFFSET) for rssi in pairs[1::2]]
        known = [v for v in levels if v is not None]
        fields["antenna"] = antenna_letters(status, _LIT)
        fields["rf_antennas"] = levels
        fields["rf_signal"] = max(known) if known else None
    return fields


def _sample(state: ChannelState, args: tuple[str, ...]) -> Fields:
    fields = sample_fields(args)
    levels = fields.get("rf_antennas")
    if isinstance(levels, list):
        state.rssi = dict(enumerate(levels, start=1))
    return fields


def _rssi(state: ChannelState, args: tuple[str, ...]) -> Fields:
    if len(args) != 2:
        return {}
    return antenna_rssi(state, to_int(args[0]), offset_level(args[1], LEVEL_OFFSET))


def _tx_model(state: ChannelState, args: tuple[str, ...]) -> Fields:
    model = model_name(first(args))
    return {"tx_model": model} | presence_fields(state, "TX_MODEL", model is not None)


def _interference(source: str) -> ChannelHandler:
    def handle(state: ChannelState, args: tuple[str, ...]) -> Fields:
        detected = flag(first(args), {"DETECTED"}, {"NONE"})
        return interference_fields(state, source, detected)

    return handle


def _antenna_status(state: ChannelState, args: tuple[str, ...]) -> Fields:
    status = first(args).upper()
    return {"antenna": antenna_letters(status, _LIT)} if _ANT_STATUS.match(status) else {}


HANDLERS: dict[str, ChannelHandler] = {
    "CHAN_NAME": lambda state, args: {"name": text(args)},
    "FREQUENCY": lambda state, args: {"frequency_mhz": frequency_mhz(first(args))},
    "TX_MODEL": _tx_model,
    "TX_BATT_BARS": lambda state, args: {"battery_bars": bars(first(args))},
    "TX_BATT_CHARGE_PERCENT": lambda state, args: {"battery_level": percent(first(args))},
    "TX_BATT_MINS": lambda state, args: {"battery_minutes": minutes(first(args))},
    "AUDIO_MUTE": lambda state, args: mute_fields(
        state, "AUDIO_MUTE", flag(first(args), {"ON"}, {"OFF"})
    ),
    "TX_MUTE_MODE_STATUS": lambda state, args: mute_fields(
        state, "TX_MUTE", flag(first(args), {"MUTE"}, {"ON"})
    ),
    "INTERFERENCE_STATUS": _interference("INTERFERENCE_STATUS"),
    "INTERFERENCE_STATUS2": _interference("INTERFERENCE_STATUS2"),  # FD second frequency
    "ENCRYPTION_STATUS": lambda state, args: {
        "encryption_error": flag(first(args), {"ERROR"}, {"OK"})
    },
    "AUDIO_LEVEL_PEAK": lambda state, args: {"peak_level": offset_level(first(args), LEVEL_OFFSET)},
    "AUDIO_LEVEL_RMS": lambda state, args: {"audio_level": offset_level(first(args), LEVEL_OFFSET)},
    "RSSI": _rssi,
    "ANTENNA_STATUS": _antenna_status,
}


class AxientInterpreter(TableInterpreter):
    """Adds the receiver-wide QUADVERSITY_MODE (2 or 4 antennas per channel)."""

    def __init__(self, max_channel: int) -> None:
        super().__init__(HANDLERS, _sample, max_channel)

    def interpret(self, frame: Frame) -> list[Reading]:
        if frame.prop == "QUADVERSITY_MODE" and frame.kind in (MessageKind.REP, MessageKind.REPORT):
            quad = flag(first(frame.args), {"ON"}, {"OFF"})
            self.set_antennas(QUADVERSITY_ANTENNAS if quad else 2)
            return []
        return super().interpret(frame)


AXIENT: ShureFamily = ShureFamily(
    family=Family.AXIENT,
    models={"AD4D": 2, "AD4Q": 4},
    interpreter=AxientInterpreter,
)
