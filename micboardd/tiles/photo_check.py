"""What an uploaded photo really is: its type from its first bytes, its size from its header.

Pure functions, no image library: the file name and the Content-Type a browser sends say
nothing reliable, the magic bytes and the header do. Only what a browser shows as a CSS
background on every phone is accepted: JPEG, PNG, WebP. Decoding the picture is the
browser's job; checking the declared dimensions here keeps a 1x1 pixel or a 50000-pixel-wide
"decompression bomb" (megabytes of file, gigabytes of pixels on a phone) out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from micboardd.errors import BadUpload

PHOTO_MAX_BYTES = 2 * 1024 * 1024  # a phone photo re-saved for the web; the box is an SD card
PHOTO_MIN_SIDE_PX = 16  # smaller is an icon or a tracking pixel, not a performer
PHOTO_MAX_SIDE_PX = 8192  # larger decodes to >250 MB of pixels in a phone's browser
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
# JPEG start-of-frame markers (they carry the size): C0-CF except DHT, JPG and DAC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01, 0xD8}  # no length field


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    content_type: str
    width: int
    height: int


def sniff_type(data: bytes) -> str | None:
    """The image type by magic bytes, or None for anything else."""
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    if data.startswith(PNG_MAGIC):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            return None
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


_SIZES = {"image/jpeg": _jpeg_size, "image/png": _png_size, "image/webp": _webp_size}


def check_photo(data: bytes) -> PhotoInfo:
    """The photo's type and size, or BadUpload saying what is wrong with it."""
    if len(data) > PHOTO_MAX_BYTES:
        raise BadUpload(
            "size",
            f"the photo is {len(data) / 1048576:.1f} MiB; the limit is "
            f"{PHOTO_MAX_BYTES // 1048576} MiB (save it smaller, e.g. 1200 px wide)",
        )
    if not data:
        raise BadUpload("content", "the upload is empty: send the image file as the body")
    content_type = sniff_type(data)
    if content_type is None:
        raise BadUpload(
            "type", "not a JPEG, PNG or WebP image (judged by its content, not its name)"
        )
    size = _SIZES[content_type](data)
    kind = content_type.removeprefix("image/").upper()
    if size is None:
        raise BadUpload("content", f"a damaged {kind} file: its header gives no picture size")
    width, height = size
    if not (
        PHOTO_MIN_SIDE_PX <= width <= PHOTO_MAX_SIDE_PX
        and PHOTO_MIN_SIDE_PX <= height <= PHOTO_MAX_SIDE_PX
    ):
        raise BadUpload(
            "content",
            f"the {kind} is {width}x{height} pixels; each side must be "
            f"{PHOTO_MIN_SIDE_PX} to {PHOTO_MAX_SIDE_PX}",
        )
    return PhotoInfo(content_type, width, height)
