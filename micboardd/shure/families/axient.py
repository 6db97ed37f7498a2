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

from micboardd.model import Family
from micboardd.shure.families.base import (
    ChannelHandler,
    SettingHandler,
    ShureFamily,
    TableInterpreter,
)
from micboardd.shure.families.models import MODELS
from micboardd.shure.families.values import (
    AntennaLetters,
    ChannelState,
    Fields,
    OffsetLevels,
    antenna_rssi,
    bars,
    first,
    flag,
    frequency_mhz,
    interference_fields,
    minutes,
    model_name,
    mute_fields,
    percent,
    presence_fields,
    text,
    to_int,
)

LEVEL_OFFSET = 120  # audio dBFS = raw - 120, RSSI dBm = raw - 120
QUADVERSITY_ANTENNAS = 4
_LIT = "RB"
_LEVELS = OffsetLevels(LEVEL_OFFSET)
# Its keys are exactly the valid statuses ([XRB]{1,4}), so membership doubles as validation.
_ANTENNAS = AntennaLetters(_LIT)
_SAMPLE_HEAD = 5  # qual audBitmap audPeak audRms antStat, then (bitmap, rssi) per antenna


def sample_fields(args: tuple[str, ...]) -> Fields:
    """The Axient SAMPLE payload after ``ALL`` -> fields (also used for SLX-D, see slxd)."""
    return _sample(None, args)


def _sample(state: ChannelState | None, args: tuple[str, ...]) -> Fields:
    """The SAMPLE handler; it records the antenna levels in `state` unless that is None."""
    if len(args) < _SAMPLE_HEAD:
        return {}
    status = args[4]
    end = _SAMPLE_HEAD + 2 * len(status)
    if status not in _ANTENNAS or len(args) < end:
        return {"peak_level": _LEVELS[args[2]], "audio_level": _LEVELS[args[3]]}
    levels = [_LEVELS[rssi] for rssi in args[_SAMPLE_HEAD + 1 : end : 2]]
    known = [v for v in levels if v is not None]
    if state is not None:
        state.rssi = dict(enumerate(levels, start=1))
    return {
        "peak_level": _LEVELS[args[2]],
        "audio_level": _LEVELS[args[3]],
        "antenna": _ANTENNAS[status],
        "rf_antennas": levels,
        "rf_signal": max(known) if known else None,
    }


def _rssi(state: ChannelState, args: tuple[str, ...]) -> Fields:
    if len(args) != 2:
        return {}
    return antenna_rssi(state, to_int(args[0]), _LEVELS[args[1]])


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
    return {"antenna": _ANTENNAS[status]} if status in _ANTENNAS else {}


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
    "AUDIO_LEVEL_PEAK": lambda state, args: {"peak_level": _LEVELS[first(args)]},
    "AUDIO_LEVEL_RMS": lambda state, args: {"audio_level": _LEVELS[first(args)]},
    "RSSI": _rssi,
    "ANTENNA_STATUS": _antenna_status,
}


def _quadversity(interpreter: TableInterpreter, args: tuple[str, ...]) -> None:
    quad = flag(first(args), {"ON"}, {"OFF"})
    interpreter.set_antennas(QUADVERSITY_ANTENNAS if quad else 2)


SETTINGS: dict[str, SettingHandler] = {"QUADVERSITY_MODE": _quadversity}


class AxientInterpreter(TableInterpreter):
    """Adds the receiver-wide QUADVERSITY_MODE (2 or 4 antennas per channel)."""

    def __init__(self, max_channel: int) -> None:
        super().__init__(HANDLERS, _sample, max_channel, settings=SETTINGS)


AXIENT: ShureFamily = ShureFamily(
    family=Family.AXIENT,
    models=MODELS[Family.AXIENT],
    interpreter=AxientInterpreter,
    # Should an Axient refuse `GET 0 ALL` as SLX-D+ do, these stand in for it.
    fallback_device_props=("MODEL", "DEVICE_ID", "FW_VER", "RF_BAND", "QUADVERSITY_MODE"),
    fallback_channel_props=(
        "CHAN_NAME",
        "FREQUENCY",
        "TX_MODEL",
        "TX_BATT_BARS",
        "TX_BATT_CHARGE_PERCENT",
        "TX_BATT_MINS",
        "INTERFERENCE_STATUS",
        "ENCRYPTION_STATUS",
    ),
)
