"""Frames from a byte stream: TCP segments or UDP datagrams in, parsed frames out.

PURE apart from the decoder's own buffer and counters: no I/O, no clock. Wire facts are
codec.py's (PROTOCOLS.md §1.1): no line terminator, several frames per segment, frames split
across segments, delimiters inside ``{...}`` do not end a frame.
"""

from __future__ import annotations

import re

from micboardd.errors import ProtocolError
from micboardd.shure.codec import (
    BETWEEN_FRAMES,
    MAX_FRAME_BYTES,
    Frame,
    Framing,
    excerpt,
    parse_frame,
    plain_frame,
)

__all__ = ["StreamDecoder"]


def _plain_run_re(max_frame: int) -> re.Pattern[str]:
    """A run of whole ``<...>`` frames, each of at most `max_frame` characters with no '<' or
    brace inside and only inter-frame whitespace before it: the common case that
    `StreamDecoder` decodes without scanning. The length bound also caps a failed attempt.
    """
    between = "".join(f"\\x{byte:02x}" for byte in BETWEEN_FRAMES)
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
        if gap.strip(BETWEEN_FRAMES) and not self._junk_counted:
            self._junk_counted = True
            self._garbage(f"discarded bytes outside a frame: {excerpt(bytes(gap))}")

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

    def sample_rows(
        self, data: bytes, frame: re.Pattern[str], frame_len: int
    ) -> list[tuple[str, ...]] | None:
        """The groups of each frame when `data` is nothing but frames that `frame` matches,
        every one `frame_len` long, and nothing is pending (a receiver's metering write,
        nearly every one); they are counted as `feed` would count them. None: use `feed`
        (which then sees the same bytes).

        One pass: fixed-length matches that add up to the whole write tile it, so nothing
        lies between or around them."""
        if self._buf:
            return None
        text = data.decode("ascii", errors="replace")
        rows: list[tuple[str, ...]] = frame.findall(text)
        if not rows or len(rows) * frame_len != len(text):
            return None
        self._in_frame, self._junk_counted = False, False
        self.frame_count += len(rows)
        return rows

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
                append(plain_frame(body.split(), raw))
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
                self._garbage(f"frame cut short by a new start: {excerpt(bytes(buf[pos:k]))}")
                return k  # still in a frame, now opened at k
            return self._complete(buf, pos, k, frames)

    def _complete(self, buf: bytearray, pos: int, end: int, frames: list[Frame]) -> int:
        star = self._open == self._close
        body = buf[pos + 1 : end]
        if star and not body.strip(BETWEEN_FRAMES):
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
