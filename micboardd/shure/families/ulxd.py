"""ULX-D (ULXD4/4D/4Q) and QLX-D (QLXD4): one vocabulary, two families.

QLX-D speaks the ULX-D vocabulary minus some features (no AUDIO_MUTE, no summing or
frequency-diversity modes, ENCRYPTION is only OFF/ON); the interpreter is shared and simply
never sees the properties a QLX-D does not send.

Metering: ``< SAMPLE x ALL nn aaa eee >`` with
* ``nn``  antenna LEDs: ``AX`` (A), ``XB`` (B), ``AB``, ``XX`` (none) -> `antenna`;
* ``aaa`` RF level 000-115 -> `rf_signal` dBm = aaa - 128 (Shure's ULX-D PDF, quoted by two
  independent sources);
* ``eee`` audio level 000-050 -> `audio_level` and `peak_level`, both **eee - 50 dBFS**.
  UNVERIFIED: Shure's PDF gives no unit for ``eee``. We read it as dBFS relative to full scale
  in 1 dB steps (as Bitfocus Companion does), so 50 = 0 dBFS, i.e. clipping. Micboard reads it
  as a 0-100 % bar (x2); both agree that 50 is the top. The sample carries one audio value, so
  it feeds both the RMS and the peak field.

`RX_RF_LVL`, `AUDIO_LVL` and `RF_ANTENNA` appear in old third-party code but in no Shure
document (PROTOCOLS.md [U]); we never GET them, and if a receiver sends them they are read with
the SAMPLE scales above.

Transmitter presence (`tx_on`): TX_TYPE is not ``UNKN`` and BATT_BARS is not 255.
BATT_RUN_TIME 65533/65534 (documented for AD and SLX-D only) are treated as unknown here too.
"""

from __future__ import annotations

import re

