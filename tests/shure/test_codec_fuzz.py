"""Property tests: the decoder never raises, resynchronises, and ignores segment boundaries."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micboardd.model import READING_FIELDS, RECEIVER_READING_FIELDS, SENNHEISER_FAMILIES, Family
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
from micboardd.shure.families import FAMILIES
from micboardd.shure.families.base import NAME_CHARSET

# Sennheiser families have codecs of their own (tests/sennheiser).
SHURE = [f for f in Family if f is not Family.UNKNOWN and f not in SENNHEISER_FAMILIES]

FAST = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SMALL_FRAME = 160  # a small max_frame keeps the resync properties quick to exercise

framings = st.sampled_from(list(Framing))
words = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+.,", min_size=1, max_size=8)
props = st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True).filter(lambda p: p != "ERR")
names = st.text(alphabet=sorted(NAME_CHARSET), max_size=12)
kinds = st.sampled_from([k for k in MessageKind if k is not MessageKind.ERR])


@st.composite
def frames(
    draw: st.DrawFn, framing: Framing
) -> tuple[bytes, tuple[MessageKind, int | None, str, tuple[str, ...]]]:
    """A valid frame on the wire and what it must decode to."""
    kind = draw(kinds)
    channel = draw(st.none() | st.integers(0, 8))
    prop = draw(props)
    raw_args = draw(st.lists(st.one_of(words, names.map(lambda n: ("{", n))), max_size=4))
    wire_args = [quote(a[1]) if isinstance(a, tuple) else a for a in raw_args]
    decoded = tuple(a[1].rstrip() if isinstance(a, tuple) else a for a in raw_args)
    wire = encode(kind, prop, *wire_args, channel=channel, framing=framing)
    return wire, (kind, channel, prop, decoded)


def summary(decoded: list[Frame]) -> list[tuple[MessageKind, int | None, str, tuple[str, ...]]]:
    return [(f.kind, f.channel, f.prop, f.args) for f in decoded]


@FAST
@given(framing=framings, chunks=st.lists(st.binary(max_size=300), max_size=8))
def test_arbitrary_bytes_never_raise_and_memory_is_bounded(
    framing: Framing, chunks: list[bytes]
) -> None:
    dec = StreamDecoder(framing, max_frame=SMALL_FRAME)
    for chunk in chunks:
        for frame in dec.feed(chunk):
            assert isinstance(frame, Frame)
        assert dec.pending <= SMALL_FRAME
    assert dec.garbage_count >= 0


@FAST
@given(
    framing=framings,
    alphabet_junk=st.binary(max_size=200),
    data=st.data(),
)
def test_frames_after_junk_without_a_start_decode_exactly(
    framing: Framing, alphabet_junk: bytes, data: st.DataObject
) -> None:
    junk = alphabet_junk.replace(framing.opener.encode(), b"")
    batch = data.draw(st.lists(frames(framing), min_size=1, max_size=5))
    stream = junk + b"".join(w for w, _ in batch)
    dec = StreamDecoder(framing, max_frame=SMALL_FRAME)
    assert summary(dec.feed(stream)) == [e for _, e in batch]


@FAST
@given(framing=framings, junk=st.binary(max_size=400), data=st.data())
def test_frames_after_any_junk_and_enough_padding_decode(
    framing: Framing, junk: bytes, data: st.DataObject
) -> None:
    batch = data.draw(st.lists(frames(framing), min_size=1, max_size=5))
    stream = junk + b" " * SMALL_FRAME + b"".join(w for w, _ in batch)
    dec = StreamDecoder(framing, max_frame=SMALL_FRAME)
    decoded = summary(dec.feed(stream))
    expected = [e for _, e in batch]
    assert decoded[len(decoded) - len(expected) :] == expected


@FAST
@given(
    framing=framings,
    parts=st.lists(st.binary(max_size=40), max_size=6),
    data=st.data(),
    cuts=st.lists(st.integers(0, 2000), max_size=12),
)
def test_splitting_a_stream_anywhere_changes_nothing(
    framing: Framing, parts: list[bytes], data: st.DataObject, cuts: list[int]
) -> None:
    batch = data.draw(st.lists(frames(framing), max_size=6))
    pieces = [w for w, _ in batch] + parts
    stream = b"".join(data.draw(st.permutations(pieces)))
    whole = StreamDecoder(framing, max_frame=SMALL_FRAME)
    expected = whole.feed(stream)
    split = StreamDecoder(framing, max_frame=SMALL_FRAME)
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    got = [f for a, b in itertools.pairwise(bounds) for f in split.feed(stream[a:b])]
    assert got == expected
    assert split.garbage_count == whole.garbage_count
    assert split.pending == whole.pending


@FAST
@given(framing=framings, data=st.data())
def test_encode_then_decode_round_trips(framing: Framing, data: st.DataObject) -> None:
    wire, expected = data.draw(frames(framing))
    (frame,) = StreamDecoder(framing).feed(wire)
    assert summary([frame]) == [expected]
    assert frame.raw == wire.decode()


_PROPS_SEEN = sorted(
    {
        "ALL", "CHAN_NAME", "FREQUENCY", "TX_TYPE", "TX_MODEL", "BATT_BARS", "BATT_CHARGE",
        "BATT_RUN_TIME", "TX_BATT_BARS", "TX_BATT_MINS", "TX_BATT_CHARGE_PERCENT", "AUDIO_MUTE",
        "TX_MUTE_STATUS", "TX_MUTE_MODE_STATUS", "RF_INT_DET", "INTERFERENCE_STATUS",
        "ENCRYPTION_WARNING", "ENCRYPTION_STATUS", "RSSI", "ANTENNA_STATUS", "AUDIO_LEVEL_PEAK",
        "AUDIO_LEVEL_RMS", "RX_RF_LVL", "AUDIO_LVL", "RF_ANTENNA", "TX_BAT", "RF_MUTE",
        "AUDIO_IN_LVL_L", "AUDIO_IN_LVL_R", "MODEL", "DEVICE_ID", "DEVICE_NAME", "FW_VER",
        "RF_BAND", "ENCRYPTION", "ENCRYPTION_MODE", "QUADVERSITY_MODE", "SLOT_BATT_BARS",
    }
)  # fmt: skip
values = st.one_of(
    st.sampled_from(["255", "65535", "65534", "U", "UNKN", "UNKNOWN", "--,--", "", "XX", "BBRX"]),
    st.text(alphabet="0123456789", min_size=1, max_size=12),
    st.text(alphabet="ABXR*-+ 09", max_size=6),
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    family=st.sampled_from(SHURE),
    kind=st.sampled_from([MessageKind.REP, MessageKind.REPORT, MessageKind.SAMPLE]),
    channel=st.none() | st.integers(0, 6),
    prop=st.sampled_from(_PROPS_SEEN),
    args=st.lists(values, max_size=14),
)
def test_interpreters_never_raise_and_use_contract_keys(
    family: Family,
    kind: MessageKind,
    channel: int | None,
    prop: str,
    args: list[str],
) -> None:
    interpreter = FAMILIES[family].new_interpreter()
    frame = Frame(kind, channel, prop, tuple(args), "")
    for reading in interpreter.interpret(frame) + interpreter.interpret(frame):
        allowed = RECEIVER_READING_FIELDS if reading.channel == 0 else READING_FIELDS
        assert set(reading.fields) <= allowed
        for key in ("battery_bars", "battery_level", "battery_minutes"):
            value = reading.fields.get(key)
            assert value is None or 0 <= value < 65533


# --- the brace-free fast path against the exact scanner ---------------------------------------


class ExactOnly(StreamDecoder):
    """The decoder with its fast path switched off: the reference it must agree with."""

    def _plain_frames(self, plain_run: object, text: str, pos: int, frames: list[Frame]) -> int:
        return pos


def decoder_state(dec: StreamDecoder) -> tuple[int, int, str | None, int]:
    return dec.garbage_count, dec.frame_count, dec.last_error, dec.pending


# Pieces that each stress one fallback: braces (with delimiters inside), '<' inside a frame,
# unmatched braces, non-ASCII and Unicode-only whitespace, lowercase kinds, REP ERR, ERR as a
# property, bad channels and property names, stray closers, an empty frame.
_AWKWARD = [
    b"< REP 1 CHAN_NAME {A>B<C   } >",
    b"< REP DEVICE_ID {RF 5-8  } >",
    b"< REP 1 CHAN_NAME {unterminated >",
    b"< REP 1 CHAN_NAME x} >",
    b"< SAMPLE 1 ALL AX < SAMPLE 2 ALL XB 071 018 >",
    b"< SAMPLE 1 ALL \xff\x80 071 018 >",
    b"< SAMPLE 1 ALL AX\x1c071 018 >",
    b"< sample 3 all XB 073 022 >",
    b"<SAMPLE 3 ALL XB 073 022>",
    b"< REP ERR >",
    b"< REP 2 ERR 3 >",
    b"< SAMPLE 2 ERR 3 >",
    b"< REP x1 CHAN_NAME >",
    b"< REP 1 1BAD >",
    b"< REP 1 B-AD >",
    b"< REP 1 TX_BATT_BARS 004 >",
    b"< REPORT 1 >",
    b"< BOGUS 1 ALL >",
    b"<>",
    b"< >",
    b">",
    b"<",
    b"\r\n",
    b" \t\x00",
    b"junk",
    b"x" * 70,
]
pieces = st.one_of(
    st.sampled_from(_AWKWARD),
    frames(Framing.ANGLE).map(lambda f: f[0]),
    st.binary(max_size=12),
)


@settings(max_examples=400, deadline=None, database=None)
@given(
    parts=st.lists(pieces, max_size=14),
    cuts=st.lists(st.integers(0, 4000), max_size=10),
    max_frame=st.sampled_from([4, 16, 40, 64, MAX_FRAME_BYTES]),
)
def test_fast_path_matches_the_exact_scanner(
    parts: list[bytes], cuts: list[int], max_frame: int
) -> None:
    stream = b"".join(parts)
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    fast = StreamDecoder(Framing.ANGLE, max_frame=max_frame)
    exact = ExactOnly(Framing.ANGLE, max_frame=max_frame)
    for chunk in chunks:
        assert fast.feed(chunk) == exact.feed(chunk)
        assert decoder_state(fast) == decoder_state(exact)


def test_fast_path_frames_are_the_frames_parse_frame_builds() -> None:
    wire = b"< SAMPLE 1 ALL AX 071 018 >< SAMPLE 2 ALL AX 071 017 >\r\n< REP 3 RSSI 1 083 >"
    got = StreamDecoder(Framing.ANGLE).feed(wire)
    texts = ["< SAMPLE 1 ALL AX 071 018 >", "< SAMPLE 2 ALL AX 071 017 >", "< REP 3 RSSI 1 083 >"]
    assert got == [parse_frame(t) for t in texts]
    assert got[0] == Frame(MessageKind.SAMPLE, 1, "ALL", ("AX", "071", "018"), texts[0])
    assert hash(got[0]) == hash(parse_frame(texts[0]))


_SAMPLE = b"< SAMPLE 1 ALL AX 071 018 >"


@pytest.mark.parametrize(
    "chunks",
    [
        [b"junk", _SAMPLE + b"junk"],  # a new gap after a fast frame is counted again
        [b"junk", b" \r\n" + _SAMPLE, b"junk"],
        [_SAMPLE[:10], _SAMPLE[10:] + _SAMPLE],  # a partial frame completed by the next read
        [b"< SAMPLE 1 ALL " + b"9" * 30, b" >" + _SAMPLE],  # over-long, then a good frame
        [b"< REP 1 CHAN_NAME {A<B} >" + _SAMPLE + b"< REP ERR >" + _SAMPLE],
        [b"<" + _SAMPLE + _SAMPLE],  # cut short by the next start
    ],
)
def test_fast_path_matches_the_exact_scanner_on_known_traps(chunks: list[bytes]) -> None:
    fast = StreamDecoder(Framing.ANGLE, max_frame=32)
    exact = ExactOnly(Framing.ANGLE, max_frame=32)
    for chunk in chunks:
        assert fast.feed(chunk) == exact.feed(chunk)
        assert decoder_state(fast) == decoder_state(exact)
