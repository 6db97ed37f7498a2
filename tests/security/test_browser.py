"""The dashboard in a real browser, under its real Content-Security-Policy: the login dialog
for editors, the viewer PIN screen, and no CSP violation anywhere (Chromium reports each one
as a console error, which the `console` fixture fails on)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ..browser.conftest import (  # the browser fixtures, shared with tests/browser
    Console,
    SimRig,
    browser,
    console,
    new_page,
    playwright,
)
from ..helpers import DaemonProcess, daemon_env
from .admin import ADMIN_PASSWORD, CSRF_HEADER, set_secret_sync
from .conftest import VIEWER_PIN_LONG

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
__all__ = ["browser", "console", "new_page", "playwright"]  # fixtures, used by name

UNDER_CSP = {"bypass_csp": False}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    rig = SimRig()
    rig.start()
    tmp = tmp_path_factory.mktemp("box")
    (tmp / "micboardd.toml").write_text("# empty\n")
    args = ["run", "--host", "127.0.0.1", "--port", "0", "--state-dir", str(tmp / "state")]
    args += ["--no-discovery", "--config", str(tmp / "micboardd.toml")]
    for address in rig.addresses:
        args += ["--receiver", address]
    set_secret_sync(tmp / "state")
    d = DaemonProcess(args=args, state_dir=tmp / "state", env=daemon_env())
    d.start()
    yield d
    d.stop()
    rig.close()


def set_pin(box: DaemonProcess, pin: str | None) -> None:
    with httpx.Client(base_url=box.url, timeout=10) as c:
        token = c.post("/api/login", json={"password": ADMIN_PASSWORD}).json()["csrf_token"]
        r = c.put("/api/security/viewer-pin", json={"pin": pin}, headers={CSRF_HEADER: token})
        assert r.status_code == 200, r.text


def live(page: Any) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def test_every_view_runs_under_the_real_csp(new_page: Any, box: DaemonProcess) -> None:
    page = new_page("phone", **UNDER_CSP)
    response = page.goto(box.url + "/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    live(page)
    expect(page.locator("#board .tile[data-status]")).to_have_count(9)
    page.request.post(f"{box.url}/api/login", data={"password": ADMIN_PASSWORD})
    for hash_ in (
        "#view=health",
        "#view=edit&tab=names",
        "#view=edit&tab=groups",
        "#view=edit&tab=receivers",
        "#view=edit&tab=settings",
        "#tv=1",
        "#layout=list&theme=light",
    ):
        page.goto(f"{box.url}/{hash_}")
        page.reload()
        live(page)
        if "edit" in hash_:
            expect(page.locator(".editor-body")).to_have_attribute("data-tab", hash_.split("=")[-1])
    page.goto(box.url + "/")
    page.locator("#menu-btn").click()
    page.locator("[data-action=share]").click()
    expect(page.locator("#qr svg")).to_be_visible()
    # Styles set from script (meters, TV grid) are CSSOM, which the policy allows.
    assert page.evaluate("document.querySelector('#board .tile .lvl').style.clipPath") != ""


def test_editors_ask_for_the_crew_password(
    new_page: Any, box: DaemonProcess, console: Console
) -> None:
    console.allowed.append("status of 401")  # the wrong password, on purpose
    page = new_page("desktop", **UNDER_CSP)
    page.goto(f"{box.url}/#view=edit&tab=names")
    dialog = page.locator("dialog#login")
    expect(dialog).to_be_visible()
    expect(page.locator(".editor-body")).to_have_count(0)
    page.locator("#login-cancel").click()
    expect(page.locator("#edit-locked")).to_be_visible()
    page.locator("#login-open").click()
    page.locator("#login-password").fill("not the password")
    page.locator("#login-submit").click()
    expect(page.locator("#login-error")).to_have_text("wrong password")
    page.locator("#login-password").fill(ADMIN_PASSWORD)
    page.locator("#login-submit").click()
    expect(dialog).to_have_count(0)
    expect(page.locator(".editor-body")).to_have_attribute("data-tab", "names")
    expect(page.locator(".name-row")).to_have_count(9)

    # A change goes through with the CSRF token the page got at login.
    row = page.locator(".name-row").first
    row.locator("input.perf").fill("Zed")
    row.locator("input.perf").press("Enter")
    expect(row.locator(".saved")).to_have_text("Saved ✓")

    page.locator(".account button", has_text="Log out").click()
    expect(page).to_have_url(re.compile(r"/#?$"))  # back on the board
    expect(page.locator("#board-view")).to_be_visible()
    session = page.request.get(f"{box.url}/api/session").json()
    assert session["role"] == "viewer" and session["csrf_token"] is None


def test_viewer_pin_screen(new_page: Any, box: DaemonProcess, console: Console) -> None:
    # Until the PIN is in, the box refuses the socket and the API: expected errors.
    console.allowed += ["WebSocket connection to", "status of 401", "status of 403"]
    set_pin(box, VIEWER_PIN_LONG)
    try:
        page = new_page("phone", **UNDER_CSP)
        page.goto(box.url + "/")
        pin = page.locator("#login-pin")
        expect(pin).to_be_visible()
        page.keyboard.press("Escape")  # cannot be dismissed: there is nothing to see
        expect(pin).to_be_visible()
        pin.fill("00000000")
        page.locator("#login-submit").click()
        expect(page.locator("#login-error")).to_have_text("wrong PIN")
        pin.fill(VIEWER_PIN_LONG)
        page.locator("#login-submit").click()
        live(page)
        expect(page.locator("#board .tile[data-status]")).to_have_count(9)
        # A viewer sees the editors' login, not the editors.
        page.goto(f"{box.url}/#view=edit&tab=groups")
        expect(page.locator("#login-password")).to_be_visible()
    finally:
        set_pin(box, None)
