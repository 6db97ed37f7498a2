"""Unit tests for the pure wire codec (micboardd.shure.codec)."""

from __future__ import annotations

import pytest

from micboardd.errors import ProtocolError
from micboardd.shure.codec import (
    MAX_FRAME_BYTES,
    Frame,
    Framing,
    MessageKind,
    encode,
    parse_frame,
    quote,
)
from micboardd.shure.decoder import StreamDecoder

STREAM = (
    b"< REP 1 CHAN_NAME {Vox 1                          } >"
    b"< SAMPLE 1 ALL 255 000 005 033 XX 00 011 00 012 >"
    b"< REP DEVICE_ID {RF 5-8  } >< REP ERR >"
    b"< REP 2 CHAN_NAME {A>B<C   } >< REP 1 RSSI 2 012 >"
)


def _summary(frames: list[Frame]) -> list[tuple[MessageKind, int | None, str, tuple[str, ...]]]:
    return [(f.kind, f.channel, f.prop, f.args) for f in frames]


EXPECTED = [
    (MessageKind.REP, 1, "CHAN_NAME", ("Vox 1",)),
    (
        MessageKind.SAMPLE,
        1,
        "ALL",
        ("255", "000", "005", "033", "XX", "00", "011", "00", "012"),
    ),
    (MessageKind.REP, None, "DEVICE_ID", ("RF 5-8",)),
    (MessageKind.ERR, None, "ERR", ()),
    (MessageKind.REP, 2, "CHAN_NAME", ("A>B<C",)),
    (MessageKind.REP, 1, "RSSI", ("2", "012")),
]


# --- StreamDecoder -------------------------------------------------------------------------


def test_several_frames_in_one_segment() -> None:
    dec = StreamDecoder()
    assert _summary(dec.feed(STREAM)) == EXPECTED
    assert dec.garbage_count == 0
    assert dec.last_error is None
    assert dec.pending == 0
    assert dec.frame_count == len(EXPECTED)


def test_raw_keeps_the_frame_as_received() -> None:
    (frame,) = StreamDecoder().feed(b"  < REP 1 CHAN_NAME {Vox   } >")
    assert frame.raw == "< REP 1 CHAN_NAME {Vox   } >"


@pytest.mark.parametrize("offset", range(1, len(STREAM)))
def test_split_at_every_offset_gives_the_same_frames(offset: int) -> None:
    dec = StreamDecoder()
    frames = dec.feed(STREAM[:offset]) + dec.feed(STREAM[offset:])
    assert _summary(frames) == EXPECTED
    assert dec.garbage_count == 0


def test_one_byte_at_a_time() -> None:
    dec = StreamDecoder()
    frames = [f for i in range(len(STREAM)) for f in dec.feed(STREAM[i : i + 1])]
    assert _summary(frames) == EXPECTED


def test_incomplete_frame_waits_for_more() -> None:
    dec = StreamDecoder()
    assert dec.feed(b"< REP 1 CHAN_NAME {Vo") == []
    assert dec.pending == len(b"< REP 1 CHAN_NAME {Vo")
    assert _summary(dec.feed(b"x} >")) == [(MessageKind.REP, 1, "CHAN_NAME", ("Vox",))]


@pytest.mark.parametrize(
    ("wire", "value"),
    [
        (b"< REP 1 CHAN_NAME {} >", ""),
        (b"< REP 1 CHAN_NAME {        } >", ""),
        (b"< REP 1 CHAN_NAME {Vox 1   } >", "Vox 1"),
        (b"< REP 1 CHAN_NAME {  lead  } >", "  lead"),
        (b"< REP 1 CHAN_NAME {a>b} >", "a>b"),
        (b"< REP 1 CHAN_NAME {<<>>} >", "<<>>"),
        (b"< REP 1 CHAN_NAME {x*y} >", "x*y"),
    ],
)
def test_braced_strings_are_one_token_right_padding_stripped(wire: bytes, value: str) -> None:
    (frame,) = StreamDecoder().feed(wire)
    assert frame.args == (value,)