from micboardd.model import Family
from micboardd.shure.families.base import (
    ChannelHandler,
    SampleScan,
    ShureFamily,
    TableInterpreter,
)
from micboardd.shure.families.models import MODELS
from micboardd.shure.families.values import (
    UNKNOWN_8BIT,
    AntennaLetters,
    ChannelState,
    Fields,
    OffsetLevels,
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
from micboardd.sources.ports import Sample

RF_OFFSET = 128  # SAMPLE aaa: dBm = aaa - 128
AUDIO_OFFSET = 50  # SAMPLE eee: dBFS = eee - 50 (unit unverified, see module docstring)
ON_OFF = ({"ON"}, {"OFF"})
_LIT = "AB"

_RF_LEVELS = OffsetLevels(RF_OFFSET)
_AUDIO_LEVELS = OffsetLevels(AUDIO_OFFSET)
_ANTENNAS = AntennaLetters(_LIT)


def _rf(token: str) -> Fields:
    return {"rf_signal": _RF_LEVELS[token]}


def _audio(token: str) -> Fields:
    level = _AUDIO_LEVELS[token]
    return {"audio_level": level, "peak_level": level}


def _antenna(token: str) -> Fields:
    return {"antenna": _ANTENNAS[token]}


def _sample(state: ChannelState, args: tuple[str, ...]) -> Fields:
    if len(args) < 3:
        return {}
    # One dict literal, not _antenna | _rf | _audio: this runs for every metering frame.
    level = _AUDIO_LEVELS[args[2]]
    return {
        "antenna": _ANTENNAS[args[0]],
        "rf_signal": _RF_LEVELS[args[1]],
        "audio_level": level,
        "peak_level": level,
    }


# A SAMPLE frame as ULX-D and QLX-D send it, always 27 characters: one-digit channel,
# two antenna letters, three-digit RF and audio.
_SAMPLE_FRAME = "< SAMPLE ([1-{}]) ALL ([A-Za-z]{{2}}) ([0-9]{{3}}) ([0-9]{{3}}) >"
_SAMPLE_LEN = len("< SAMPLE 1 ALL AX 070 030 >")


def sample_scan(max_channel: int) -> SampleScan:
    """`_sample` for writes of nothing but well-formed SAMPLE frames (nearly all of them)."""
    return SampleScan(re.compile(_SAMPLE_FRAME.format(max_channel)), _SAMPLE_LEN, _read_samples)


def _read_samples(rows: list[tuple[str, ...]]) -> list[Sample]:
    # One call per write, not one per frame: the write's few frames in one loop.
    rf_levels, audio_levels, antennas = _RF_LEVELS, _AUDIO_LEVELS, _ANTENNAS
    out: list[Sample] = []
    for channel, antenna, rf, audio in rows:
        level = audio_levels[audio]
        out.append((int(channel), antennas[antenna], rf_levels[rf], level, level))
    return out


def _tx_type(state: ChannelState, args: tuple[str, ...]) -> Fields:
    model = model_name(first(args))
    return {"tx_model": model} | presence_fields(state, "TX_TYPE", model is not None)


def _batt_bars(state: ChannelState, args: tuple[str, ...]) -> Fields:
    raw = first(args)
    value = bars(raw)
    present = True if value is not None else (False if to_int(raw) == UNKNOWN_8BIT else None)
    return {"battery_bars": value} | presence_fields(state, "BATT_BARS", present)


HANDLERS: dict[str, ChannelHandler] = {
    "CHAN_NAME": lambda state, args: {"name": text(args)},
    "FREQUENCY": lambda state, args: {"frequency_mhz": frequency_mhz(first(args))},
    "TX_TYPE": _tx_type,
    "BATT_BARS": _batt_bars,
    "BATT_CHARGE": lambda state, args: {"battery_level": percent(first(args))},
    "BATT_RUN_TIME": lambda state, args: {"battery_minutes": minutes(first(args))},
    "AUDIO_MUTE": lambda state, args: mute_fields(state, "AUDIO_MUTE", flag(first(args), *ON_OFF)),
    "TX_MUTE_STATUS": lambda state, args: mute_fields(state, "TX_MUTE", flag(first(args), *ON_OFF)),
    "RF_INT_DET": lambda state, args: interference_fields(
        state, "RF_INT_DET", flag(first(args), {"CRITICAL"}, {"NONE"})
    ),
    "ENCRYPTION_WARNING": lambda state, args: {"encryption_error": flag(first(args), *ON_OFF)},
    # Undocumented, accepted if they arrive (module docstring).
    "RX_RF_LVL": lambda state, args: _rf(first(args)),
    "AUDIO_LVL": lambda state, args: _audio(first(args)),
    "RF_ANTENNA": lambda state, args: _antenna(first(args)),
}


# Should a ULX-D / QLX-D refuse `GET 0 ALL` as SLX-D+ do, these stand in for it.
FALLBACK_DEVICE_PROPS = ("MODEL", "DEVICE_ID", "FW_VER", "RF_BAND", "ENCRYPTION")
FALLBACK_CHANNEL_PROPS = (
    "CHAN_NAME",
    "FREQUENCY",
    "TX_TYPE",
    "BATT_BARS",
    "BATT_CHARGE",
    "BATT_RUN_TIME",
    "RF_INT_DET",
    "ENCRYPTION_WARNING",
)


def new_interpreter(max_channel: int) -> TableInterpreter:
    return TableInterpreter(HANDLERS, _sample, max_channel)


ULXD: ShureFamily = ShureFamily(
    family=Family.ULXD,
    models=MODELS[Family.ULXD],
    interpreter=new_interpreter,
    sample_scan=sample_scan(max(MODELS[Family.ULXD].values())),
    identify="device",
    fallback_device_props=FALLBACK_DEVICE_PROPS,
    fallback_channel_props=FALLBACK_CHANNEL_PROPS,
)

QLXD: ShureFamily = ShureFamily(
    family=Family.QLXD,
    models=MODELS[Family.QLXD],
    interpreter=new_interpreter,
    sample_scan=sample_scan(max(MODELS[Family.QLXD].values())),
    identify="device",
    fallback_device_props=FALLBACK_DEVICE_PROPS,
    fallback_channel_props=FALLBACK_CHANNEL_PROPS,
)
