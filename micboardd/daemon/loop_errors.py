"""Unexpected exceptions on the event loop: one readable line each, counted per kind.

An exception nobody caught in a `call_soon`/`call_at` callback, in a task nobody awaited or in
a protocol callback goes to the loop's exception handler. The default one writes the repr of
the callback into the log; for a bound method of a dataclass that is the whole object (the
fan-out with its hub, the app context with the settings and every receiver address: 10 KB a
line, issue 21). This handler writes one line an operator can read in journalctl:

    unexpected AttributeError in callback FanOut.flush at micboardd/feed/fanout.py:227 (_release):
    'uvloop.loop.Handle' object has no attribute 'when' [1 so far]

what (the exception's type and message, truncated), where (the callback or task and the
innermost frame), and how many of that kind so far. The traceback follows at DEBUG only. The
counts per kind are shown in /api/health and /metrics (`micboardd_loop_exceptions_total`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from micboardd.aio import MAX_WHERE_CHARS, callable_name

log = logging.getLogger(__name__)

# An exception message may embed the repr of anything (a KeyError of a whole dict): cut it.
MAX_MESSAGE_CHARS = 200
# Kinds are exception type names, a small set in practice; past this many, "other", so the
# /metrics label and the health body stay bounded whatever goes wrong.
MAX_KINDS = 32
OTHER_KIND = "other"
# The kind of a report that carries no exception ("Task was destroyed but it is pending!").
NO_EXCEPTION_KIND = "no_exception"
# A bug that fires on every meter sample must not fill the SD card: each kind is logged at
# most this many times per window; the rest are only counted (and the log says so once).
LOG_BURST = 10
LOG_WINDOW_S = 600.0
# Path prefixes dropped from file names in the line: site-packages and the source tree.
_ROOTS = tuple(
    # micboardd/daemon/loop_errors.py -> the directory holding the micboardd package
    str(p) + "/"
    for p in {Path(__file__).resolve().parents[2], Path(asyncio.__file__).parent}
)

# Frames of the loop itself, skipped to find the callback: asyncio's, and uvloop's (Cython
# frames name their .pyx file relative to the package).
_LOOP_FRAMES = (str(Path(asyncio.__file__).parent) + "/", "uvloop/")

Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())  # one line, whatever the message held
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_path(filename: str) -> str:
    """`/…/site-packages/micboardd/fanout.py` -> `micboardd/feed/fanout.py`."""
    for root in _ROOTS:
        if filename.startswith(root):
            return filename[len(root) :]
    marker = "site-packages/"
    if marker in filename:
        return filename.split(marker, 1)[1]
    return filename


def innermost_frame(tb: TracebackType | None) -> str | None:
    """`micboardd/feed/fanout.py:227 (_release)`: where the exception was raised."""
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"{short_path(code.co_filename)}:{tb.tb_lineno} ({code.co_name})"


def outermost_frame_name(tb: TracebackType | None) -> str | None:
    """The qualified name of the first frame outside asyncio: the callback that was run."""
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith(_LOOP_FRAMES):
            return _cut(code.co_qualname, MAX_WHERE_CHARS)
        tb = tb.tb_next
    return None


def where(context: Mapping[str, Any]) -> str:
    """What the loop was running: a callback, a task or a protocol, by name."""
    named = context.get("where")  # set by report_to_loop
    if isinstance(named, str):
        return _cut(named, MAX_WHERE_CHARS + 20)
    task = context.get("task") or context.get("future")
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return _cut(f"task {task.get_name()} ({callable_name(coro)})", MAX_WHERE_CHARS + 20)
    handle = context.get("handle")
    if handle is not None:
        callback = getattr(handle, "_callback", None)  # asyncio's Handle; uvloop hides it
        if callback is not None:
            return "callback " + callable_name(callback)
        exc = context.get("exception")
        name = outermost_frame_name(exc.__traceback__ if isinstance(exc, BaseException) else None)
        return "callback " + (name or type(handle).__name__)
    protocol = context.get("protocol")
    if protocol is not None:
        return "protocol " + type(protocol).__qualname__
    if context.get("transport") is not None:
        return "transport " + type(context["transport"]).__qualname__
    if isinstance(task, asyncio.Future):
        return "future"
    return "the event loop"


def kind_of(context: Mapping[str, Any]) -> str:
    exc = context.get("exception")
    return type(exc).__name__ if isinstance(exc, BaseException) else NO_EXCEPTION_KIND


def describe(context: Mapping[str, Any]) -> str:
    """The one line for an exception handler context (without the count)."""
    exc = context.get("exception")
    place = where(context)
    if not isinstance(exc, BaseException):
        message = _cut(str(context.get("message") or "no message"), MAX_MESSAGE_CHARS)
        return f"unexpected event-loop report in {place}: {message}"
    at = innermost_frame(exc.__traceback__)
    message = _cut(str(exc), MAX_MESSAGE_CHARS) or "(no message)"
    return (
        f"unexpected {type(exc).__name__} in {place}"
        + (f" at {at}" if at else "")
        + (f": {message}")
    )


class LoopErrors:
    """The daemon's loop exception handler and its counts per kind."""

    def __init__(
        self,
        counts: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counts: dict[str, int] = {} if counts is None else counts
        self.clock = clock
        self._window: dict[str, tuple[float, int]] = {}  # kind -> (window start, lines logged)
        self._previous: Handler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self.handle)

    def uninstall(self) -> None:
        if self._loop is not None:
            self._loop.set_exception_handler(self._previous)
            self._loop = None

    def handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        try:
            self.report(context)
        except Exception:  # the handler itself must never be the next unhandled exception
            log.error("unexpected %s on the event loop (not described)", kind_of(context))

    def report(self, context: Mapping[str, Any]) -> None:
        kind = kind_of(context)
        if kind not in self.counts and len(self.counts) >= MAX_KINDS:
            kind = OTHER_KIND
        count = self.counts[kind] = self.counts.get(kind, 0) + 1
        now = self.clock()
        start, logged = self._window.get(kind, (now, 0))
        if now - start >= LOG_WINDOW_S:
            start, logged = now, 0
        self._window[kind] = (start, logged + 1)
        if logged < LOG_BURST:
            log.error("%s [%d so far]", describe(context), count)
            if logged + 1 == LOG_BURST:
                log.error(
                    "more %s on the event loop are counted, not logged, for %.0f minutes "
                    "(see /api/health)",
                    kind,
                    LOG_WINDOW_S / 60,
                )
        exc = context.get("exception")
        if isinstance(exc, BaseException) and log.isEnabledFor(logging.DEBUG):
            log.debug("traceback of the %s above", kind, exc_info=exc)

    def as_dict(self) -> dict[str, Any]:
        return {"exceptions": self.total, "exceptions_by_kind": dict(sorted(self.counts.items()))}
