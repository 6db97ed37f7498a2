"""Binary meter frames (docs/websocket.md "Binary meters"), version 2: encode and decode.

PURE: bytes in, bytes out; no clock, no hub. A frame refers to positions in a *layout*: the
device list of the `initial_data` the client last received for its subscription, whose
`meter_layout` number the frame repeats (a client drops a frame of another layout: a fresh
`initial_data` is on its way).

    offset  size  field
    0       1     version (2)
    1       1     flags: bit 0 set = positions listed, clear = bitmap; bit 1 = a peak
                  section follows the meters; bit 2 = a state section follows; other bits 0
    2       2     layout number (u16, little-endian)
    4       4     t: the server's clock, epoch milliseconds modulo 2**32 (u32, little-endian)
    8       ...   bitmap: ceil(n / 8) bytes for a layout of n devices, position i is bit
                  (i % 8) of byte (i // 8); or list: count (u16) and as many u16 positions,
                  ascending
    then    2 x k for the k positions present, in position order: rf_signal (dBm),
                  audio_level (dBFS), each a signed byte in whole dB (-128: null, unknown)
    then    (flag bit 1) the peak section: ceil(k / 8) bytes saying which of the k carry a
                  peak byte (entry j: bit j % 8 of byte j // 8), then one signed byte of
                  peak_level (dBFS) per such entry, in order; an entry without one has
                  peak_level = audio_level (null too)
    then    (flag bit 2) the state section: ceil(k / 8) bytes saying which of the k carry a
                  state byte, those whose `antenna` or `rf_quality` changed, then one state
                  byte per such entry, in order: bits 0-3 `antenna`, the lit antennas (A = 1,
                  B = 2, C = 4, D = 8; 0: none lit or unknown, null), bits 4-6 `rf_quality`
                  (QUALITY below, 0: null), bit 7 zero

Whole dB loses nothing a meter shows: the hub's meter deadband is 1 dB. Most receivers
(ULX-D, QLX-D, UHF-R, PSM 1000, the Sennheisers but for a peak warning) report one audio
value that feeds both `audio_level` and `peak_level`, so a peak byte travels only where the
peak differs from the audio level in whole dB (Axient Digital, SLX-D): version 1 repeated it
for every device, a third of its meter bytes.
`antenna` and `rf_quality` change at meter rate (diversity switching, RF near a grade's
edge), so they travel with the meters, not as JSON, but only when they change. A section
nobody in the frame needs is left out (its flag clear). The encoder takes the bitmap or the
list, whichever is shorter.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

VERSION = 2
FLAG_LISTED = 0x01
FLAG_PEAKS = 0x02
FLAG_STATES = 0x04
_FLAGS = FLAG_LISTED | FLAG_PEAKS | FLAG_STATES
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
RECORD = 2  # meter bytes every device present carries: rf_signal, audio_level
# rf_quality codes (bits 4-6 of a state byte); 0 is null.
QUALITY: tuple[str | None, ...] = (None, "none", "poor", "fair", "good", "excellent", "unknown")
_QUALITY_CODE = {q: i for i, q in enumerate(QUALITY)}
_ANTENNAS = "ABCD"


def _level(value: float | None) -> int:
    """One meter value as a byte: whole dB (rounded half up), clamped to -127..127, two's
    complement; NULL (0x80) if unknown."""
    if value is None:
        return NULL & 0xFF
    whole = int(value + 0.5) if value >= 0 else -int(-value + 0.5)
    return (-127 if whole < -127 else 127 if whole > 127 else whole) & 0xFF


def _state(antenna: str | None, quality: str | None) -> int:
    mask = 0
    for letter in antenna or "":
        mask |= 1 << _ANTENNAS.find(letter) if letter in _ANTENNAS else 0
    return mask | _QUALITY_CODE.get(quality, 0) << 4


def encode(layout: int, t_ms: int, size: int, present: Sequence[tuple[int, Meter, bool]]) -> bytes:
    """The frame for a layout of `size` devices carrying `present`: (position, meters, with
    its state byte) in ascending position order."""
    k = len(present)
    levels = bytearray(RECORD * k)
    peaks = bytearray()
    states = bytearray()
    peaked = stated = bits = 0
    for j, (position, (rf, audio, peak, antenna, quality), with_state) in enumerate(present):
        bits |= 1 << position
        levels[2 * j] = _level(rf)
        levels[2 * j + 1] = audio_byte = _level(audio)
        if (peak_byte := _level(peak)) != audio_byte:
            peaked |= 1 << j
            peaks.append(peak_byte)
        if with_state:
            stated |= 1 << j
            states.append(_state(antenna, quality))
    mask_len = (k + 7) // 8
    flags = 0
    if peaked:
        flags |= FLAG_PEAKS
        levels += peaked.to_bytes(mask_len, "little") + peaks
    if stated:
        flags |= FLAG_STATES
        levels += stated.to_bytes(mask_len, "little") + states
    bitmap_len = (size + 7) // 8
    if 2 + 2 * k < bitmap_len:
        flags |= FLAG_LISTED
        where = _U16.pack(k) + b"".join(_U16.pack(p) for p, _, _ in present)
    else:
        where = bits.to_bytes(bitmap_len, "little")
    return HEADER.pack(VERSION, flags, layout & 0xFFFF, t_ms & 0xFFFFFFFF) + where + levels


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
    """Not a version-2 meter frame for this layout size."""


def decode(data: bytes, size: int) -> Decoded:
    """A frame for a layout of `size` devices (what a client does; the tests and the bench
    use it)."""
    if len(data) < HEADER_SIZE:
        raise MeterFrameError(f"frame of {len(data)} bytes is shorter than its header")
    version, flags, layout, t_ms = HEADER.unpack_from(data)
    if version != VERSION:
        raise MeterFrameError(f"unknown meter frame version {version}")
    if flags & ~_FLAGS:
        raise MeterFrameError(f"unknown meter frame flags {flags:#04x}")
    positions, at = _positions(data, flags & FLAG_LISTED, size)
    k = len(positions)
    levels_at = at
    at += RECORD * k
    peaks, at = _section(data, at, k, flags & FLAG_PEAKS)
    states, at = _section(data, at, k, flags & FLAG_STATES)
    if at != len(data):
        raise MeterFrameError("frame length does not match its positions")
    meters: dict[int, Levels] = {}
    for j, position in enumerate(positions):
        rf, audio = data[levels_at + RECORD * j], data[levels_at + RECORD * j + 1]
        levels3 = (_value(rf), _value(audio), _value(peaks.get(j, audio)))
        state = states.get(j)
        meters[position] = levels3 if state is None else (*levels3, *_read_state(state))
    return Decoded(layout, t_ms, meters)


def _positions(data: bytes, listed: int, size: int) -> tuple[list[int], int]:
    """The positions a frame names, and where its meters start."""
    at = HEADER_SIZE
    if listed:
        _need(data, at + 2)
        (count,) = _U16.unpack_from(data, at)
        at += 2
        _need(data, at + 2 * count)
        positions = [_U16.unpack_from(data, at + 2 * i)[0] for i in range(count)]
        if any(b <= a for a, b in pairwise(positions)):
            raise MeterFrameError("listed positions are not ascending")
        if positions and positions[-1] >= size:
            raise MeterFrameError(f"position {positions[-1]} is beyond a layout of {size}")
        return positions, at + 2 * count
    nbytes = (size + 7) // 8
    _need(data, at + nbytes)
    bits = int.from_bytes(data[at : at + nbytes], "little")
    if bits >> size:
        raise MeterFrameError(f"the bitmap names positions beyond a layout of {size}")
    return [i for i in range(size) if bits >> i & 1], at + nbytes


def _section(data: bytes, at: int, k: int, present: int) -> tuple[dict[int, int], int]:
    """A peak or state section (when its flag is set): {entry: byte}, and where it ends."""
    if not present:
        return {}, at
    nbytes = (k + 7) // 8
    _need(data, at + nbytes)
    bits = int.from_bytes(data[at : at + nbytes], "little")
    if bits >> k:
        raise MeterFrameError("a section names entries the frame does not carry")
    at += nbytes
    entries = [j for j in range(k) if bits >> j & 1]
    _need(data, at + len(entries))
    return dict(zip(entries, data[at : at + len(entries)], strict=True)), at + len(entries)


def _need(data: bytes, end: int) -> None:
    if len(data) < end:
        raise MeterFrameError("frame length does not match its positions")


def _value(byte: int) -> int | None:
    """A meter byte as whole dB, or None for NULL."""
    return None if byte == NULL & 0xFF else byte - 256 if byte > 127 else byte


def _read_state(byte: int) -> tuple[str | None, str | None]:
    code = byte >> 4
    if code >= len(QUALITY) or byte & 0x80:
        raise MeterFrameError(f"bad state byte {byte:#04x}")
    letters = "".join(c for bit, c in enumerate(_ANTENNAS) if byte >> bit & 1)
    return letters or None, QUALITY[code]
