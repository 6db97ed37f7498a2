"""The dashboard in a real browser against the real daemon and simulated receivers.

Tests run in file order and share one rig and one daemon (module fixtures): the edits test
creates the group the screenshots show, and the restart test goes last.
"""

from __future__ import annotations

import gzip
import json
import re
import struct
import subprocess
import time
from typing import Any

import httpx
import pytest

from ..helpers import shared_file
from .conftest import (
    REPO,
    SCREENSHOTS,
    Console,
    Daemon,
    SimRig,
    login_admin,
    open_board,
    shot,
    tile,
    zbarimg,
)

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=10_000)

FIRST_LOAD_BUDGET_BYTES = 200 * 1024
METRICS = REPO / "test-artifacts" / "dashboard-metrics.json"


def first_tiles_mark(page: Any) -> int:
    """Milliseconds from navigation start to the first live tiles, by the page's own clock."""
    page.wait_for_function("performance.getEntriesByName('micboard:first-tiles').length > 0")
    return int(page.evaluate("performance.getEntriesByName('micboard:first-tiles')[0].startTime"))


def save_metrics(**values: Any) -> None:
    METRICS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(METRICS.read_text()) if METRICS.exists() else {}
    data.update(values)
    METRICS.write_text(json.dumps(data, indent=2) + "\n")


# ------------------------------------------------------------------------------ first load


def test_first_load_shows_every_state_within_budget(
    new_page: Any, rig: SimRig, daemon: Daemon
) -> None:
    page = new_page("desktop")
    finished: list[Any] = []
    # (a bound builtin cannot be a Playwright handler: it needs a Python function)
    page.on("requestfinished", lambda r: finished.append(r))  # noqa: PLW0108
    t0 = time.monotonic()
    page.goto(daemon.url + "/")
    expect(page.locator("#board .tile[data-status]")).to_have_count(9)
    first_tiles_ms = (time.monotonic() - t0) * 1000
    page.wait_for_load_state("networkidle")
    in_page_ms = first_tiles_mark(page)

    raw = 0
    gz = 0
    files = []
    for req in finished:
        if req.url.startswith("ws"):
            continue
        resp = req.response()
        body = resp.body() if resp else b""
        sizes = req.sizes()
        raw += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        gz += len(gzip.compress(body, 6)) + sizes["responseHeadersSize"]
        files.append(req.url.replace(daemon.url, ""))
    print(
        f"\nfirst load: {len(files)} requests, {raw / 1024:.1f} KB on the wire "
        f"({gz / 1024:.1f} KB if gzipped); first tiles {first_tiles_ms:.0f} ms after "
        f"navigation as the test saw it, {in_page_ms} ms by the browser's clock"
    )
    save_metrics(
        first_load_requests=len(files),
        first_load_bytes=raw,
        first_load_gzip_bytes=gz,
        first_tiles_ms=round(first_tiles_ms),
        first_tiles_in_page_ms=in_page_ms,
    )
    assert raw <= FIRST_LOAD_BUDGET_BYTES, files
    # Editors, health page and QR encoder load only when opened.
    assert not any(re.search(r"editors|health|qr\.js", f) for f in files), files

    expected = {
        ("stage", 1): "good",
        ("stage", 2): "replace",
        ("stage", 3): "critical",
        ("stage", 4): "interference",
        ("band", 1): "audio_peak",
        ("band", 2): "good",
        ("podium", 1): "good",
        ("podium", 2): "prev_good",
        ("spare", 1): "tx_off",
    }
    for (key, ch), status in expected.items():
        expect(tile(page, rig, key, ch)).to_have_attribute("data-status", status)
    # Colour is never the only signal: every state has its word.
    expect(tile(page, rig, "stage", 3).locator(".t-status")).to_have_text("CRITICAL")
    expect(tile(page, rig, "podium", 2).locator(".t-status")).to_have_text("TX OFF")
    expect(tile(page, rig, "band", 1).locator(".t-af-text")).to_have_text("CLIP")
    expect(tile(page, rig, "band", 2).locator(".flag-encryption")).to_have_text("ENCRYPTION")
    expect(tile(page, rig, "stage", 4).locator(".flag-muted")).to_have_text("MUTED")
    expect(tile(page, rig, "stage", 1).locator(".t-name")).to_have_text("Lead Vox")
    expect(tile(page, rig, "stage", 1).locator(".t-freq")).to_have_text("484.125 MHz")
    expect(tile(page, rig, "band", 2).locator(".ants .antrow")).to_have_count(2)
    shot(page, "desktop-all")

    # Again in a fresh context (no cache, no worker) once the daemon and browser are warm.
    warm = new_page("desktop")
    t1 = time.monotonic()
    warm.goto(daemon.url + "/")
    expect(warm.locator("#board .tile[data-status]")).to_have_count(9)
    warm_ms = (time.monotonic() - t1) * 1000
    warm_in_page = first_tiles_mark(warm)
    print(f"warm: first tiles {warm_ms:.0f} ms (test), {warm_in_page} ms (browser's clock)")
    save_metrics(first_tiles_warm_ms=round(warm_ms), first_tiles_warm_in_page_ms=warm_in_page)

    # PWA: the manifest and every icon it names are served; the page registers the worker.
    manifest = daemon.get("/manifest.webmanifest")
    assert manifest["display"] == "standalone" and manifest["start_url"] == "./"
    for icon in manifest["icons"]:
        r = httpx.get(f"{daemon.url}/{icon['src']}", timeout=5.0)
        assert r.status_code == 200 and r.headers["content-type"] == icon["type"], icon
        if icon["type"] == "image/png":  # width and height from the PNG header
            w, h = struct.unpack(">II", r.content[16:24])
            assert f"{w}x{h}" == icon["sizes"], icon
    page.wait_for_function("navigator.serviceWorker.controller !== null")