def test_braced_token_among_others() -> None:
    (frame,) = StreamDecoder().feed(b"< REP 1 SLOT_TX_DEVICE_ID 8 {                  } >")
    assert frame.args == ("8", "")


def test_rep_err_with_and_without_channel() -> None:
    frames = StreamDecoder().feed(b"< REP ERR >< REP 3 ERR >")
    assert _summary(frames) == [
        (MessageKind.ERR, None, "ERR", ()),
        (MessageKind.ERR, 3, "ERR", ()),
    ]


def test_report_and_crlf_between_frames() -> None:
    data = b"< REPORT DEVICE_NAME {IEM} >\r\n< REPORT 1 RF_MUTE 1 >\r\n\r\n \t< REPORT 2 RF_MUTE 0 >\r\n"
    dec = StreamDecoder()
    assert _summary(dec.feed(data)) == [
        (MessageKind.REPORT, None, "DEVICE_NAME", ("IEM",)),
        (MessageKind.REPORT, 1, "RF_MUTE", ("1",)),
        (MessageKind.REPORT, 2, "RF_MUTE", ("0",)),
    ]
    assert dec.garbage_count == 0


def test_garbage_before_a_frame_is_discarded_and_counted_once() -> None:
    dec = StreamDecoder()
    assert dec.feed(b"\x00\xffnoise>> more noise") == []
    frames = dec.feed(b" still noise < REP 1 BATT_BARS 004 >")
    assert _summary(frames) == [(MessageKind.REP, 1, "BATT_BARS", ("004",))]
    assert dec.garbage_count == 1
    assert dec.last_error is not None
    assert "outside a frame" in dec.last_error


def test_malformed_frames_are_counted_not_raised() -> None:
    dec = StreamDecoder()
    frames = dec.feed(b"< HELLO 1 X >< REP 1 >< >< REP 1 A x} >< REP 1 A 1 >")
    assert _summary(frames) == [(MessageKind.REP, 1, "A", ("1",))]
    assert dec.garbage_count == 4  # unknown kind, no property, empty, unmatched '}'
    assert dec.last_error is not None
    assert "unmatched" in dec.last_error


def test_unterminated_brace_waits_until_max_frame() -> None:
    # Inside braces '>' and '<' are data, so an unterminated '{' holds the frame open until
    # max_frame bytes; then the decoder drops them and resynchronises.
    dec = StreamDecoder(max_frame=48)
    assert dec.feed(b"< REP 1 A {oops >< REP 1 B 1 >") == []
    frames = dec.feed(b" " * 48 + b"< REP 1 C 2 >")
    assert _summary(frames) == [(MessageKind.REP, 1, "C", ("2",))]
    assert dec.garbage_count == 1


def test_new_start_inside_a_frame_restarts_it() -> None:
    # A frame whose '>' was lost is abandoned when the next '<' (outside braces) arrives.
    dec = StreamDecoder()
    frames = dec.feed(b"< REP 1 BATT_BA< REP 1 BATT_BARS 003 >")
    assert _summary(frames) == [(MessageKind.REP, 1, "BATT_BARS", ("003",))]
    assert dec.garbage_count == 1
    assert dec.last_error is not None
    assert "new start" in dec.last_error


def test_over_long_frame_resynchronises() -> None:
    dec = StreamDecoder(max_frame=64)
    junk = b"< REP 1 CHAN_NAME {" + b"x" * 200  # unterminated brace: no end in 64 bytes
    assert dec.feed(junk) == []
    assert dec.pending < 64
    assert dec.garbage_count == 1
    assert dec.last_error == "no frame terminator within 64 bytes"
    frames = dec.feed(b"} >< REP 1 BATT_BARS 002 >")
    assert _summary(frames) == [(MessageKind.REP, 1, "BATT_BARS", ("002",))]
    assert dec.garbage_count == 1  # the tail of the long frame is part of the same junk


