"""Shure command-string wire codec: bytes in, frames out; commands in, bytes out.

PURE: no I/O, no clock, no module state is mutated. The only exception that leaves the
public functions is `micboardd.errors.ProtocolError`.

Wire facts this module relies on (PROTOCOLS.md §1.1):

* A frame is ``< KIND [channel] PROP [value ...] >`` (ULX-D, QLX-D, SLX-D, Axient Digital,
  PSM1000) or ``* KIND [channel] PROP [value ...] *`` (UHF-R over UDP).
* Receivers send no line terminator, pack several frames into one TCP segment and split frames
  across segments; PSM1000 adds CRLF. Anything between frames that is whitespace is ignored.
* String values are wrapped in ``{...}`` and right-padded with spaces. A name may contain
  ``<``, ``>`` and ``*`` (the SET charset allows them), so a delimiter inside braces does not
  end a frame.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from micboardd.errors import ProtocolError

__all__ = [
    "MAX_FRAME_BYTES",
    "Frame",
    "Framing",
    "MessageKind",
    "StreamDecoder",
    "encode",
    "parse_frame",
    "quote",
]

# Real frames are under 200 bytes (the longest, an Axient Quadversity FD-C SAMPLE or a padded
# 32-char MODEL reply, is ~100); 1024 leaves 5x headroom yet bounds memory on a garbage stream.
MAX_FRAME_BYTES = 1024

# Bytes tolerated between frames without counting as garbage (PSM1000 sends CRLF; NUL is
# accepted because some embedded stacks pad with it).
_BETWEEN_FRAMES = b" \t\r\n\x0b\x0c\x00"

# How much of a bad frame or junk run is quoted in `last_error`.
_ERROR_EXCERPT = 40

_PROP_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_BARE_ARG_RE = re.compile(r"[!-~]+\Z")  # printable ASCII, no space
_BRACED_RE = re.compile(r"\{[ -z|~]*\}\Z")  # printable ASCII except '{' and '}'


class Framing(enum.Enum):
    """Frame delimiters of a family."""

    ANGLE = ("<", ">")  # ULX-D, QLX-D, SLX-D, Axient Digital, PSM1000 (TCP)
    STAR = ("*", "*")  # UHF-R (UDP)

    @property
    def opener(self) -> str:
        return self.value[0]

    @property
    def closer(self) -> str:
        return self.value[1]


class MessageKind(enum.Enum):
    """The first keyword of a frame. `ERR` is the receiver's ``REP ERR`` answer."""

    GET = "GET"
    SET = "SET"
    REP = "REP"
    REPORT = "REPORT"  # PSM1000 and UHF-R say REPORT where the others say REP
    SAMPLE = "SAMPLE"
    METER = "METER"  # UHF-R metering request: * METER x ALL sss *
    ERR = "ERR"