# ------------------------------------------------------------------------------ live values


def test_battery_rf_and_audio_move_live(new_page: Any, rig: SimRig, daemon: Daemon) -> None:
    page = new_page("phone")
    open_board(page, daemon)
    lead = tile(page, rig, "stage", 1)
    stage = rig.rx["stage"]
    expect(lead.locator(".t-batt-text .pct")).to_have_text("100%")

    rig.call(stage.battery_drain, 1, percent=42)
    expect(lead.locator(".t-batt-text .pct")).to_have_text("42%")
    expect(lead.locator(".cells i[data-on='1']")).to_have_count(3)

    rig.call(stage.set_meters, 1, rf_dbm=[-83], rms_dbfs=-35)
    expect(lead.locator(".t-rf-text")).to_have_text("-83")
    expect(lead.locator(".ants")).to_have_attribute("data-quality", "poor")
    expect(lead.locator(".t-af-text")).to_have_text("-35")
    # Those meters came in binary frames (docs/websocket.md "Binary meters").
    assert page.evaluate("window.micboard.feed.binaryFrames") > 0

    rig.call(stage.battery_drain, 1, percent=8)
    expect(lead).to_have_attribute("data-status", "critical")
    expect(lead.locator(".t-status")).to_have_text("CRITICAL")
    shot(page, "phone-live-critical")

    rig.call(stage.battery_drain, 1, percent=100)
    rig.call(stage.set_meters, 1, rf_dbm=[-52], rms_dbfs=-16, peak_dbfs=-8)
    expect(lead).to_have_attribute("data-status", "good")
    expect(lead.locator(".t-rf-text")).to_have_text("-52")

    # A gap in seq (a frame lost) makes the page ask for a fresh snapshot by itself.
    before = page.evaluate("window.micboard.feed.snapshots")
    page.evaluate(
        "() => { const f = window.micboard.feed; f.onMessage({type: 'meters', seq: f.seq + 5, t: 0, d: {}}); }"
    )
    page.wait_for_function(f"window.micboard.feed.snapshots > {before}")
    rig.call(stage.battery_drain, 1, percent=99)
    expect(lead.locator(".t-batt-text .pct")).to_have_text("99%")


