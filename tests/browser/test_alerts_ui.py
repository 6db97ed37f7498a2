"""Alerts and history in the dashboard, in a real browser against the real daemon and
simulated receivers: the alert bar, tile badges, acknowledging, the alert history, the
sound/vibration option, sparklines and the per-microphone timeline.

Tests run in file order on one rig and one daemon (module fixtures): the first drains a
battery to critical, the later ones look at that alert in the history and on the timeline.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from .conftest import Daemon, SimRig, login_admin, open_board, shot, tile

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=15_000)

UNDER_CSP = {"bypass_csp": False}
PHONE_360 = {"viewport": {"width": 360, "height": 780}, "screen": {"width": 360, "height": 780}}
# Counts vibrations (headless Chromium has no vibrator) without changing anything else.
VIBRATE_SPY = """
window.__vibrations = 0;
navigator.vibrate = function () { window.__vibrations++; return true; };
"""


def no_sideways_scroll(page: Any) -> bool:
    box = page.locator("body").bounding_box()
    width = page.viewport_size["width"]
    return bool(box["width"] <= width + 1)


def test_critical_battery_raises_bar_badge_sound_and_ack_keeps_history(
    new_page: Any, rig: SimRig, daemon: Daemon
) -> None:
    page = new_page("desktop")
    page.add_init_script(VIBRATE_SPY)
    login_admin(page, daemon)

    # Sound and vibration: off by default, switched on in the settings tab, remembered.
    page.goto(f"{daemon.url}/#view=edit&tab=settings")
    toggle = page.locator("#s-alert-sound")
    expect(toggle).not_to_be_checked()
    toggle.check()
    expect(toggle).to_be_checked()
    page.wait_for_function("(localStorage.getItem('micboard.prefs') || '').includes('alertSound')")
    prefs = json.loads(page.evaluate("localStorage.getItem('micboard.prefs')"))
    assert prefs["alertSound"] is True

    page.goto(f"{daemon.url}/#")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    host = tile(page, rig, "podium", 1)
    expect(host.locator(".t-alerts")).to_be_hidden()
    # Alerts already open at load (the show states) are in the bar, most severe first.
    bar = page.locator("#alertbar")
    expect(bar).to_be_visible()
    expect(bar.locator(".ab-row").first).to_have_attribute("data-severity", "critical")
    page.wait_for_function("window.micboard.alerts && window.micboard.alerts.state === 'open'")
    sounds_before = page.evaluate("window.micboard.alerts.sounds")

    device = rig.device_id("podium", 1)
    rig.call(rig.rx["podium"].battery_drain, 1, percent=8)
    row = bar.locator(f'.ab-row[data-device="{device}"]')
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-severity", "critical")
    expect(row).to_contain_text("CRITICAL")
    expect(row).to_contain_text("battery critical")
    expect(host.locator(".t-alerts")).to_be_visible()
    expect(host.locator(".t-alerts .n")).to_have_text("1")
    expect(host).to_have_attribute("aria-label", re.compile(r"1 open alert"))
    # The newest critical alert leads the bar.
    expect(bar.locator(".ab-row").first).to_have_attribute("data-device", device)
    page.wait_for_function(f"window.micboard.alerts.sounds > {sounds_before}")
    page.wait_for_function("window.__vibrations > 1")  # the sample on the toggle, then the alert
    alert_id = row.get_attribute("data-alert-id")
    assert alert_id
    shot(page, "desktop-alert-bar")

    # The crew taps it: acknowledged, gone from the bar, still open (badge) and in the history.
    row.click()
    expect(bar.locator(f'.ab-row[data-alert-id="{alert_id}"]')).to_have_count(0)
    expect(host.locator(".t-alerts .n")).to_have_text("1")
    stored = [a for a in daemon.get("/api/alerts?active=true") if a["id"] == alert_id]
    assert stored and stored[0]["acked"] is True

    page.goto(f"{daemon.url}/#view=alerts")
    entry = page.locator(f'#alert-list .alert-row[data-alert-id="{alert_id}"]')
    expect(entry).to_be_visible()
    expect(entry).to_have_attribute("data-acked", "1")
    expect(entry.locator(".pill.state")).to_have_text("acknowledged")
    expect(entry.locator("button[data-action=ack]")).to_have_count(0)
    # Open filter: still listed (the battery is still flat); the encryption alert too.
    page.locator("#alerts-view .tabs .chip[data-tab=active]").click()
    expect(page).to_have_url(re.compile(r"tab=active"))
    expect(entry).to_be_visible()
    expect(page.locator("#alert-list .alert-row[data-active='0']")).to_have_count(0)
    shot(page, "desktop-alert-history", full_page=True)


def test_sparklines_draw_history_and_live_samples(
    new_page: Any, rig: SimRig, daemon: Daemon
) -> None:
    page = new_page("desktop")
    open_board(page, daemon)
    lead = rig.device_id("stage", 1)
    # Non-blank pixels on the tile's canvas (history first, then live samples).
    page.wait_for_function(
        """id => {
            const c = document.querySelector(`#board .tile[data-device="${id}"] .t-spark`);
            if (!c || !c.width || !c.height) return false;
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let lit = 0;
            for (let i = 3; i < px.length; i += 4) if (px[i] > 0) lit++;
            return lit > 40;
        }""",
        arg=lead,
    )
    page.wait_for_function("window.micboard.spark.drawn >= 8")
    # A full minute of series drawn on fresh canvases, as the 1 Hz tick draws each tile: every
    # one shows it (how fast is make bench's business, not a test's).
    lit = page.evaluate(
        """async () => {
            const { draw } = await import('/js/spark.js');
            const s = window.micboard.spark;
            const series = [...s.series.values()][0];
            const now = Math.floor(Date.now() / 10000) * 10;
            for (let k = 0; k < 60; k++) {
                const t = now - k * 10, i = Math.floor(t / 10) % 60;
                series.t[i] = t; series.rfSum[i] = -60 - k % 7; series.rfN[i] = 1;
                series.afSum[i] = -20 - k % 5; series.afN[i] = 1;
            }
            const colors = { rf: '#5cc8ff', af: '#2fbf55' };
            let drawn = 0;
            for (let n = 0; n < 10; n++) {
                const c = document.createElement('canvas');
                c.width = 400; c.height = 44;
                const g = c.getContext('2d');
                draw(g, 400, 44, series, now, colors);
                const px = g.getImageData(0, 0, c.width, c.height).data;
                let on = 0;
                for (let i = 3; i < px.length; i += 4) if (px[i] > 0) on++;
                if (on > 400) drawn++;
            }
            return drawn;
        }"""
    )
    assert lit == 10, lit
    shot(page, "desktop-sparklines")


def test_timeline_shows_points_alert_markers_and_csv(
    new_page: Any, rig: SimRig, daemon: Daemon
) -> None:
    page = new_page("desktop")
    open_board(page, daemon)
    device = rig.device_id("podium", 1)
    tile(page, rig, "podium", 1).click()
    expect(page).to_have_url(re.compile(r"view=timeline"))
    expect(page.locator("#timeline-view")).to_be_visible()
    expect(page.locator("#tl-title")).to_contain_text("Host")
    canvas = page.locator("#tl-canvas")
    expect(canvas).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    marker = page.locator("#tl-markers .tl-marker[data-severity=critical]")
    expect(marker.first).to_be_visible()
    expect(page.locator("#tl-alerts .alert-row").first).to_contain_text("battery critical")
    lit = page.evaluate(
        """() => {
            const c = document.getElementById('tl-canvas');
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
            return n;
        }"""
    )
    assert lit > 1000
    # A readout under the pointer.
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] - 20, box["y"] + box["height"] / 2)
    expect(page.locator("#tl-readout")).to_contain_text("RF")
    shot(page, "desktop-timeline")

    # CSV: the same rows for a spreadsheet.
    href = page.locator("#tl-csv").get_attribute("href")
    assert href and href.startswith("/api/history.csv?") and "device_id=" in href
    r = httpx.get(daemon.url + href, timeout=10)
    assert r.status_code == 200 and r.text.startswith("time,device_id,rf_min_dbm")

    # Other ranges: 6 h, then a custom range.
    page.locator("#tl-ranges .chip[data-range='6h']").click()
    expect(page).to_have_url(re.compile(r"range=6h"))
    expect(canvas).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    page.locator("#tl-ranges .chip[data-range='custom']").click()
    expect(page.locator("#tl-custom")).to_be_visible()
    expect(page.locator("#tl-from")).not_to_have_value("")
    page.locator("#tl-custom button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"range=custom&from=\d+&to=\d+"))
    expect(marker.first).to_be_visible()
    assert device in page.evaluate("decodeURIComponent(location.hash)")


def test_phone_under_real_csp(new_page: Any, rig: SimRig, daemon: Daemon) -> None:
    """The same screens on a 360 px phone under the page's real Content-Security-Policy
    (every CSP violation is a console error, which fails the test)."""
    page = new_page("phone", **UNDER_CSP, **PHONE_360)
    open_board(page, daemon)
    bar = page.locator("#alertbar")
    expect(bar).to_be_visible()
    # A viewer: a tap on an alert opens the history instead of acknowledging it.
    first = bar.locator(".ab-row").first
    expect(first).to_have_attribute("href", "#view=alerts")
    expect(tile(page, rig, "stage", 3).locator(".t-alerts")).to_be_visible()
    assert no_sideways_scroll(page)
    shot(page, "phone-alert-bar")

    first.click()
    expect(page.locator("#alert-list .alert-row").first).to_be_visible()
    assert no_sideways_scroll(page)
    shot(page, "phone-alert-history", full_page=True)

    page.goto(f"{daemon.url}/#")
    tile(page, rig, "podium", 1).click()
    expect(page.locator("#tl-canvas")).to_have_attribute("data-points", re.compile(r"^[1-9]"))
    expect(page.locator("#tl-markers .tl-marker").first).to_be_visible()
    assert no_sideways_scroll(page)
    shot(page, "phone-timeline", full_page=True)
