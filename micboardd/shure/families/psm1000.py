"""PSM1000 (P10T, 2 channels): an in-ear monitor *transmitter*, not a receiver.

Same port and angle brackets as the receivers, but replies say ``REPORT`` (``REP`` is accepted
too), device parameters carry no channel (``< REPORT DEVICE_NAME {...} >``) and messages are
CRLF-terminated: every command we send ends in CRLF. There is no ``GET x ALL`` and no FLASH.

Being a transmitter it has no battery, received RF or transmitter presence: we report the
channel name, the frequency, ``RF_MUTE`` as `mute_status` (``1``/``ON`` = RF muted) and the
audio input meters as `audio_level` / `peak_level`, and never `tx_on`.

UNVERIFIED meter scale: ``AUDIO_IN_LVL_L`` / ``_R`` carry an 11-digit number whose unit no
document gives (Micboard buckets it with thresholds 10272 ... 2502970). We read it as a linear
amplitude on a 24-bit scale: dBFS = 20 * log10(raw / 8388607), 0 -> -120 dBFS (silence),
clamped at 0 dBFS, rounded to 0.1 dB. On that reading Micboard's full bar (2502970) is about
-10.5 dBFS. The channel's level is the louder of the two inputs.
"""

from __future__ import annotations

import math

from micboardd.model import Family
from micboardd.shure.families.base import (
    ChannelHandler,
    ShureFamily,
    TableInterpreter,
)
from micboardd.shure.families.models import MODELS
from micboardd.shure.families.values import (
    AUDIO_FLOOR_DBFS,
    ChannelState,
    Fields,
    first,
    flag,
    frequency_mhz,
    text,
    to_int,
)

FULL_SCALE_24BIT = 8_388_607  # UNVERIFIED reference for AUDIO_IN_LVL_* (module docstring)


def input_dbfs(token: str) -> float | None:
    value = to_int(token)
    if value is None:
        return None
    if value == 0:
        return float(AUDIO_FLOOR_DBFS)
    return min(0.0, round(20 * math.log10(value / FULL_SCALE_24BIT), 1))


def _input(side: str) -> ChannelHandler:
    def handle(state: ChannelState, args: tuple[str, ...]) -> Fields:
        state.inputs[side] = input_dbfs(first(args))
        known = [v for v in state.inputs.values() if v is not None]
        level = max(known) if known else None
        return {"audio_level": level, "peak_level": level}

    return handle


HANDLERS: dict[str, ChannelHandler] = {
    "CHAN_NAME": lambda state, args: {"name": text(args)},
    "FREQUENCY": lambda state, args: {"frequency_mhz": frequency_mhz(first(args))},
    "RF_MUTE": lambda state, args: {"mute_status": flag(first(args), {"1", "ON"}, {"0", "OFF"})},
    "AUDIO_IN_LVL_L": _input("L"),
    "AUDIO_IN_LVL_R": _input("R"),
}


def new_interpreter(max_channel: int) -> TableInterpreter:
    return TableInterpreter(HANDLERS, None, max_channel)


PSM1000: ShureFamily = ShureFamily(
    family=Family.PSM1000,
    models=MODELS[Family.PSM1000],
    interpreter=new_interpreter,
    crlf=True,
    sync_device_props=("DEVICE_NAME",),
    sync_channel_props=("CHAN_NAME", "FREQUENCY", "RF_MUTE"),
    heartbeat_prop="CHAN_NAME",
    identify="none",
    meter_per_channel=True,  # `< SET n METER_RATE … >` per channel, as Companion's module does
)
