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
from collections.abc import Callable
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


# A frozen dataclass's generated __init__ routes every field through object.__setattr__; on the
# metering path (~1000 frames/s) filling the slots directly makes the identical object in about
# half the time. Only this module builds frames this way; `_new_frame(...) == Frame(...)`.
_object_new = object.__new__


def _slot_setter(name: str) -> Callable[[Frame, object], None]:
    setter: Callable[[Frame, object], None] = vars(Frame)[name].__set__
    return setter


_set_kind, _set_channel, _set_prop, _set_args, _set_raw = map(_slot_setter, Frame.__slots__)


def _new_frame(
    kind: MessageKind, channel: int | None, prop: str, args: tuple[str, ...], raw: str
) -> Frame:
    frame: Frame = _object_new(Frame)
    _set_kind(frame, kind)
    _set_channel(frame, channel)
    _set_prop(frame, prop)
    _set_args(frame, args)
    _set_raw(frame, raw)
    return frame


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
    return _frame_from_tokens(tokens, bare, text)


def _frame_from_tokens(tokens: list[str], bare: int, text: str) -> Frame:
    """The frame whose body split into `tokens`, of which the first `bare` are unbraced."""
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
        return _new_frame(MessageKind.ERR, channel, "ERR", tuple(tokens[at + 1 :]), text)
    if at >= len(tokens):
        raise ProtocolError(f"missing property name in {_excerpt(text)}")
    if at >= bare or not _PROP_RE.match(tokens[at]):
        raise ProtocolError(f"invalid property name {tokens[at]!r} in {_excerpt(text)}")
    return _new_frame(kind, channel, tokens[at], tuple(tokens[at + 1 :]), text)


def _plain_frame(words: list[str], raw: str) -> Frame:
    """`_frame_from_tokens` for a brace-free body already split into words.

    The usual ``KIND n PROP ...`` shape is recognised with a few str tests (cheaper than the
    general rules per metering frame); anything else takes the general rules. The words come
    from ASCII decoded with "replace", so isdigit/isalpha can only accept ASCII characters.
    """
    if len(words) >= 3:
        kind = _KINDS.get(words[0])
        channel, prop = words[1], words[2]
        if (
            kind is not None
            and channel.isdigit()
            and prop != "ERR"  # REP ERR and ERR as a property: leave both to the general rules
            and (prop.isalpha() or _PROP_RE.match(prop))
        ):
            return _new_frame(kind, int(channel), prop, tuple(words[3:]), raw)
    return _frame_from_tokens(words, len(words), raw)


def _plain_run_re(max_frame: int) -> re.Pattern[str]:
    """A run of whole ``<...>`` frames, each of at most `max_frame` characters with no '<' or
    brace inside and only inter-frame whitespace before it: the common case that
    `StreamDecoder` decodes without scanning. The length bound also caps a failed attempt.
    """
    between = "".join(f"\\x{byte:02x}" for byte in _BETWEEN_FRAMES)
    return re.compile(f"(?:[{between}]*<[^<>{{}}]{{0,{max_frame - 2}}}>)+")


# Inside a run found by `_plain_run_re`: each frame as (raw, body).
_PLAIN_FRAME_RE = re.compile(r"(<([^<>{}]*)>)")


class StreamDecoder:
    """Reassembles frames from a byte stream (TCP segments or UDP datagrams).

    `feed` never raises: malformed frames, junk between frames and over-long frames are
    counted in `garbage_count` (a run of junk between two frames counts once) and described
    in `last_error`. What `feed` returns depends only on the bytes, not on how they were split.

    The exact scanner (`_scan`) defines the behaviour. Runs of brace-free ``<...>`` frames
    separated only by whitespace, which is nearly all metering traffic, take a fast path
    (`_plain_frames`) that gives the same frames and counters for a fraction of the cost.
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
        self._plain_run = _plain_run_re(max_frame) if self._open != self._close else None
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
        plain_run = self._plain_run
        # ASCII decoding with "replace" maps each byte to one character, so text and buf share
        # offsets; a frame's text is exactly what `_complete` would have decoded.
        text = buf.decode("ascii", errors="replace") if plain_run is not None else ""
        pos, n = 0, len(buf)
        while pos < n:
            if plain_run is not None:
                pos = self._plain_frames(plain_run, text, pos, frames)
                if pos >= n:
                    break
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

    def _plain_frames(
        self, plain_run: re.Pattern[str], text: str, pos: int, frames: list[Frame]
    ) -> int:
        """Fast path: decode the run of brace-free frames at `pos`; return where it stops.

        It takes only frames that `_scan` would end at the first '>' with no '<' or brace on
        the way and no junk before them, so the exact scanner's result is unchanged; anything
        else (junk, braces, a cut-short or over-long frame, a partial tail) is left to it.
        """
        run = plain_run.match(text, pos)
        if run is None:
            return pos
        end = run.end()
        append = frames.append
        good = 0
        for raw, body in _PLAIN_FRAME_RE.findall(text, pos, end):
            try:
                append(_plain_frame(body.split(), raw))
            except ProtocolError as exc:
                self._garbage(str(exc))
            else:
                good += 1
        self.frame_count += good
        self._in_frame, self._junk_counted = False, False
        return end

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