def test_binary_meters_carry_a_peak_of_its_own_and_an_unknown_version_falls_back_to_json(
    new_page: Any, rig: SimRig, daemon: Daemon
) -> None:
    page = new_page("phone")
    open_board(page, daemon)
    band, trumpet = rig.rx["band"], tile(page, rig, "band", 2)
    device = json.dumps(rig.device_id("band", 2))
    levels = f"(() => {{ const d = window.micboard.model.devices.get({device}); return [d.audio_level, d.peak_level]; }})()"
    # AD4D reports a peak of its own: it travels in the frame's peak section.
    rig.call(band.set_meters, 2, rf_dbm=[-60, -62], rms_dbfs=-20, peak_dbfs=-0.2)
    expect(trumpet.locator(".t-af")).to_have_attribute("data-clip", "1")
    assert page.evaluate(levels) == [-20, 0]
    assert page.evaluate("window.micboard.feed.binaryFrames") > 0

    # A frame of a version this page cannot read (a box upgraded under it): JSON meters.
    before = page.evaluate("window.micboard.feed.snapshots")
    page.evaluate(
        "window.micboard.feed.binaryMeters(new Uint8Array([99, 0, 0, 0, 0, 0, 0, 0]).buffer)"
    )
    page.wait_for_function(
        f"window.micboard.feed.jsonMeters && window.micboard.feed.snapshots > {before}"
    )
    frames = page.evaluate("window.micboard.feed.binaryFrames")
    rig.call(band.set_meters, 2, rf_dbm=[-66, -61], rms_dbfs=-27, peak_dbfs=-15)  # as shown
    expect(trumpet.locator(".t-af-text")).to_have_text("-27")
    assert page.evaluate(levels) == [-27, -15]
    assert page.evaluate("window.micboard.feed.binaryFrames") == frames


