"""Photo uploads are judged by their content: type by magic bytes, size from the header."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from micboardd.errors import BadUpload
from micboardd.tiles.photo_check import (
    PHOTO_MAX_BYTES,
    PHOTO_MAX_SIDE_PX,
    PHOTO_MIN_SIDE_PX,
    check_photo,
)
from tests.images import jpeg_header, png, webp_vp8_header, webp_vp8l_header, webp_vp8x_header


@pytest.mark.parametrize(
    ("data", "content_type", "size"),
    [
        (png(64, 48), "image/png", (64, 48)),
        (jpeg_header(1200, 800), "image/jpeg", (1200, 800)),
        (jpeg_header(640, 480, app_segments=3), "image/jpeg", (640, 480)),
        (webp_vp8x_header(1920, 1080), "image/webp", (1920, 1080)),
        (webp_vp8l_header(300, 400), "image/webp", (300, 400)),
        (webp_vp8_header(500, 600), "image/webp", (500, 600)),
    ],
)
def test_each_accepted_type_and_its_size(
    data: bytes, content_type: str, size: tuple[int, int]
) -> None:
    info = check_photo(data)
    assert (info.content_type, (info.width, info.height)) == (content_type, size)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 100,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.7\n" + b"\x00" * 100,
        b"BM" + b"\x00" * 100,  # BMP
        b"RIFF\x00\x00\x00\x00WAVEfmt ",  # a RIFF file, but audio
        b"just text named photo.jpg",
    ],
)
def test_other_files_are_unsupported_whatever_their_name(data: bytes) -> None:
    with pytest.raises(BadUpload) as err:
        check_photo(data)
    assert err.value.reason == "type"
    assert "JPEG, PNG or WebP" in str(err.value)


def test_too_large_is_refused_before_anything_else() -> None:
    with pytest.raises(BadUpload) as err:
        check_photo(png() + b"\x00" * PHOTO_MAX_BYTES)
    assert err.value.reason == "size" and "2 MiB" in str(err.value)
    check_photo(png() + b"\x00" * (PHOTO_MAX_BYTES - len(png())))  # exactly the limit: fine


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (png()[:20], "damaged PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "damaged JPEG"),
        (b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20, "damaged JPEG"),  # scan before frame
        (b"RIFF\x00\x00\x00\x00WEBPVP8Z" + b"\x00" * 20, "damaged WEBP"),
        (png(1, 1), "1x1 pixels"),
        (jpeg_header(PHOTO_MAX_SIDE_PX + 1, 100), f"{PHOTO_MAX_SIDE_PX + 1}x100"),
        (webp_vp8x_header(60000, 60000), "60000x60000"),
        (jpeg_header(PHOTO_MIN_SIDE_PX - 1, 100), "each side must be"),
    ],
)
def test_damaged_or_absurd_pictures_are_bad_content(data: bytes, words: str) -> None:
    with pytest.raises(BadUpload) as err:
        check_photo(data)
    assert err.value.reason == "content"
    assert words in str(err.value)


@given(st.binary(max_size=200))
def test_any_bytes_give_a_verdict_never_a_crash(data: bytes) -> None:
    try:
        check_photo(data)
    except BadUpload:
        pass


@given(st.integers(min_value=0, max_value=200), st.sampled_from([0, 1, 2, 3, 4, 5]))
def test_every_truncation_of_a_good_file_gives_a_verdict(cut: int, which: int) -> None:
    good = [
        png(),
        jpeg_header(800, 600),
        webp_vp8x_header(800, 600),
        webp_vp8l_header(800, 600),
        webp_vp8_header(800, 600),
        jpeg_header(800, 600, app_segments=2),
    ][which]
    try:
        check_photo(good[:cut])
    except BadUpload as exc:
        assert exc.reason in {"type", "content"}
