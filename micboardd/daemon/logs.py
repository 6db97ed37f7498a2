"""Logging: journald with structured fields under systemd, readable lines on stderr elsewhere."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

SYSLOG_IDENTIFIER = "micboardd"
_STDERR_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Reading that format back (the soak and the end-to-end tests watch the daemon's stderr).
_STDERR_ERROR = re.compile(r"^\d\d:\d\d:\d\d ERROR\s")
# Critical alerts are logged at ERROR on purpose (journalctl shows them in red): they are
# the show's events (a receiver lost power), not faults of the daemon.
_ALERT = re.compile(r"^\S+ ERROR\s+micboardd\.alerts\.service: alert raised: ")
_TRACEBACK = "Traceback (most recent call last):"


def is_error_line(line: str) -> bool:
    """A line the stderr format wrote at ERROR (not CRITICAL: those end the daemon)."""
    return _STDERR_ERROR.match(line) is not None


def is_fault_line(line: str) -> bool:
    """An ERROR line that says the daemon itself went wrong: any but a critical alert."""
    return is_error_line(line) and _ALERT.match(line) is None


def is_traceback_line(line: str) -> bool:
    return line.startswith(_TRACEBACK)


def started_by_systemd(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    # journald silently drops what is sent to it when not running: only trust these markers.
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


class _ShutdownTimeoutIsAWarning(logging.Filter):
    """uvicorn logs at ERROR that phones still connected at SIGTERM were cut off after
    `timeout_graceful_shutdown`: that is how a daemon with viewers stops, not a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and "timeout graceful shutdown exceeded" in str(
            record.msg
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def setup(level: str = "info", *, force_stderr: bool = False, journal_sender: Any = None) -> None:
    """Route logging to journald (under systemd) or stderr; `journal_sender` is for tests."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    out: logging.Handler
    if started_by_systemd() and not force_stderr:
        from systemd.journal import JournalHandler

        kwargs: dict[str, Any] = {"SYSLOG_IDENTIFIER": SYSLOG_IDENTIFIER}
        if journal_sender is not None:
            kwargs["sender_function"] = journal_sender
        out = JournalHandler(**kwargs)
        out.setFormatter(logging.Formatter("%(message)s"))
    else:
        out = logging.StreamHandler(sys.stderr)
        out.setFormatter(logging.Formatter(_STDERR_FORMAT, datefmt="%H:%M:%S"))
    root.addHandler(out)
    root.setLevel(level.upper())
    # One line per HTTP request is noise on an appliance; errors still come through.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    uvicorn_errors = logging.getLogger("uvicorn.error")
    uvicorn_errors.setLevel(max(logging.WARNING, root.level))
    if not any(isinstance(f, _ShutdownTimeoutIsAWarning) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(_ShutdownTimeoutIsAWarning())
    # httpx logs every System API request at INFO (one line per device per poll).
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    # aiosqlite's debug lines carry every query's parameters: password hashes, the session
    # key. Never log them, even at --log-level debug.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
