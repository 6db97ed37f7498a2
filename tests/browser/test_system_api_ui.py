"""Settings → Shure System API in a real browser: filled in on a 360 px phone, saved, connected
to the fake System API (loopback HTTPS), turned off; read-only when the configuration sets it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from micboardd.sim.fake_ssapi import FakeSystemApi

from ..helpers import wait_for
from ..security.admin import set_secret_sync
from .conftest import Console, Daemon, SimRig, login_admin, shot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

CONNECT_MS = 20_000  # the daemon restarts the source, reads the inventory, subscribes
PHONE_360 = {"viewport": {"width": 360, "height": 780}}
TAP_PX = 44  # the dashboard's smallest touch target (--tap)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSystemApi]:
    """The fake System API on a loop of its own (the Playwright tests are synchronous)."""
    loop = SimRig()  # only its event loop thread: no receivers are started
    api = FakeSystemApi()
    loop.run(api.start(), timeout=60)
    yield api
    loop.run(api.close())
    loop.close()


def make_daemon(tmp: Path, *extra: str) -> Daemon:
    config = tmp / "micboardd.toml"
    config.write_text("# empty: tests never read /etc/micboardd\n")
    d = Daemon(
        base_args=[
            *("--state-dir", str(tmp / "state"), "--no-discovery", "--config", str(config)),
            *extra,
        ],
        state_dir=tmp / "state",
    )
    set_secret_sync(d.state_dir)
    d.start()
    return d


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = make_daemon(tmp_path_factory.mktemp("ssapi-ui"))
    yield d
    for proc in d.started:
        proc.stop()


def api_device_count(d: Daemon) -> int:
    return sum(1 for r in d.get("/api/receivers") if r["source"] == "system_api")


def open_settings(page: Any, d: Daemon) -> Any:
    login_admin(page, d)
    page.goto(f"{d.url}/#view=edit&tab=settings")
    status = page.locator("#ssapi-status")
    expect(status).to_be_visible()
    return status


def test_set_on_a_phone_connects_and_turns_off(
    new_page: Any, daemon: Daemon, fake: FakeSystemApi
) -> None:
    page = new_page("phone", **PHONE_360)
    status = open_settings(page, daemon)
    expect(status).to_have_attribute("data-state", "off")
    key = page.locator("#ssapi-key")
    expect(key).to_have_attribute("type", "password")
    expect(key).to_have_attribute("placeholder", re.compile("No key stored"))

    page.locator("#ssapi-url").fill(fake.url)
    key.fill(fake.api_key)
    page.locator("#ssapi-save").click()
    expect(status).to_have_attribute("data-state", "connected", timeout=CONNECT_MS)
    expect(status).to_contain_text("Connected")
    expect(page.locator("#ssapi-msg")).to_contain_text("Saved")
    expect(key).to_have_value("")
    expect(key).to_have_attribute("placeholder", re.compile("A key is stored"))
    assert fake.api_key not in page.content()
    wait_for(lambda: api_device_count(daemon) == len(fake.devices), 15, "the API's devices")

    # 360 px wide: nothing scrolls sideways, every control is a comfortable touch target.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for selector in ("#ssapi-url", "#ssapi-key", "#ssapi-fp", "#ssapi-save", "#ssapi-off"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["height"] >= TAP_PX, (selector, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360, (selector, box)
    page.locator("#ssapi").scroll_into_view_if_needed()
    shot(page, "settings-system-api-phone")

    # A reload shows what was stored (the key only as "stored").
    page.reload()
    expect(page.locator("#ssapi-url")).to_have_value(fake.url)
    expect(page.locator("#ssapi-status")).to_have_attribute("data-state", "connected")

    off = page.locator("#ssapi-off")
    off.click()
    expect(off).to_have_text("Tap again to turn off")
    off.click()
    expect(page.locator("#ssapi-status")).to_have_attribute("data-state", "off")
    expect(page.locator("#ssapi-url")).to_have_value("")
    expect(off).to_be_hidden()
    wait_for(lambda: api_device_count(daemon) == 0, 10, "the API's devices gone")


def test_a_bad_url_is_explained_and_nothing_changes(
    new_page: Any, daemon: Daemon, console: Console
) -> None:
    console.allowed.append("status of 422")  # the browser's own log of the refused request
    page = new_page("desktop")
    status = open_settings(page, daemon)
    page.locator("#ssapi-url").fill("http://192.168.1.10:10000/api")
    page.locator("#ssapi-key").fill("some-key")
    page.locator("#ssapi-save").click()
    expect(page.locator("#ssapi-msg")).to_contain_text("plain http would send the API key")
    expect(status).to_have_attribute("data-state", "off")
    assert not (daemon.state_dir / "secrets" / "ssapi.key").exists()


def test_read_only_when_the_configuration_sets_it(
    new_page: Any, fake: FakeSystemApi, tmp_path: Path
) -> None:
    key_file = tmp_path / "sharedkey.txt"
    key_file.write_text(fake.api_key + "\n")
    os.chmod(key_file, 0o600)
    d = make_daemon(tmp_path, "--ssapi-url", fake.url, "--ssapi-key-file", str(key_file))
    page = new_page("desktop")
    try:
        status = open_settings(page, d)
        expect(status).to_have_attribute("data-state", "connected", timeout=CONNECT_MS)
        expect(page.locator("#ssapi-origin")).to_contain_text("/etc/micboardd/micboardd.toml")
        for selector in ("#ssapi-url", "#ssapi-key", "#ssapi-fp"):
            expect(page.locator(selector)).to_have_attribute("readonly", "")
        expect(page.locator("#ssapi-url")).to_have_value(fake.url)
        expect(page.locator("#ssapi-key")).to_have_attribute("placeholder", "Set by ssapi_key_file")
        expect(page.locator("#ssapi-save")).to_be_hidden()
        expect(page.locator("#ssapi-off")).to_be_hidden()
    finally:
        page.context.close()  # before its daemon goes: no reconnect attempts to log
        for proc in d.started:
            proc.stop()
