"""Finding the dashboard's files, and a daemon that has none: one clear error, a health field."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from micboardd.config import Settings
from micboardd.daemon.run import Daemon
from micboardd.web import root as web_root
from tests.helpers import REPO, async_wait_for


def test_a_checkout_serves_its_own_web_directory() -> None:
    # Running from this source tree (pip install -e): nothing is copied into the package.
    assert web_root.packaged_root() == REPO / "micboardd" / web_root.PACKAGE_DATA_DIR
    assert web_root.checkout_root() == REPO / "web"
    assert web_root.find_web_root() == REPO / "web"


def test_the_packaged_copy_wins_and_an_empty_place_is_skipped(tmp_path: Path) -> None:
    empty, packaged, checkout = tmp_path / "empty", tmp_path / "pkg", tmp_path / "web"
    for place in (empty, packaged, checkout):
        place.mkdir()
    for place in (packaged, checkout):
        (place / "index.html").write_text("<!doctype html>")
    assert web_root.find_web_root([empty, packaged, checkout]) == packaged
    assert web_root.find_web_root([empty]) is None
    text = web_root.missing_message([empty])
    assert str(empty) in text and "index.html" in text and "503" in text


async def test_without_dashboard_files_the_api_runs_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nothing = tmp_path / "no-dashboard"
    nothing.mkdir()
    settings = Settings(host="127.0.0.1", port=0, state_dir=tmp_path / "state", discovery=False)
    daemon = Daemon(settings, web_root=nothing)
    caplog.set_level(logging.INFO, logger="micboardd")
    task = asyncio.create_task(daemon.run())
    try:
        await async_wait_for(lambda: daemon.port or task.done(), 15, "the daemon listening")
        assert not task.done(), "the daemon must start without its dashboard"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{daemon.port}") as c:
            health = (await c.get("/api/health")).json()
            assert health["dashboard_ok"] is False
            assert health["status"] == "degraded" and health["db_ok"] is True
            for path in ("/", "/index.html", "/js/board.js"):
                page = await c.get(path)
                assert page.status_code == 503, path
                assert "no dashboard files" in page.text
            assert (await c.get("/api/devices")).json() == []
    finally:
        daemon.request_stop("test over")
        assert await task == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith("no dashboard files: index.html is not in " + str(nothing))


def test_health_says_the_dashboard_is_there(tmp_path: Path) -> None:
    # The normal case, through the same field (the packaging tests read it from a wheel).
    from tests.helpers import DaemonProcess, daemon_env

    config = tmp_path / "micboardd.toml"
    config.write_text("")
    args = ["run", "--host", "127.0.0.1", "--port", "0", "--no-discovery", "--config", str(config)]
    d = DaemonProcess(
        args=[*args, "--state-dir", str(tmp_path)], state_dir=tmp_path, env=daemon_env()
    )
    d.start()
    try:
        health = httpx.get(d.url + "/api/health").json()
        assert health["dashboard_ok"] is True and health["status"] == "ok"
        assert "<html" in httpx.get(d.url + "/").text.lower()
        assert "no dashboard files" not in d.log
    finally:
        d.stop()
