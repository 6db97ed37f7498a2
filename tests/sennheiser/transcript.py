"""Sennheiser transcripts (tests/transcripts/sennheiser/, format in tests/transcripts/README.md).

Each `recv` line is one UDP datagram (SSC v1, MCP) or one read of an event stream (SSCv2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from micboardd.model import READING_FIELDS, RECEIVER_READING_FIELDS, Reading
from micboardd.sennheiser.values import SOURCE_QUALITY_FIELD

DIRECTORY = Path(__file__).resolve().parent.parent / "transcripts" / "sennheiser"
_ESCAPE = re.compile(r"\\(\\|r|n|t|x[0-9a-fA-F]{2})")
_ESCAPES = {"\\": "\\", "r": "\r", "n": "\n", "t": "\t"}
# What a Sennheiser reading may hold: the hub's vocabulary plus the receiver's own quality.
CHANNEL_FIELDS = READING_FIELDS | {SOURCE_QUALITY_FIELD}


def unescape(text: str) -> bytes:
    def sub(m: re.Match[str]) -> str:
        code = m.group(1)
        return _ESCAPES.get(code) or chr(int(code[1:], 16))

    return _ESCAPE.sub(sub, text).encode("latin-1")


@dataclass
class Transcript:
    path: Path
    header: dict[str, str] = field(default_factory=dict)
    sent: list[bytes] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)


def load(name: str) -> Transcript:
    path = DIRECTORY / name
    t = Transcript(path)
    for raw_line in path.read_text().splitlines():
        line = raw_line.rstrip()
        if m := re.fullmatch(r"# (\w+): (.*)", line):
            t.header.setdefault(m[1], m[2])
        elif line.startswith("send "):
            t.sent.append(unescape(line[5:]))
        elif line.startswith("recv "):
            t.received.append(unescape(line[5:]))
        elif line and not line.startswith("#"):
            raise AssertionError(f"{name}: unexpected line {line!r}")
    return t


def merge(readings: list[Reading]) -> dict[int, dict[str, object]]:
    """Readings merged as the hub does (latest value wins), checking their vocabulary."""
    state: dict[int, dict[str, object]] = {}
    for reading in readings:
        allowed = RECEIVER_READING_FIELDS if reading.channel == 0 else CHANNEL_FIELDS
        assert set(reading.fields) <= allowed, reading
        state.setdefault(reading.channel, {}).update(reading.fields)
    return state
