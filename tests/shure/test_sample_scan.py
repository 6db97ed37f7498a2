"""A family's `SampleScan` reads metering writes exactly as the decoder and interpreter do."""

from __future__ import annotations

import random
import re

from micboardd.model import Family
from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.families import FAMILIES
from micboardd.sources.ports import Sample


def general(family: Family, data: bytes) -> list[Sample]:
    spec = FAMILIES[family]
    interpreter = spec.new_interpreter()
    out: list[Sample] = []
    for frame in StreamDecoder(spec.framing).feed(data):
        for r in interpreter.interpret(frame):
            f = r.fields
            out.append((r.channel, f["antenna"], f["rf_signal"], f["audio_level"], f["peak_level"]))
    return out


def scanned(family: Family, data: bytes) -> list[Sample] | None:
    spec = FAMILIES[family]
    scan = spec.sample_scan
    assert scan is not None
    decoder = StreamDecoder(spec.framing)
    rows = decoder.sample_rows(data, scan.frame, scan.frame_len)
    if rows is None:
        assert decoder.frame_count == 0
        return None
    assert decoder.frame_count == len(rows) and decoder.pending == 0
    return scan.read(rows)


def test_metering_writes_read_the_same_both_ways() -> None:
    rng = random.Random(3)
    antennas = ["AX", "XB", "AB", "XX", "ax", "QQ"]
    levels = ["000", "050", "070", "115", "255", "999", rng.choice(["012", "128"])]
    for family, channels in ((Family.ULXD, 4), (Family.QLXD, 1)):
        for _ in range(300):
            frames = [
                f"< SAMPLE {rng.randint(1, channels)} ALL {rng.choice(antennas)} "
                f"{rng.choice(levels)} {rng.choice(levels)} >"
                for _ in range(rng.randint(1, 4))
            ]
            data = "".join(frames).encode()
            assert scanned(family, data) == general(family, data)


def test_anything_else_is_left_to_the_decoder() -> None:
    for data in (
        b"< SAMPLE 1 ALL AX 070 030 >< REP 1 CHAN_NAME {Vox} >",
        b"< SAMPLE 1 ALL AX 070 030 >< SAMPLE 2 ALL AX 07",  # a frame cut by the write
        b"< SAMPLE 1 ALL AX 070 030 040 >",  # more than the family's sample
        b"< SAMPLE 5 ALL AX 070 030 >",  # no such channel
        b"junk< SAMPLE 1 ALL AX 070 030 >",
        b"< SAMPLE 1 ALL AX 070 030 >\r\n< SAMPLE 2 ALL AX 070 030 >",  # bytes between
        b"< SAMPLE 1 ALL AX 070 030 > ",
        b"< SAMPLE 1 ALL AX  070 030 >",
        b"",
    ):
        assert scanned(Family.ULXD, data) is None
    assert scanned(Family.QLXD, b"< SAMPLE 2 ALL AX 070 030 >") is None
    # Something held back from the last write: the decoder must see the rest.
    spec = FAMILIES[Family.ULXD]
    decoder = StreamDecoder(spec.framing)
    decoder.feed(b"< SAMPLE 1 ALL AX 07")
    scan = spec.sample_scan
    assert scan is not None
    assert decoder.sample_rows(b"< SAMPLE 2 ALL AX 070 030 >", scan.frame, scan.frame_len) is None


def test_a_write_is_taken_exactly_when_it_is_nothing_but_sample_frames() -> None:
    # The scan checks a write by its length (fixed-length frames tile it); the plain rule
    # is a regex matching one or more whole frames and nothing else. Fuzzed writes built
    # from frames, their pieces and stray bytes must get the same answer both ways.
    spec = FAMILIES[Family.ULXD]
    scan = spec.sample_scan
    assert scan is not None
    whole = re.compile(f"(?:{scan.frame.pattern})+")
    rng = random.Random(5)
    frame = "< SAMPLE 3 ALL AX 070 030 >"
    pieces = [frame, frame, frame[:9], frame[9:], " ", ">", "<", "\xff", "< SAMPLE 3 ALL A 0 0 >"]
    taken = 0
    for _ in range(5000):
        data = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))).encode("latin-1")
        rows = StreamDecoder(spec.framing).sample_rows(data, scan.frame, scan.frame_len)
        plain = whole.fullmatch(data.decode("ascii", errors="replace")) is not None
        assert (rows is not None) == plain, data
        taken += plain
    assert taken > 100
