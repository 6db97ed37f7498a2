"""Throughput of the wire path: StreamDecoder + Axient interpreter on an AD4Q metering stream.

Used by `make bench`; run directly with ``python -m micboardd.bench.codec``. The stream
is what a 4-channel AD4Q sends while metering: mostly SAMPLE frames (the real AD4Q payloads
plus transmitters on air), one REP in twenty (battery, name), read in MSS-sized chunks so
frames straddle reads.
"""

from __future__ import annotations

import time

from micboardd.model import Family
from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.families import FAMILIES

SEGMENT_BYTES = 1448  # one Ethernet TCP segment (MSS); frames are cut at its boundaries
CYCLES = 250  # metering cycles per pass (4 channels each)

_SAMPLES = (
    b"< SAMPLE 1 ALL 255 000 005 033 XX 00 011 00 012 >",  # real AD4Q, no transmitter
    b"< SAMPLE 2 ALL 005 031 102 098 BB 31 086 31 080 >",
    b"< SAMPLE 3 ALL 004 015 090 085 BR 31 070 15 055 >",
    b"< SAMPLE 4 ALL 255 000 005 020 XX 00 013 00 013 >",  # real AD4Q, no transmitter
)
_REPS = (
    b"< REP 2 TX_BATT_BARS 004 >",
    b"< REP 2 TX_BATT_MINS 00295 >",
    b"< REP 3 CHAN_NAME {Guitar                         } >",
    b"< REP 3 TX_BATT_CHARGE_PERCENT 071 >",
)


def _segments() -> tuple[list[bytes], int]:
    frames: list[bytes] = []
    for cycle in range(CYCLES):
        frames += _SAMPLES
        if cycle % 5 == 0:
            frames.append(_REPS[(cycle // 5) % len(_REPS)])
    stream = b"".join(frames)
    chunks = [stream[i : i + SEGMENT_BYTES] for i in range(0, len(stream), SEGMENT_BYTES)]
    return chunks, len(frames)


def frames_per_second(seconds: float = 1.0) -> float:
    """Decode + interpret the stream repeatedly for about `seconds`; return frames per second."""
    spec = FAMILIES[Family.AXIENT]
    chunks, per_pass = _segments()
    frames = 0
    start = time.perf_counter()
    while True:
        decoder = StreamDecoder(spec.framing)
        interpreter = spec.new_interpreter()
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                interpreter.interpret(frame)
        frames += per_pass
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return frames / elapsed


if __name__ == "__main__":
    print(f"{frames_per_second():,.0f} frames/s")