def test_frame_of_exactly_max_bytes_is_accepted() -> None:
    frame = b"< REP 1 X " + b"a" * 20 + b" >"
    dec = StreamDecoder(max_frame=len(frame))
    assert len(dec.feed(frame[:10]) + dec.feed(frame[10:])) == 1
    assert len(StreamDecoder(max_frame=len(frame) - 1).feed(frame)) == 0


def test_buffer_stays_bounded_on_endless_garbage() -> None:
    dec = StreamDecoder()
    for _ in range(50):
        dec.feed(b"<" + b"z" * 999)
        assert dec.pending <= MAX_FRAME_BYTES


def test_non_ascii_bytes_inside_a_frame_do_not_raise() -> None:
    (frame,) = StreamDecoder().feed(b"< REP 1 CHAN_NAME {Caf\xe9} >")
    assert frame.args == ("Caf\ufffd",)


def test_reset_drops_a_partial_frame() -> None:
    dec = StreamDecoder()
    dec.feed(b"< REP 1 CHAN")
    dec.reset()
    assert dec.pending == 0
    assert _summary(dec.feed(b"< REP 1 A 1 >")) == [(MessageKind.REP, 1, "A", ("1",))]


def test_max_frame_must_be_sane() -> None:
    with pytest.raises(ProtocolError):
        StreamDecoder(max_frame=3)


# --- STAR framing (UHF-R) -------------------------------------------------------------------


def test_star_framing_datagrams() -> None:
    dec = StreamDecoder(Framing.STAR)
    frames = dec.feed(b"* REPORT 1 CHAN_NAME {A*B  } *") + dec.feed(
        b"* SAMPLE 2 ALL XB 090 070 3 001 *"
    )
    assert _summary(frames) == [
        (MessageKind.REPORT, 1, "CHAN_NAME", ("A*B",)),
        (MessageKind.SAMPLE, 2, "ALL", ("XB", "090", "070", "3", "001")),
    ]
    assert dec.garbage_count == 0


def test_star_framing_resyncs_on_a_stray_star() -> None:
    dec = StreamDecoder(Framing.STAR)
    frames = dec.feed(b"*\n* REPORT 1 TX_BAT 4 *")
    assert _summary(frames) == [(MessageKind.REPORT, 1, "TX_BAT", ("4",))]
    assert dec.garbage_count == 0


def test_star_framing_recovers_after_a_bad_message() -> None:
    dec = StreamDecoder(Framing.STAR)
    frames = dec.feed(b"junk* not a message ** REPORT 2 TX_BAT U *")
    assert _summary(frames) == [(MessageKind.REPORT, 2, "TX_BAT", ("U",))]
    assert dec.garbage_count == 2  # the junk run, the bad message


def test_star_framing_misaligned_by_junk_containing_a_star() -> None:
    # "abc*" looks like the end of a message we missed; the real one still decodes.
    dec = StreamDecoder(Framing.STAR)
    frames = dec.feed(b"abc* GARBLED * REPORT 1 TX_BAT 5 *")
    assert _summary(frames)[-1] == (MessageKind.REPORT, 1, "TX_BAT", ("5",))


# --- parse_frame ----------------------------------------------------------------------------


def test_parse_device_level_and_all_channels() -> None:
    assert parse_frame("< GET DEVICE_ID >") == Frame(
        MessageKind.GET, None, "DEVICE_ID", (), "< GET DEVICE_ID >"
    )
    get_all = parse_frame("< GET 0 ALL >")
    assert (get_all.kind, get_all.channel, get_all.prop) == (MessageKind.GET, 0, "ALL")
    flash = parse_frame("< SET FLASH ON >")
    assert (flash.channel, flash.prop, flash.args) == (None, "FLASH", ("ON",))


