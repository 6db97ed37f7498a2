"""Shure command-string wire codec: frame text in, frames out; commands in, bytes out.

Reassembling frames from a byte stream is decoder.py's (`StreamDecoder`).

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

import msgspec

from micboardd.errors import ProtocolError

__all__ = [
    "BETWEEN_FRAMES",
    "MAX_FRAME_BYTES",
    "Frame",
    "Framing",
    "MessageKind",
    "encode",
    "excerpt",
    "parse_frame",
    "plain_frame",
    "quote",
]

# Real frames are under 200 bytes (the longest, an Axient Quadversity FD-C SAMPLE or a padded
# 32-char MODEL reply, is ~100); 1024 leaves 5x headroom yet bounds memory on a garbage stream.
MAX_FRAME_BYTES = 1024

# Bytes tolerated between frames without counting as garbage (PSM1000 sends CRLF; NUL is
# accepted because some embedded stacks pad with it).
BETWEEN_FRAMES = b" \t\r\n\x0b\x0c\x00"

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


class Frame(msgspec.Struct, frozen=True, gc=False):
    """One decoded message.

    `channel` is None for device-level properties (which carry no index) and 0 for "all".
    `args` are the value tokens: a ``{...}`` string is one token with its braces and right
    padding removed (an empty or all-space string becomes ""). `raw` is the frame as received.
    A msgspec Struct: one is made per metering frame, a thousand a second.
    """

    kind: MessageKind
    channel: int | None
    prop: str
    args: tuple[str, ...]
    raw: str


# A name or model a device chose, as we keep and show it: receivers' own are at most ~30
# characters, so 48 cuts nothing real and keeps a hostile one from filling a log line.
PEER_TEXT_MAX = 48


def peer_text(text: str, limit: int = PEER_TEXT_MAX) -> str:
    """Text a device sent (a name, a model), made safe to keep, log and show (pure):
    anything unprintable (control characters, line breaks, escapes) becomes '?', and it is
    cut to `limit` characters."""
    clean = "".join(c if c.isprintable() else "?" for c in text[: limit + 1])
    return clean if len(clean) <= limit else clean[: limit - 1] + "\u2026"


def excerpt(text: str | bytes) -> str:
    """The start of a bad frame or junk run, quoted, for an error message."""
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
                raise ProtocolError(f"unterminated '{{' in frame {excerpt(raw)}")
            inner = body[i + 1 : j]
            if "{" in inner:
                raise ProtocolError(f"nested '{{' in frame {excerpt(raw)}")
            if first_braced < 0:
                first_braced = len(tokens)
            tokens.append(inner.rstrip())
            i = j + 1
        elif c == "}":
            raise ProtocolError(f"unmatched '}}' in frame {excerpt(raw)}")
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
        raise ProtocolError(f"not a '< ... >' or '* ... *' frame: {excerpt(text)}")
    tokens, bare = _tokenize(stripped[1:-1], text)
    return _frame_from_tokens(tokens, bare, text)


def _frame_from_tokens(tokens: list[str], bare: int, text: str) -> Frame:
    """The frame whose body split into `tokens`, of which the first `bare` are unbraced."""
    if not tokens:
        raise ProtocolError(f"empty frame {excerpt(text)}")
    kind = _KINDS.get(tokens[0].upper()) if bare > 0 else None
    if kind is None:
        raise ProtocolError(f"unknown message kind {tokens[0]!r} in {excerpt(text)}")
    at = 1  # index of the next header token (channel or property); header tokens are bare
    channel: int | None = None
    if at < bare and _is_index(tokens[at]):
        channel = int(tokens[at])
        at += 1
    if kind is MessageKind.REP and at < bare and tokens[at] == "ERR":
        return Frame(MessageKind.ERR, channel, "ERR", tuple(tokens[at + 1 :]), text)
    if at >= len(tokens):
        raise ProtocolError(f"missing property name in {excerpt(text)}")
    if at >= bare or not _PROP_RE.match(tokens[at]):
        raise ProtocolError(f"invalid property name {tokens[at]!r} in {excerpt(text)}")
    return Frame(kind, channel, tokens[at], tuple(tokens[at + 1 :]), text)


def plain_frame(words: list[str], raw: str) -> Frame:
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
            return Frame(kind, int(channel), prop, tuple(words[3:]), raw)
    return _frame_from_tokens(words, len(words), raw)


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
