"""Logging: journald with structured uppercase fields under systemd, stderr otherwise."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from systemd.journal import JournalHandler

from micboardd.daemon import logs


def _named_loggers() -> dict[str, logging.Logger]:
    return {
        name: logger
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`logs.setup()` configures the process's loggers (the root, uvicorn's, httpx,
    aiosqlite): every one goes back as it was, or a test after these sees httpx silenced."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    before = {name: (lg.level, list(lg.filters)) for name, lg in _named_loggers().items()}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in _named_loggers().items():
        logger.setLevel(before.get(name, (logging.NOTSET, []))[0])
        logger.filters[:] = before.get(name, (logging.NOTSET, []))[1]


def test_journald_under_systemd_with_structured_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []

    # journald's sender is called with MESSAGE as its first, upper-case, parameter.
    def sender(MESSAGE: str, **fields: Any) -> None:
        sent.append({"MESSAGE": MESSAGE, **fields})

    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    logs.setup("info", journal_sender=sender)
    assert any(isinstance(h, JournalHandler) for h in logging.getLogger().handlers)
    logging.getLogger("micboardd.test").warning(
        "receiver %s went offline", "10.0.0.5", extra={"RECEIVER_ADDR": "10.0.0.5", "lower": 1}
    )
    (entry,) = sent
    assert entry["MESSAGE"] == "receiver 10.0.0.5 went offline"
    assert entry["RECEIVER_ADDR"] == "10.0.0.5"
    assert entry["SYSLOG_IDENTIFIER"] == "micboardd"
    assert entry["PRIORITY"] == "4"


def test_stderr_when_not_started_by_systemd(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    logs.setup("info")
    assert not any(isinstance(h, JournalHandler) for h in logging.getLogger().handlers)
    logging.getLogger("micboardd.test").warning("receiver %s answered", "10.0.0.9")
    err = capsys.readouterr().err
    assert "WARNING" in err and "receiver 10.0.0.9 answered" in err
    assert not logs.started_by_systemd({})
    assert logs.started_by_systemd({"INVOCATION_ID": "abc"})


def test_error_and_traceback_lines_of_the_stderr_format_are_recognised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.setup("info", force_stderr=True)
    log = logging.getLogger("micboardd.test")
    log.error("one")
    log.critical("two")
    log.warning("ERROR in the text is not an error line")
    logging.getLogger("micboardd.alerts.service").error("alert raised: Receiver X is offline")
    try:
        raise ValueError("three")
    except ValueError:
        log.exception("four")
    lines = capsys.readouterr().err.splitlines()
    assert [line for line in lines if logs.is_error_line(line)] == [lines[0], lines[3], lines[4]]
    assert [line for line in lines if logs.is_fault_line(line)] == [lines[0], lines[4]]
    assert [line for line in lines if logs.is_traceback_line(line)] == [lines[5]]


def test_alert_lines_come_from_the_alerts_engine_logger(capsys: pytest.CaptureFixture[str]) -> None:
    # The module that raises alerts logs them under its own name: the fault filter must
    # know it, or every critical alert would count as a daemon fault.
    from micboardd.alerts import service

    logs.setup("info", force_stderr=True)
    logging.getLogger(service.__name__).error("alert raised: Receiver X is offline")
    (line,) = capsys.readouterr().err.splitlines()
    assert logs.is_error_line(line) and not logs.is_fault_line(line)


def test_uvicorn_cutting_off_viewers_at_shutdown_is_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.setup("info", force_stderr=True)
    uvicorn_errors = logging.getLogger("uvicorn.error")
    uvicorn_errors.error("Cancel %s running task(s), timeout graceful shutdown exceeded", 2)
    uvicorn_errors.error("something else went wrong")
    shutdown, other = capsys.readouterr().err.splitlines()
    assert "WARNING" in shutdown and not logs.is_error_line(shutdown)
    assert logs.is_fault_line(other)
    logs.setup("info", force_stderr=True)  # set up twice: still one filter
    assert len(uvicorn_errors.filters) == 1
