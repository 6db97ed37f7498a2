"""A family's `SampleScan` reads metering writes exactly as the decoder and interpreter do."""

from __future__ import annotations

import random

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
    text = decoder.feed_samples(data, scan.run)
    if text is None:
        return None
    rows = scan.frame.findall(text)
    decoder.count(len(rows))
    assert decoder.frame_count == len(rows) and decoder.pending == 0
    return [scan.read(row) for row in rows]


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
    ):
        assert scanned(Family.ULXD, data) is None
    assert scanned(Family.QLXD, b"< SAMPLE 2 ALL AX 070 030 >") is None
    # Something held back from the last write: the decoder must see the rest.
    spec = FAMILIES[Family.ULXD]
    decoder = StreamDecoder(spec.framing)
    decoder.feed(b"< SAMPLE 1 ALL AX 07")
    assert spec.sample_scan is not None
    assert decoder.feed_samples(b"< SAMPLE 2 ALL AX 070 030 >", spec.sample_scan.run) is None