def test_parse_tolerates_missing_inner_spaces_and_lowercase_kind() -> None:
    frame = parse_frame("<rep 01 BATT_BARS 004>")
    assert (frame.kind, frame.channel, frame.prop, frame.args) == (
        MessageKind.REP,
        1,
        "BATT_BARS",
        ("004",),
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("REP 1 A 1", "not a"),
        ("< REP 1 A 1", "not a"),
        ("< >", "empty frame"),
        ("< HELLO 1 A >", "unknown message kind"),
        ("< REP 1 >", "missing property"),
        ("< REP 1 {x} >", "invalid property"),
        ("< REP 1 9X 1 >", "invalid property"),
        ("< {REP} 1 A >", "unknown message kind"),
        ("< REP 1 A {x >", "unterminated"),
        ("< REP 1 A x} >", "unmatched"),
        ("< REP 1 A {x{y} >", "nested"),
    ],
)
def test_parse_errors_are_protocol_errors(text: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_frame(text)


# --- encode / quote -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "wire"),
    [
        ((MessageKind.GET, "ALL"), {"channel": 0}, b"< GET 0 ALL >"),
        ((MessageKind.SET, "METER_RATE", "00100"), {"channel": 0}, b"< SET 0 METER_RATE 00100 >"),
        (
            (MessageKind.SET, "CHAN_NAME", quote("Vox 1")),
            {"channel": 1},
            b"< SET 1 CHAN_NAME {Vox 1} >",
        ),
        ((MessageKind.GET, "DEVICE_ID"), {}, b"< GET DEVICE_ID >"),
        ((MessageKind.SET, "AUDIO_GAIN", "INC", 3), {"channel": 2}, b"< SET 2 AUDIO_GAIN INC 3 >"),
        (
            (MessageKind.GET, "CHAN_NAME"),
            {"channel": 1, "framing": Framing.STAR},
            b"* GET 1 CHAN_NAME *",
        ),
        (
            (MessageKind.METER, "ALL", "STOP"),
            {"channel": 1, "framing": Framing.STAR},
            b"* METER 1 ALL STOP *",
        ),
        ((MessageKind.GET, "CHAN_NAME"), {"channel": 1, "crlf": True}, b"< GET 1 CHAN_NAME >\r\n"),
        ((MessageKind.ERR, "ERR"), {}, b"< REP ERR >"),
    ],
)
def test_encode(args: tuple[MessageKind, str], kwargs: dict[str, object], wire: bytes) -> None:
    assert encode(*args, **kwargs) == wire  # type: ignore[arg-type]


def test_encode_round_trips_through_parse() -> None:
    wire = encode(MessageKind.SET, "CHAN_NAME", quote("A>B"), channel=4)
    frame = parse_frame(wire.decode())
    assert (frame.kind, frame.channel, frame.prop, frame.args) == (
        MessageKind.SET,
        4,
        "CHAN_NAME",
        ("A>B",),
    )


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((MessageKind.GET, "BAD PROP"), {}),
        ((MessageKind.GET, ""), {}),
        ((MessageKind.SET, "CHAN_NAME", "two words"), {"channel": 1}),
        ((MessageKind.SET, "CHAN_NAME", "a>b"), {"channel": 1}),
        ((MessageKind.SET, "CHAN_NAME", ""), {"channel": 1}),
        ((MessageKind.SET, "CHAN_NAME", "{a{b}"), {"channel": 1}),
        ((MessageKind.GET, "ALL"), {"channel": -1}),
        ((MessageKind.GET, "ALL"), {"channel": True}),
        ((MessageKind.ERR, "CHAN_NAME"), {}),
        ((MessageKind.SET, "CHAN_NAME", "{" + "x" * 2000 + "}"), {"channel": 1}),
    ],
)
def test_encode_rejects_what_cannot_be_sent(
    args: tuple[MessageKind, str], kwargs: dict[str, object]
) -> None:
    with pytest.raises(ProtocolError):
        encode(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a{b", "a}b", "caf\u00e9", "tab\there", ""])
def test_quote(name: str) -> None:
    if name == "":
        assert quote(name) == "{}"
        return
    with pytest.raises(ProtocolError):
        quote(name)


def test_bench_codec_smoke() -> None:
    from micboardd.bench.codec import frames_per_second

    assert frames_per_second(0.01) > 0
