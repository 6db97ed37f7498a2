"""Binary meter frames (docs/websocket.md "Binary meters"), version 1: encode and decode.

PURE: bytes in, bytes out; no clock, no hub. A frame refers to positions in a *layout*: the
device list of the `initial_data` the client last received for its subscription, whose
`meter_layout` number the frame repeats (a client drops a frame of another layout: a fresh
`initial_data` is on its way).

    offset  size  field
    0       1     version (1)
    1       1     flags: bit 0 set = positions listed, clear = bitmap; other bits 0
    2       2     layout number (u16, little-endian)
    4       4     t: the server's clock, epoch milliseconds modulo 2**32 (u32, little-endian)
    8       ...   bitmap: ceil(n / 8) bytes for a layout of n devices, position i is bit
                  (i % 8) of byte (i // 8); or list: count (u16) and as many u16 positions,
                  ascending
    then    3 x k for the k positions present, in position order: rf_signal (dBm),
                  audio_level (dBFS), peak_level (dBFS), each a signed byte in whole dB
                  (-128: null, unknown)
    then    ceil(k / 8) bytes: which of the k carry a state byte (entry j: bit j % 8 of
                  byte j // 8), those whose `antenna` or `rf_quality` changed
    then    one state byte per such entry, in order: bits 0-3 `antenna`, the lit antennas
                  (A = 1, B = 2, C = 4, D = 8; 0: none lit or unknown, null), bits 4-6
                  `rf_quality` (QUALITY below, 0: null), bit 7 zero

Whole dB loses nothing a meter shows: the hub's meter deadband is 1 dB. `antenna` and
`rf_quality` change at meter rate (diversity switching, RF near a grade's edge), so they
travel with the meters, not as JSON, but only when they change. The encoder takes the
bitmap or the list, whichever is shorter.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

VERSION = 1
FLAG_LISTED = 0x01
NULL = -128  # a meter value nobody knows
HEADER = struct.Struct("<BBHI")
HEADER_SIZE = HEADER.size  # 8
_U16 = struct.Struct("<H")
# Positions are u16: a layout holds at most this many devices (a venue has hundreds).
MAX_POSITIONS = 0xFFFF
# A WebSocket frame header: FIN + binary opcode, then the payload length (RFC 6455 5.2).
_FIN_BINARY = 0x82

# rf_signal, audio_level, peak_level, antenna, rf_quality
Meter = tuple[float | None, float | None, float | None, str | None, str | None]
# rf_signal, audio_level, peak_level; then antenna, rf_quality when the frame carries them
Levels = (
    tuple[int | None, int | None, int | None]
    | tuple[int | None, int | None, int | None, str | None, str | None]
)
RECORD = 3  # meter bytes per device
# rf_quality codes (bits 4-6 of a record's last byte); 0 is null.
QUALITY: tuple[str | None, ...] = (None, "none", "poor", "fair", "good", "excellent", "unknown")
_QUALITY_CODE = {q: i for i, q in enumerate(QUALITY)}
_ANTENNAS = "ABCD"


def _level(value: float | None) -> int:
    """One meter value as a signed byte: whole dB (rounded half up), clamped; NULL if unknown."""
    if value is None:
        return NULL
    whole = int(value + 0.5) if value >= 0 else -int(-value + 0.5)
    return -127 if whole < -127 else 127 if whole > 127 else whole


def _state(antenna: str | None, quality: str | None) -> int:
    mask = 0
    for letter in antenna or "":
        mask |= 1 << _ANTENNAS.find(letter) if letter in _ANTENNAS else 0
    return mask | _QUALITY_CODE.get(quality, 0) << 4


def encode(layout: int, t_ms: int, size: int, present: Sequence[tuple[int, Meter, bool]]) -> bytes:
    """The frame for a layout of `size` devices carrying `present`: (position, meters, with
    its state byte) in ascending position order."""
    values = bytearray()
    states = bytearray()
    which = 0
    for j, (_, (rf, audio, peak, antenna, quality), stated) in enumerate(present):
        values += struct.pack("<bbb", _level(rf), _level(audio), _level(peak))
        if stated:
            which |= 1 << j
            states.append(_state(antenna, quality))
    values += which.to_bytes((len(present) + 7) // 8, "little") + states
    bitmap_len = (size + 7) // 8
    listed = 2 + 2 * len(present) < bitmap_len
    head = HEADER.pack(VERSION, FLAG_LISTED if listed else 0, layout & 0xFFFF, t_ms & 0xFFFFFFFF)
    if listed:
        where = _U16.pack(len(present)) + b"".join(_U16.pack(p) for p, _, _ in present)
    else:
        bits = 0
        for position, _, _ in present:
            bits |= 1 << position
        where = bits.to_bytes(bitmap_len, "little")
    return head + where + bytes(values)


def wire(payload: bytes) -> bytes:
    """The whole WebSocket frame (server to client: unmasked, uncompressed) for a payload,
    built once and written as it is to every client of a subscription."""
    n = len(payload)
    if n < 126:
        head = bytes((_FIN_BINARY, n))
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", _FIN_BINARY, 126, n)
    else:
        head = struct.pack("!BBQ", _FIN_BINARY, 127, n)
    return head + payload


@dataclass(frozen=True, slots=True)
class Decoded:
    layout: int
    t_ms: int  # modulo 2**32
    meters: dict[int, Levels]  # position -> values


class MeterFrameError(ValueError):
    """Not a version-1 meter frame for this layout size."""


def decode(data: bytes, size: int) -> Decoded:
    """A frame for a layout of `size` devices (what a client does; the tests use it)."""
    if len(data) < HEADER_SIZE:
        raise MeterFrameError(f"frame of {len(data)} bytes is shorter than its header")
    version, flags, layout, t_ms = HEADER.unpack_from(data)
    if version != VERSION:
        raise MeterFrameError(f"unknown meter frame version {version}")
    at = HEADER_SIZE
    positions: list[int]
    if flags & FLAG_LISTED:
        (count,) = _U16.unpack_from(data, at)
        at += 2
        positions = [_U16.unpack_from(data, at + 2 * i)[0] for i in range(count)]
        at += 2 * count
    else:
        nbytes = (size + 7) // 8
        bits = int.from_bytes(data[at : at + nbytes], "little")
        at += nbytes
        positions = [i for i in range(size) if bits >> i & 1]
    k = len(positions)
    states_at = at + RECORD * k
    which = int.from_bytes(data[states_at : states_at + (k + 7) // 8], "little")
    state_at = states_at + (k + 7) // 8
    if len(data) != state_at + which.bit_count() or which >> k:
        raise MeterFrameError("frame length does not match its positions")
    meters: dict[int, Levels] = {}
    for j, position in enumerate(positions):
        rf, audio, peak = struct.unpack_from("<bbb", data, at + RECORD * j)
        levels = (None if rf == NULL else rf, None if audio == NULL else audio)
        levels3 = (*levels, None if peak == NULL else peak)
        if not which >> j & 1:
            meters[position] = levels3
            continue
        flags = data[state_at]
        state_at += 1
        code = flags >> 4
        if code >= len(QUALITY) or flags & 0x80:
            raise MeterFrameError(f"bad state byte {flags:#04x}")
        letters = "".join(c for bit, c in enumerate(_ANTENNAS) if flags >> bit & 1)
        meters[position] = (*levels3, letters or None, QUALITY[code])
    return Decoded(layout, t_ms, meters)