_KINDS: dict[str, MessageKind] = {k.value: k for k in MessageKind if k is not MessageKind.ERR}


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded message.

    `channel` is None for device-level properties (which carry no index) and 0 for "all".
    `args` are the value tokens: a ``{...}`` string is one token with its braces and right
    padding removed (an empty or all-space string becomes ""). `raw` is the frame as received.
    """

    kind: MessageKind
    channel: int | None
    prop: str
    args: tuple[str, ...]
    raw: str


def _excerpt(text: str | bytes) -> str:
    shown = text[:_ERROR_EXCERPT]
    suffix = "..." if len(text) > _ERROR_EXCERPT else ""
    return f"{shown!r}{suffix}"


def _tokenize(body: str, raw: str) -> tuple[list[str], int]:
    """Split a frame body into tokens; also return the index of the first braced token."""
    if "{" not in body and "}" not in body:
        words = body.split()
        return words, len(words)
    tokens: list[str] = []
    first_braced = -1
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c.isspace():
            i += 1
        elif c == "{":
            j = body.find("}", i + 1)
            if j < 0:
                raise ProtocolError(f"unterminated '{{' in frame {_excerpt(raw)}")
            inner = body[i + 1 : j]
            if "{" in inner:
                raise ProtocolError(f"nested '{{' in frame {_excerpt(raw)}")
            if first_braced < 0:
                first_braced = len(tokens)
            tokens.append(inner.rstrip())
            i = j + 1
        elif c == "}":
            raise ProtocolError(f"unmatched '}}' in frame {_excerpt(raw)}")
        else:
            j = i + 1
            while j < n and not body[j].isspace() and body[j] not in "{}":
                j += 1
            tokens.append(body[i:j])
            i = j
    return tokens, len(tokens) if first_braced < 0 else first_braced


def _is_index(token: str) -> bool:
    return token.isascii() and token.isdigit()


def parse_frame(text: str) -> Frame:
    """Parse one complete frame, delimiters included (``< REP 1 CHAN_NAME {Vox} >``).

    Raises ProtocolError when the text is not a frame of either framing.
    """
    stripped = text.strip()
    if len(stripped) < 2 or not (
        (stripped[0] == "<" and stripped[-1] == ">") or (stripped[0] == stripped[-1] == "*")
    ):
        raise ProtocolError(f"not a '< ... >' or '* ... *' frame: {_excerpt(text)}")
    tokens, bare = _tokenize(stripped[1:-1], text)
    if not tokens:
        raise ProtocolError(f"empty frame {_excerpt(text)}")
    kind = _KINDS.get(tokens[0].upper()) if bare > 0 else None
    if kind is None:
        raise ProtocolError(f"unknown message kind {tokens[0]!r} in {_excerpt(text)}")
    at = 1  # index of the next header token (channel or property); header tokens are bare
    channel: int | None = None
    if at < bare and _is_index(tokens[at]):
        channel = int(tokens[at])
        at += 1
    if kind is MessageKind.REP and at < bare and tokens[at] == "ERR":
        return Frame(MessageKind.ERR, channel, "ERR", tuple(tokens[at + 1 :]), text)
    if at >= len(tokens):
        raise ProtocolError(f"missing property name in {_excerpt(text)}")
    if at >= bare or not _PROP_RE.match(tokens[at]):
        raise ProtocolError(f"invalid property name {tokens[at]!r} in {_excerpt(text)}")
    return Frame(kind, channel, tokens[at], tuple(tokens[at + 1 :]), text)


class StreamDecoder:
    """Reassembles frames from a byte stream (TCP segments or UDP datagrams).

    `feed` never raises: malformed frames, junk between frames and over-long frames are
    counted in `garbage_count` (a run of junk between two frames counts once) and described
    in `last_error`. What `feed` returns depends only on the bytes, not on how they were split.
    """

    def __init__(self, framing: Framing = Framing.ANGLE, max_frame: int = MAX_FRAME_BYTES) -> None:
        if max_frame < 4:
            raise ProtocolError(f"max_frame must be at least 4 bytes, got {max_frame}")
        self.framing = framing
        self.max_frame = max_frame
        self.garbage_count = 0
        self.frame_count = 0
        self.last_error: str | None = None
        self._open = framing.opener.encode()
        self._close = framing.closer.encode()
        self._special = re.compile(b"[" + re.escape(self._open) + re.escape(self._close) + rb"{]")
        self._buf = bytearray()
        self._in_frame = False  # the buffer starts with an opener
        self._junk_counted = False  # the current gap between frames was already counted

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget any partial frame (e.g. after a reconnect); counters are kept."""
        self._buf.clear()
        self._in_frame = False
        self._junk_counted = False

    def _garbage(self, reason: str) -> None:
        self.garbage_count += 1
        self.last_error = reason

    def _junk(self, gap: bytes | bytearray) -> None:
        if gap.strip(_BETWEEN_FRAMES) and not self._junk_counted:
            self._junk_counted = True
            self._garbage(f"discarded bytes outside a frame: {_excerpt(bytes(gap))}")

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes; return every frame they complete, in order."""
        buf = self._buf
        buf += data
        frames: list[Frame] = []
        pos, n = 0, len(buf)
        while pos < n:
            if not self._in_frame:
                start = buf.find(self._open, pos)
                self._junk(buf[pos : n if start < 0 else start])
                if start < 0:
                    pos = n
                    break
                pos, self._in_frame, self._junk_counted = start, True, False
            step = self._scan(buf, pos, n, frames)
            if step is None:
                break
            pos = step
        del buf[:pos]
        return frames

    def _scan(self, buf: bytearray, pos: int, n: int, frames: list[Frame]) -> int | None:
        """Look for the end of the frame opened at `pos`; return where to continue.

        None means "incomplete, wait for more bytes" (the frame stays in the buffer).
        """
        limit = min(n, pos + self.max_frame)
        i = pos + 1
        while True:
            m = self._special.search(buf, i, limit)
            if m is not None and buf[m.start()] == 0x7B:  # '{': skip to the matching '}'
                j = buf.find(b"}", m.start() + 1, limit)
                if j >= 0:
                    i = j + 1
                    continue
                m = None
            if m is None:
                if n - pos < self.max_frame:
                    return None
                self._garbage(f"no frame terminator within {self.max_frame} bytes")
                self._in_frame, self._junk_counted = False, True
                return pos + self.max_frame
            k = m.start()
            if self._open != self._close and buf[k] == self._open[0]:
                self._garbage(f"frame cut short by a new start: {_excerpt(bytes(buf[pos:k]))}")
                return k  # still in a frame, now opened at k
            return self._complete(buf, pos, k, frames)

    def _complete(self, buf: bytearray, pos: int, end: int, frames: list[Frame]) -> int:
        star = self._open == self._close
        body = buf[pos + 1 : end]
        if star and not body.strip(_BETWEEN_FRAMES):
            # "**" or "* *": the first star closed a frame we never saw; resync on the second.
            return end
        text = bytes(buf[pos : end + 1]).decode("ascii", errors="replace")
        try:
            frames.append(parse_frame(text))
        except ProtocolError as exc:
            self._garbage(str(exc))
            if star:
                # The closing star may really open the next frame: try it as a start.
                return end
        else:
            self.frame_count += 1
        self._in_frame = False
        return end + 1


def _check_arg(arg: str, framing: Framing) -> str:
    if _BRACED_RE.match(arg):
        return arg
    if _BARE_ARG_RE.match(arg) and not any(c in arg for c in "{}<>*"):
        return arg
    raise ProtocolError(
        f"invalid argument {arg!r} for {framing.name} framing: use a single word or quote()"
    )


def encode(
    kind: MessageKind,
    prop: str,
    *args: str | int,
    channel: int | None = None,
    framing: Framing = Framing.ANGLE,
    crlf: bool = False,
) -> bytes:
    """Build one command frame, e.g. ``encode(MessageKind.GET, "ALL", channel=0)``.

    String arguments must be single words or already quoted with `quote`. `MessageKind.ERR`
    encodes as ``REP [channel] ERR`` and needs prop "ERR" (so `parse_frame` round-trips).
    """
    if kind is MessageKind.ERR:
        if prop != "ERR":
            raise ProtocolError(f"an ERR frame has prop 'ERR', got {prop!r}")
        tokens = ["REP"]
    else:
        if not _PROP_RE.match(prop):
            raise ProtocolError(f"invalid property name {prop!r}")
        tokens = [kind.value]
    if channel is not None:
        if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
            raise ProtocolError(f"channel must be an int >= 0 or None, got {channel!r}")
        tokens.append(str(channel))
    tokens.append(prop)
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, int | str):
            raise ProtocolError(f"argument must be str or int, got {arg!r}")
        tokens.append(str(arg) if isinstance(arg, int) else _check_arg(arg, framing))
    text = f"{framing.opener} {' '.join(tokens)} {framing.closer}"
    if len(text) > MAX_FRAME_BYTES:
        raise ProtocolError(f"command longer than {MAX_FRAME_BYTES} bytes")
    return (text + "\r\n" if crlf else text).encode("ascii")


def quote(name: str) -> str:
    """Wrap a string value in braces for a SET (``quote("Vox 1") == "{Vox 1}"``).

    Only printable ASCII without braces can be quoted; the receiver pads it itself.
    """
    if not all(" " <= c <= "~" and c not in "{}" for c in name):
        raise ProtocolError(f"cannot quote {name!r}: printable ASCII without braces only")
    return "{" + name + "}"
