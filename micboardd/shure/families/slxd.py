"""SLX-D (SLXD4, SLXD4D, SLXD4Q+): the one family with a full Shure document (v3.0, 2025-A).

Vocabulary differs from ULX-D: ``GROUP_CHANNEL``, ``TX_MODEL`` (``UNKNOWN`` = no transmitter),
``TX_BATT_BARS``, ``TX_BATT_MINS``; there is no battery percentage, no mute and no
interference property.

Levels are ``raw - 120``: audio peak/RMS in dBFS, RSSI in dBm.

* ``< SAMPLE ch ALL audPeak audRms rfRssi >`` is the layout the SLX-D section defines. The
  PDF's introduction shows the Axient layout instead (probably a copy-paste, PROTOCOLS.md
  §1.3.2); a SAMPLE with five or more values is therefore read as an Axient sample.
* ``< REP x RSSI 1 083 >`` (per antenna, as documented) and ``< REP x RSSI 068 >`` (one
  combined value, as a real SLXD4D answered) are both accepted.
* ``TX_TYPE`` (listed for SLX-D by one third-party source) is read like ``TX_MODEL``.
"""

from __future__ import annotations

from micboardd.model import Family
from micboardd.shure.families.axient import sample_fields as axient_sample_fields
from micboardd.shure.families.base import (
    ChannelHandler,
    ShureFamily,
    TableInterpreter,
)
from micboardd.shure.families.models import MODELS
from micboardd.shure.families.values import (
    ChannelState,
    Fields,
    OffsetLevels,
    antenna_rssi,
    bars,
    first,
    frequency_mhz,
    minutes,
    model_name,
    presence_fields,
    text,
    to_int,
)

LEVEL_OFFSET = 120  # audio dBFS = raw - 120, RSSI dBm = raw - 120
_LEVELS = OffsetLevels(LEVEL_OFFSET)


def _sample(state: ChannelState, args: tuple[str, ...]) -> Fields:
    if len(args) == 3:
        peak, rms, rssi = args
        return {
            "peak_level": _LEVELS[peak],
            "audio_level": _LEVELS[rms],
            "rf_signal": _LEVELS[rssi],
        }
    if len(args) >= 5:
        return axient_sample_fields(args)
    return {}


def _rssi(state: ChannelState, args: tuple[str, ...]) -> Fields:
    if len(args) == 1:
        return {"rf_signal": _LEVELS[args[0]]}
    if len(args) == 2:
        return antenna_rssi(state, to_int(args[0]), _LEVELS[args[1]])
    return {}


def _tx_model(state: ChannelState, args: tuple[str, ...]) -> Fields:
    model = model_name(first(args))
    return {"tx_model": model} | presence_fields(state, "TX_MODEL", model is not None)


HANDLERS: dict[str, ChannelHandler] = {
    "CHAN_NAME": lambda state, args: {"name": text(args)},
    "FREQUENCY": lambda state, args: {"frequency_mhz": frequency_mhz(first(args))},
    "TX_MODEL": _tx_model,
    "TX_TYPE": _tx_model,
    "TX_BATT_BARS": lambda state, args: {"battery_bars": bars(first(args))},
    "TX_BATT_MINS": lambda state, args: {"battery_minutes": minutes(first(args))},
    "AUDIO_LEVEL_PEAK": lambda state, args: {"peak_level": _LEVELS[first(args)]},
    "AUDIO_LEVEL_RMS": lambda state, args: {"audio_level": _LEVELS[first(args)]},
    "RSSI": _rssi,
}


def new_interpreter(max_channel: int) -> TableInterpreter:
    return TableInterpreter(HANDLERS, _sample, max_channel)


SLXD: ShureFamily = ShureFamily(
    family=Family.SLXD,
    models=MODELS[Family.SLXD],
    interpreter=new_interpreter,
    # SLX-D+ refuse `GET 0 ALL` (an HA integration on an SLXD4D+; an SLXD4QDAN+ capture).
    fallback_device_props=("MODEL", "DEVICE_ID", "FW_VER", "RF_BAND"),
    fallback_channel_props=(
        "CHAN_NAME",
        "FREQUENCY",
        "TX_MODEL",
        "TX_BATT_BARS",
        "TX_BATT_MINS",
    ),
)