HIDE = """async (hidden) => {
  const live = await import("/js/live.js");
  live.timing.hiddenGraceMs = 100;
  Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => hidden ? "hidden" : "visible" });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_hidden_page_stops_listening_and_catches_up_when_shown(
    new_page: Any, rig: SimRig, daemon: Daemon
) -> None:
    page = new_page("phone")
    open_board(page, daemon)
    lead = tile(page, rig, "stage", 1)
    page.evaluate(HIDE, True)
    page.wait_for_function("window.micboard.feed.sock.state === 'paused'")
    expect(page.locator("#conn")).to_have_attribute("data-state", "paused")
    rig.call(rig.rx["stage"].battery_drain, 1, percent=61)
    page.evaluate(HIDE, False)
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(lead.locator(".t-batt-text .pct")).to_have_text("61%")
    rig.call(rig.rx["stage"].battery_drain, 1, percent=100)
    expect(lead.locator(".t-batt-text .pct")).to_have_text("100%")


def test_reconnect_backoff_is_exponential_jittered_and_capped(
    new_page: Any, daemon: Daemon
) -> None:
    page = new_page("desktop")
    page.goto(f"{daemon.url}/")
    delays = page.evaluate(
        """async () => {
          const { backoffDelay } = await import("/js/live.js");
          const lo = [], hi = [];
          for (let n = 0; n < 12; n++) { lo.push(backoffDelay(n, () => 0)); hi.push(backoffDelay(n, () => 1)); }
          return { lo, hi };
        }"""
    )
    assert delays["hi"][:7] == [500, 1000, 2000, 4000, 8000, 16000, 30000]
    assert all(h == 30000 for h in delays["hi"][6:])  # capped, and never gives up
    assert all(lo == hi / 2 for lo, hi in zip(delays["lo"], delays["hi"], strict=True))  # jitter


# ------------------------------------------------------------------------------ receiver loss


def test_receiver_power_loss_turns_tiles_offline_and_back(
    new_page: Any, rig: SimRig, daemon: Daemon
) -> None:
    page = new_page("desktop")
    open_board(page, daemon)
    band = rig.rx["band"]
    tiles = [tile(page, rig, "band", 1), tile(page, rig, "band", 2)]

    t0 = time.monotonic()
    rig.run(band.power_loss())
    for t in tiles:
        expect(t).to_have_attribute("data-status", "rx_offline", timeout=3000)
    offline_s = time.monotonic() - t0
    expect(tiles[0].locator(".t-status")).to_have_text("RX OFFLINE")
    shot(page, "desktop-rx-offline")

    rig.run(band.power_restore())
    for t in tiles:
        expect(t).not_to_have_attribute("data-status", "rx_offline", timeout=15_000)
    back_s = time.monotonic() - t0 - offline_s

    # A receiver that locks up without closing the socket: only the silence watchdog sees it.
    t1 = time.monotonic()
    rig.call(band.freeze, True)
    for t in tiles:
        expect(t).to_have_attribute("data-status", "rx_offline", timeout=4000)
    frozen_s = time.monotonic() - t1
    rig.call(band.freeze, False)
    for t in tiles:
        expect(t).not_to_have_attribute("data-status", "rx_offline", timeout=20_000)
    print(
        f"\npower loss -> rx_offline on screen {offline_s * 1000:.0f} ms, back {back_s:.1f} s; "
        f"frozen receiver -> rx_offline {frozen_s:.1f} s"
    )
    save_metrics(
        power_loss_to_offline_ms=round(offline_s * 1000), freeze_to_offline_s=round(frozen_s, 2)
    )
    assert frozen_s < 3.5


# Records every status the page paints on the given tiles from now on.
WATCH_STATUSES = """ids => {
  window.__statuses = [];
  const observer = new MutationObserver(records => {
    for (const r of records) window.__statuses.push(r.target.getAttribute("data-status"));
  });
  for (const id of ids) {
    const el = document.querySelector(`#board .tile[data-device="${id}"]`);
    observer.observe(el, { attributes: true, attributeFilter: ["data-status"] });
  }
  window.__stopWatching = () => observer.disconnect();
}"""
LOOK = """ids => ids.map(id =>
  document.querySelector(`#board .tile[data-device="${id}"]`).getAttribute("data-status"))"""
HUNG_WATCH_S = 15.0
LOOK_EVERY_MS = 250  # four looks a second: a crew member glancing at the phone


def test_a_hung_receiver_never_shows_ok_on_a_phone(
    new_page: Any, rig: SimRig, daemon: Daemon
) -> None:
    page = new_page("phone")
    open_board(page, daemon)
    podium = rig.rx["podium"]
    ids = [rig.device_id("podium", ch) for ch in (1, 2)]
    tiles = [tile(page, rig, "podium", ch) for ch in (1, 2)]
    for t in tiles:  # Host good, Podium prev_good (its pack was switched off)
        expect(t).not_to_have_attribute("data-status", "rx_offline")
    # Frozen firmware: TCP still accepts every reconnect, nothing answers.
    rig.call(podium.hang, True)
    for t in tiles:
        expect(t).to_have_attribute("data-status", "rx_offline", timeout=5000)
    page.evaluate(WATCH_STATUSES, ids)
    looks: list[list[str]] = []
    end = time.monotonic() + HUNG_WATCH_S
    while time.monotonic() < end:  # an observation window, not a wait for a condition
        looks.append(page.evaluate(LOOK, ids))
        page.wait_for_timeout(LOOK_EVERY_MS)
    painted = page.evaluate("window.__stopWatching(), window.__statuses")
    rig.call(podium.hang, False)
    ok_looks = sum(1 for look in looks if any(st != "rx_offline" for st in look))
    print(f"\nhung receiver: {len(looks)} looks over {HUNG_WATCH_S:g} s, {ok_looks} not offline")
    assert ok_looks == 0, looks
    assert set(painted) <= {"rx_offline"}, painted  # not even for one frame
    health = daemon.get("/api/receivers")
    podium_row = next(r for r in health if r["address"] == podium.host and r["port"] == podium.port)
    assert podium_row["status"] != "online"
    for t in tiles:
        expect(t).not_to_have_attribute("data-status", "rx_offline", timeout=15_000)
    # A new connection knows only what it was told: the switched-off pack's last battery
    # belonged to the old one, so the Podium shows TX OFF, not its old battery colour.
    expect(tiles[0]).to_have_attribute("data-status", "good")
    expect(tiles[1]).to_have_attribute("data-status", "tx_off")
    save_metrics(hung_receiver_looks=len(looks), hung_receiver_ok_looks=ok_looks)


# ------------------------------------------------------------------------------ editors


def test_names_and_groups_edited_in_the_page_persist(
    new_page: Any, rig: SimRig, daemon: Daemon
) -> None:
    page = new_page("desktop")
    login_admin(page, daemon)
    page.goto(f"{daemon.url}/#view=edit&tab=names")
    lead_id = rig.device_id("stage", 1)
    row = page.locator(f'.name-row[data-device="{lead_id}"]')
    row.locator("input.perf").fill("Alice")
    row.locator("input.perf").press("Enter")
    expect(row.locator(".saved")).to_have_text("Saved ✓")

    # A pasted list: BGV 1 and BGV 2 (rows 2 and 3), the empty line leaves Keys alone.
    page.locator("summary").click()
    page.locator("#bulk-names").fill("Bea\nCai\n\n")
    page.locator("#bulk-start").select_option("1")
    page.locator("#bulk-apply").click()
    expect(page.locator("#bulk-apply + .note")).to_have_text("Saved 2 names.")
    shot(page, "desktop-edit-names")

    # Channel name written to the receiver itself.
    keys_row = page.locator(f'.name-row[data-device="{rig.device_id("stage", 4)}"]')
    keys_row.locator("input.chan").fill("Keyz")
    keys_row.locator("button", has_text="Rename").click()
    expect(keys_row.locator(".saved")).to_have_text("Renamed on the receiver ✓")

    # A group: Lead, blank, BGV 1, BGV 2, then BGV 2 dragged up above the blank.
    page.locator(".tabs a[data-tab='groups']").click()
    page.locator("#group-new").click()
    page.locator("#group-title").fill("Vocals")
    for ch in (1,):
        page.locator(f'#group-palette button[data-device="{rig.device_id("stage", ch)}"]').click()
    page.locator("#group-add-blank").click()
    for ch in (2, 3):
        page.locator(f'#group-palette button[data-device="{rig.device_id("stage", ch)}"]').click()
    slots = page.locator("#group-slots .slot")
    expect(slots).to_have_count(4)
    handle = slots.nth(3).locator(".handle")
    target = slots.nth(1)
    hb = handle.bounding_box()
    tb = target.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    page.mouse.down()
    for step in range(1, 11):
        y = hb["y"] + hb["height"] / 2 + (tb["y"] + 4 - hb["y"] - hb["height"] / 2) * step / 10
        page.mouse.move(hb["x"] + hb["width"] / 2, y)
    page.mouse.up()
    expected_order = [
        rig.device_id("stage", 1),
        rig.device_id("stage", 3),
        "",
        rig.device_id("stage", 2),
    ]
    expect(slots).to_have_count(4)
    assert [slots.nth(i).get_attribute("data-device") for i in range(4)] == expected_order
    expect(page.locator(".savebar .status")).to_have_text("Unsaved changes")
    page.locator("#group-save").click()
    expect(page.locator(".savebar .status")).to_have_text("Saved")
    expect(page.locator("#groups .chip", has_text="Vocals")).to_be_visible()
    shot(page, "desktop-edit-groups")

    group_id = daemon.get("/api/groups")[0]["id"]
    assert daemon.get("/api/groups")[0]["slots"] == [s or None for s in expected_order]

    # Reload straight into the group (a kiosk deep link): order, blank, names all kept.
    page.goto(f"{daemon.url}/#group={group_id}")
    page.reload()
    board = page.locator("#board > *")
    expect(board).to_have_count(4)
    expect(page.locator("#board .tile .t-name")).to_have_text(["Alice", "Cai", "Bea"])
    expect(board.nth(2)).to_have_class("spacer")
    expect(page.locator("#board .tile").first.locator(".t-sub")).to_have_text("Lead Vox")
    expect(page.locator("#groups .chip.active")).to_have_text(re.compile("Vocals"))
    # Subscribed to the group only: the page holds just these three microphones.
    page.wait_for_function("window.micboard.model.devices.size === 3")

    # Keys: 0 = all channels, 1 = the first group.
    page.keyboard.press("0")
    expect(page.locator("#board .tile")).to_have_count(9)
    expect(tile(page, rig, "stage", 4).locator(".t-name")).to_have_text("Keyz")
    page.keyboard.press("1")
    expect(page.locator("#board .tile")).to_have_count(3)
    assert page.evaluate("location.hash") == f"#group={group_id}"


def test_editor_actions_answer_in_place(
    new_page: Any, rig: SimRig, daemon: Daemon, console: Console
) -> None:
    """Identify, the add-receiver form refusing bad input, a group moved up and deleted."""
    page = new_page("desktop")
    login_admin(page, daemon)
    groups_before = daemon.get("/api/groups")
    receivers_before = daemon.get("/api/receivers")
    page.goto(f"{daemon.url}/#view=edit&tab=names")
    row = page.locator(f'.name-row[data-device="{rig.device_id("stage", 2)}"]')
    row.locator("button", has_text="Identify").click()
    expect(row.locator(".saved")).to_have_text("Flashing on the receiver")

    page.locator(".tabs a[data-tab='receivers']").click()
    add_msg = page.locator("#rx-add-msg")
    page.locator("#rx-address").press("Enter")
    expect(add_msg).to_have_text("Type the receiver's IP address (or name), optionally with :port.")
    console.allowed.append("status of 4")  # the browser's own log of the refused address
    page.locator("#rx-address").fill("10.0.0.1:99999")
    page.locator("#rx-address").press("Enter")
    expect(add_msg).not_to_have_text(re.compile(r"^(Type the|Added)|^$"))
    assert daemon.get("/api/receivers") == receivers_before

    # Two new groups; the second (selected) moved above the first, then both deleted.
    page.locator(".tabs a[data-tab='groups']").click()
    for _ in range(2):
        count = page.locator(".group-list button").count()
        page.locator("#group-new").click()
        expect(page.locator(".group-list button")).to_have_count(count + 1)
    first, second = (g["title"] for g in daemon.get("/api/groups")[-2:])
    page.locator("#group-edit button", has_text="Move group up").click()
    names = page.locator(".group-list button")
    expect(names.nth(names.count() - 2)).to_contain_text(second)
    expect(names.last).to_contain_text(first)
    assert [g["title"] for g in daemon.get("/api/groups")][-2:] == [second, first]
    for title in (second, first):
        page.locator(".group-list button", has_text=title).click()
        expect(page.locator("#group-title")).to_have_value(title)
        delete = page.locator("#group-edit .btn.danger")
        delete.click()
        expect(delete).to_have_text("Tap again to delete")
        delete.click()
        expect(page.locator(".group-list button", has_text=title)).to_have_count(0)
    assert [g["id"] for g in daemon.get("/api/groups")] == [g["id"] for g in groups_before]


# ------------------------------------------------------------------------------ screenshots


VIEWS: list[tuple[str, str, str | None]] = [
    ("all", "", None),
    ("list", "#layout=list", None),
    ("group", "#group={group}", None),
    ("tv-tiles", "#tv=1", None),
    ("tv-names", "#tv=1&layout=names", None),
    ("tv-rows", "#tv=1&layout=list", None),
    ("tv-group", "#group={group}&tv=1", None),
    ("menu", "", "menu"),
    ("help", "", "help"),
    ("share", "#group={group}", "share"),
    ("health", "#view=health", None),
    ("edit-names", "#view=edit&tab=names", None),
    ("edit-groups", "#view=edit&tab=groups", None),
    ("edit-placeholders", "#view=edit&tab=placeholders", None),
    ("edit-receivers", "#view=edit&tab=receivers", None),
    ("edit-settings", "#view=edit&tab=settings", None),
    ("light", "#theme=light", None),
]


NARROW_VIEWS = ("all", "list", "group", "menu", "edit-names", "edit-groups")


@pytest.mark.parametrize("kind", ["phone", "desktop", "phone360"])
def test_every_view_renders_and_is_captured(
    kind: str, new_page: Any, rig: SimRig, daemon: Daemon
) -> None:
    groups = daemon.get("/api/groups")
    group = groups[0]["id"] if groups else 0
    if kind == "phone360":  # the narrowest phones still in use at venues
        page = new_page(
            "phone", viewport={"width": 360, "height": 780}, screen={"width": 360, "height": 780}
        )
    else:
        page = new_page(kind)
    login_admin(page, daemon)
    for name, hash_, action in VIEWS:
        if kind == "phone360" and name not in NARROW_VIEWS:
            continue
        page.goto(f"{daemon.url}/{hash_.format(group=group)}")
        page.reload()  # a fresh document per view, as a kiosk boots
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        if action == "menu":
            page.locator("#menu-btn").click()
            expect(page.locator("#menu")).to_be_visible()
        elif action == "help":
            page.keyboard.press("?")
            expect(page.locator("#legend li")).to_have_count(13)  # 10 colours, 3 flags
        elif action == "share":
            page.locator("#menu-btn").click()
            page.locator("[data-action=share]").click()
            expect(page.locator("#qr svg")).to_be_visible()
        if name.startswith("tv"):
            expect(page.locator("body")).to_have_class(re.compile(r"\btv\b"))
            expect(page.locator("#bar")).to_be_hidden()
            # Fitted to the screen: the last tile is fully visible without scrolling.
            last = page.locator("#board .tile").last
            box = last.bounding_box()
            assert box["y"] + box["height"] <= page.viewport_size["height"] + 1, name
        if name == "health":
            expect(page.locator("#health-sources .row")).to_have_count(4)
            expect(page.locator("#health-sources .pill").first).to_have_text("connected")
            expect(page.locator("#health-sys .stat").first).to_be_visible()
        if name.startswith("edit-"):
            expect(page.locator(".editor-body")).to_have_attribute("data-tab", name[5:])
            if name == "edit-receivers":
                expect(page.locator("#rx-list .row")).to_have_count(4)
        if name == "light":
            expect(page.locator("html")).to_have_attribute("data-theme", "light")
        # Nothing wider than the screen: no sideways scrolling on a phone.
        assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), name
        shot(page, f"{kind}-{name}", full_page=name.startswith(("edit", "health")))
        if name == "share":
            check_qr(page, kind)
    # Touch targets on the phone: header controls and group chips at least 40 px.
    if kind.startswith("phone"):
        page.goto(f"{daemon.url}/")
        for sel in ("#menu-btn", "#conn", "#groups .chip"):
            box = page.locator(sel).first.bounding_box()
            assert box["height"] >= 40, sel


def check_qr(page: Any, kind: str) -> None:
    url = page.locator("#share-url").inner_text()
    assert "#group=" in url
    tool = zbarimg()
    if tool is None:
        return  # decoding needs zbar-tools; the rendering is still captured
    png = SCREENSHOTS / f"{kind}-qr-only.png"
    page.locator("#qr").screenshot(path=str(png))
    out = subprocess.run(
        [tool, "-q", "--raw", str(png)], check=False, capture_output=True, text=True, timeout=20
    )
    assert out.stdout.strip() == url


# ------------------------------------------------------------------------------ seed client


def test_unchanged_seed_client_updates_its_dom(new_page: Any, rig: SimRig, daemon: Daemon) -> None:
    """shared/clients/seed-client.js, byte for byte, with only its URL pointed at us."""
    source = shared_file("clients/seed-client.js").read_text()
    placeholder = "ws://your-server/ws/devices/"
    assert placeholder in source
    script = source.replace(placeholder, f"ws://127.0.0.1:{daemon.port}/ws/devices/")
    ids = [rig.device_id("stage", 2), rig.device_id("podium", 1)]
    rows = "".join(
        f'<div id="device-{i}"><div class="battery-bar"></div><span class="signal-icon"></span>'
        f'<span class="last-update"></span></div>'
        for i in ids
    )
    page = new_page("desktop")
    # A document from the daemon's own origin (the WebSocket Origin check is same-origin,
    # and Chromium lets only loopback documents reach loopback), then the seed markup.
    page.goto(f"{daemon.url}/healthz")
    page.set_content(
        f"<!doctype html><html><head><title>seed</title></head><body>{rows}</body></html>"
    )
    with page.expect_console_message(lambda m: "Connected to Micboard WebSocket" in m.text):
        page.add_script_tag(content=script)

    stage = rig.rx["stage"]
    rig.call(stage.battery_drain, 2, percent=55)
    page.wait_for_function(
        "id => document.getElementById('device-' + id).querySelector('.battery-bar').style.width === '55%'",
        arg=ids[0],
    )
    rig.call(stage.set_meters, 2, rf_dbm=[-88])
    page.wait_for_function(
        "id => document.getElementById('device-' + id).querySelector('.signal-icon').className === 'signal-icon poor'",
        arg=ids[0],
    )
    stamp = page.evaluate(
        "id => document.getElementById('device-' + id).querySelector('.last-update').textContent",
        ids[0],
    )
    assert stamp
    rig.call(stage.battery_drain, 2, percent=35)
    rig.call(stage.set_meters, 2, rf_dbm=[-63])


# ------------------------------------------------------------------------------ restart


def test_page_recovers_by_itself_when_the_daemon_restarts(
    new_page: Any, rig: SimRig, daemon: Daemon, console: Console
) -> None:
    # Cutting the box off makes the browser log its failed connections: expected here.
    console.allowed += [
        "WebSocket connection to",
        "Failed to load resource",
        "ERR_CONNECTION_REFUSED",
    ]
    page = new_page("phone")
    open_board(page, daemon)
    # The service worker holds the shell before the box goes away.
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    lead = tile(page, rig, "stage", 1)
    expect(lead.locator(".t-name")).to_have_text("Alice")

    daemon.stop()
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    expect(page.locator("body")).to_have_class(re.compile(r"\bstale\b"))
    expect(page.locator("#banner-text")).to_contain_text("old")
    shot(page, "phone-reconnecting")

    # Opened while the box is unreachable: the shell comes from the service worker and the
    # last picture from the page's own snapshot, every tile marked as old.
    page.reload()
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator("#banner-text")).to_contain_text("reconnecting")
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    expect(page.locator("#board .tile")).to_have_count(9)
    expect(lead.locator(".t-name")).to_have_text("Alice")
    expect(page.locator("body")).to_have_class(re.compile(r"\bstale\b"))
    assert (
        page.evaluate("getComputedStyle(document.querySelector('#board .tile'), '::after').content")
        == '"NO DATA"'
    )
    shot(page, "phone-offline-shell")

    t0 = time.monotonic()
    daemon.start()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=35_000)
    expect(page.locator("#banner")).to_be_hidden()
    recovered_s = time.monotonic() - t0
    expect(lead).not_to_have_attribute("data-status", "rx_offline", timeout=15_000)
    expect(lead.locator(".t-name")).to_have_text("Alice")  # kept in the database
    # Receiver names as the receivers report them once they are back.
    expect(tile(page, rig, "stage", 4).locator(".t-sub")).to_have_text("STAGE · ch 4")
    expect(page.locator("body")).not_to_have_class(re.compile(r"\bstale\b"))

    rig.call(rig.rx["stage"].battery_drain, 1, percent=77)
    expect(lead.locator(".t-batt-text .pct")).to_have_text("77%")
    print(f"\npage live again {recovered_s:.1f} s after the daemon was started")
    save_metrics(restart_to_live_s=round(recovered_s, 2))
    shot(page, "phone-recovered")


def test_meter_rate_is_saved_from_the_settings_tab(new_page: Any, daemon: Daemon) -> None:
    page = new_page("desktop")
    login_admin(page, daemon)
    page.goto(f"{daemon.url}/#view=edit&tab=settings")
    field = page.locator('input[name="meter_rate_ms"]')
    expect(field).to_have_value("100")
    # Only what the daemon lets the dashboard change is offered.
    expect(page.locator('input[name="ssapi_key"]')).to_have_count(0)
    field.fill("250")
    page.locator("#box-settings form button[type=submit]", has_text="Save").click()
    expect(page.locator("#box-settings form .savebar .note")).to_have_text("Saved ✓")
    assert daemon.get("/api/settings")["meter_rate_ms"] == 250
    field.fill("100")
    page.locator("#box-settings form button[type=submit]", has_text="Save").click()
    expect(page.locator("#box-settings form .savebar .note")).to_have_text("Saved ✓")


def test_the_sscv2_password_is_set_and_removed_but_never_shown(
    new_page: Any, daemon: Daemon
) -> None:
    page = new_page("desktop")
    login_admin(page, daemon)
    page.goto(f"{daemon.url}/#view=edit&tab=settings")
    state = page.locator("#sscv2-state")
    expect(state).to_contain_text("Not set")
    page.locator("#sscv2-save").click()
    expect(page.locator("#sscv2-msg")).to_have_text("Type the password first.")
    page.locator("#sscv2-password").fill("s3cret-pass")
    page.locator("#sscv2-save").click()
    expect(page.locator("#sscv2-msg")).to_have_text("Saved ✓")
    expect(state).to_contain_text("Set.")
    expect(page.locator("#sscv2-password")).to_have_value("")
    settings = daemon.get("/api/settings")
    assert settings["sscv2_password_set"] is True
    assert "s3cret-pass" not in json.dumps(settings)
    # Removing takes a second tap (confirmButton), then the box forgets it.
    remove = page.locator("#sscv2 button", has_text="Remove")
    remove.click()
    page.locator("#sscv2 button", has_text="Tap again to remove").click()
    expect(page.locator("#sscv2-msg")).to_have_text("Removed ✓")
    expect(state).to_contain_text("Not set")
    assert daemon.get("/api/settings")["sscv2_password_set"] is False
