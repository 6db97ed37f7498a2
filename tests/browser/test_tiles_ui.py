"""Performer photos and placeholder tiles in the real dashboard (Chromium, simulated rig)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from ..images import png
from ..security.admin import ADMIN_PASSWORD
from .conftest import Console, Daemon, SimRig, login_admin, open_board, shot, tile

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=10_000)

PHOTO = png(96, 128, (30, 140, 220))  # a real, decodable picture


def admin_http(daemon: Daemon) -> httpx.Client:
    c = httpx.Client(base_url=daemon.url, timeout=10)
    r = c.post("/api/login", json={"password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def background_of(locator: Any) -> str:
    return str(locator.evaluate("el => getComputedStyle(el).backgroundImage"))


def test_photo_uploaded_in_the_editor_shows_behind_the_tile_in_tv_mode(
    new_page: Any, rig: SimRig, daemon: Daemon, console: Console
) -> None:
    console.allowed.append("status of 415")  # the refused file below, as the browser logs it
    lead = rig.device_id("stage", 1)
    # A TV already showing the board: the photo must reach it without a reload.
    tv = new_page("desktop")
    open_board(tv, daemon, "#tv=1")
    tv_tile = tile(tv, rig, "stage", 1)
    expect(tv_tile).not_to_have_attribute("data-photo", "1")

    page = new_page("desktop")
    login_admin(page, daemon)
    page.goto(f"{daemon.url}/#view=edit&tab=names")
    ctl = page.locator(f'.name-row[data-device="{lead}"] .photo-ctl')
    expect(ctl.locator(".photo-thumb")).to_be_hidden()

    # A file that is not a picture, whatever its name: refused with the reason, nothing kept.
    ctl.locator("input.photo-file").set_input_files(
        {"name": "lead.jpg", "mimeType": "image/jpeg", "buffer": b"GIF89a" + b"\x00" * 64}
    )
    expect(ctl.locator(".photo-msg")).to_contain_text("not a JPEG, PNG or WebP image")
    expect(ctl).to_have_attribute("data-version", "")
    assert httpx.get(f"{daemon.url}/api/devices/{lead}/photo").status_code == 404

    ctl.locator("input.photo-file").set_input_files(
        {"name": "lead-vox.png", "mimeType": "image/png", "buffer": PHOTO}
    )
    expect(ctl.locator(".photo-msg")).to_have_text("Photo saved ✓")
    expect(ctl.locator(".photo-thumb")).to_be_visible()
    page.wait_for_function(
        "el => el.complete && el.naturalWidth === 96",
        arg=ctl.locator(".photo-thumb").element_handle(),
    )
    version = daemon.get(f"/api/devices/{lead}")["photo"]
    assert version and ctl.get_attribute("data-version") == version
    shot(page, "desktop-edit-names-photo")

    # The TV learnt the new photo over its WebSocket; `g` (Micboard's key) shows it.
    expect(tv_tile).to_have_attribute("data-photo", "1")
    assert "url(" not in background_of(tv_tile)  # photos are off on a new screen
    with tv.expect_response(lambda r: f"/photo?v={version}" in r.url) as loaded:
        tv.keyboard.press("g")
    assert loaded.value.status == 200
    assert loaded.value.headers["content-type"] == "image/png"
    expect(tv.locator("body")).to_have_class(_has("photos"))
    assert f"photo?v={version}" in background_of(tv_tile)
    # Tiles without a photo keep their plain background; the status colour stays on the head.
    assert "url(" not in background_of(tile(tv, rig, "stage", 2))
    expect(tv_tile.locator(".t-status")).to_have_text("OK")
    shot(tv, "tv-photos")

    # `g` again: off, remembered by this screen.
    tv.keyboard.press("g")
    expect(tv.locator("body")).not_to_have_class(_has("photos"))
    assert "url(" not in background_of(tv_tile)
    # A kiosk link turns them on whatever the screen remembers.
    open_board(tv, daemon, "#tv=1&photos=1")
    expect(tv.locator("body")).to_have_class(_has("photos"))

    # Removed in the editor: gone from the TV too.
    ctl.locator(".photo-remove").click()
    expect(ctl.locator(".photo-msg")).to_have_text("Photo removed")
    expect(tv_tile).not_to_have_attribute("data-photo", "1")
    assert "url(" not in background_of(tv_tile)


def test_a_placeholder_made_in_the_editor_sits_in_a_group_and_never_shows_ok(
    new_page: Any, rig: SimRig, daemon: Daemon, console: Console
) -> None:
    console.allowed.append("status of 400")  # the empty placeholder below, refused
    page = new_page("desktop")
    login_admin(page, daemon)
    page.goto(f"{daemon.url}/#view=edit&tab=placeholders")
    add = page.locator("#ph-add")
    add.locator("input[name=label]").fill("BP14")
    add.locator("input[name=name]").fill("Spare IEM")
    add.locator("input[name=model]").fill("PSM900")
    add.locator("button[type=submit]").click()
    expect(add.locator(".note")).to_contain_text("Added BP14")
    row = page.locator('#ph-list .ph-row[data-device="placeholder:1"]')
    expect(row.locator("input[name=name]")).to_have_value("Spare IEM")
    # Nothing to show: refused with the reason.
    add.locator("button[type=submit]").click()
    expect(add.locator(".note")).to_have_text("a placeholder needs a name or an ID label")
    # Edited in place.
    row.locator("input[name=name]").fill("Drums IEM")
    row.locator("button", has_text="Save").click()
    expect(row.locator(".saved")).to_have_text("Saved ✓")
    shot(page, "desktop-edit-placeholders")

    # Into a group with two monitored channels, from the group editor's palette.
    page.locator(".tabs a[data-tab='groups']").click()
    page.locator("#group-new").click()
    page.locator("#group-title").fill("Rack")
    palette = page.locator("#group-palette")
    expect(palette.locator('button[data-device="placeholder:1"]')).to_contain_text("Drums IEM")
    for device in (rig.device_id("stage", 1), "placeholder:1", rig.device_id("band", 2)):
        palette.locator(f'button[data-device="{device}"]').click()
    page.locator("#group-save").click()
    expect(page.locator(".savebar .status")).to_have_text("Saved")
    group_id = next(g["id"] for g in daemon.get("/api/groups") if g["title"] == "Rack")

    for hash_ in (f"#group={group_id}", f"#group={group_id}&tv=1&layout=names"):
        board = new_page("desktop")
        open_board(board, daemon, hash_)
        tiles = board.locator("#board .tile")
        expect(tiles).to_have_count(3)
        ph = board.locator('#board .tile[data-device="placeholder:1"]')
        assert tiles.nth(1).get_attribute("data-device") == "placeholder:1"
        expect(ph).to_have_attribute("data-status", "unmonitored")
        expect(ph.locator(".t-status")).to_have_text("UNMONITORED")
        expect(ph.locator(".t-name")).to_have_text("Drums IEM")
        expect(ph.locator(".t-sub")).to_have_text("BP14 · PSM900")
        expect(ph.locator(".t-ch")).to_have_text("")
        # Its own colour: not OK's, not unknown's, not offline's.
        # (Big names paint the whole tile in the status colour, tiles paint its head.)
        painted = ph if "layout=names" in hash_ else ph.locator(".t-head")
        head = painted.evaluate("el => getComputedStyle(el).backgroundColor")
        others = {
            s: board.evaluate(
                "v => getComputedStyle(document.documentElement).getPropertyValue(v).trim()", v
            )
            for s, v in (("unmonitored", "--unmonitored"), ("good", "--good"))
        }
        assert head == _rgb(others["unmonitored"]) != _rgb(others["good"])
        assert "OK" not in ph.inner_text().split()
        shot(board, "tv-names-placeholder" if "tv=1" in hash_ else "desktop-group-placeholder")

    # The help legend lists the colour.
    help_page = new_page("desktop")
    open_board(help_page, daemon)
    help_page.keyboard.press("?")
    expect(help_page.locator('#legend .swatch[data-status="unmonitored"]')).to_contain_text(
        "UNMONITORED"
    )

    # Deleted: gone from the group's board. A board that asked for its sparkline's history
    # just before may be answered 404 (no such device now): the browser logs that.
    console.allowed.append("/api/history?device_id=placeholder%3A1&")
    c = admin_http(daemon)
    try:
        assert c.delete("/api/placeholders/1").status_code == 204
    finally:
        c.close()
    board = new_page("desktop")
    open_board(board, daemon, f"#group={group_id}")
    expect(board.locator("#board .tile")).to_have_count(2)


def _has(cls: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){cls}(\s|$)")


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"
