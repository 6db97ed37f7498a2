"""Issue #8, "done when": a simulated evening in a real browser. A battery drains (low, then
critical), the same microphone drops out, another picks up interference, a receiver is
unplugged: each shows live in the alert bar (severity, channel) and on its tile; the crew
acknowledges one from the bar; afterwards the microphone's timeline marks when each alert
and each status change happened.

Its own rig and daemon (module fixtures, the patterns of conftest.py): every channel starts
healthy, so every alert on the page comes from the evening.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from micboardd.sim import SimReceiver

from ..helpers import wait_for
from .conftest import Daemon, SimRig, login_admin, shot, start_daemon

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

EVENING: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("stage", "ULXD4Q", ("Vox", "Gtr", "Bass", "Keys")),
    ("band", "ULXD4D", ("Sax", "Trumpet")),
)
CHANNELS = sum(len(names) for _, _, names in EVENING)
DROPOUT_S = 2.0  # shorter than the 3 s after which a silent transmitter counts as switched off
# Timeline geometry (web/js/timeline.js): the plot starts GUTTER px from the chart's left and
# ends 8 px from its right; status changes are 6 px ticks just above the plot (TOP).
GUTTER, RIGHT, TOP, BOTTOM = 44, 8, 26, 20
# Every status change of every tile, as the page saw it (the dropout lasts two seconds: a
# record, not a poll, proves the tile showed it).
STATUS_LOG = """() => {
    window.__statusLog = [];
    new MutationObserver((records) => {
        for (const r of records) {
            const t = r.target;
            if (t.classList.contains('tile')) {
                window.__statusLog.push([t.dataset.device, t.dataset.status, Date.now()]);
            }
        }
    }).observe(document.getElementById('board'),
               { subtree: true, attributes: true, attributeFilter: ['data-status'] });
}"""
SAW_STATUS = "([id, s]) => window.__statusLog.some(([d, v]) => d === id && v === s)"
# Alpha of the canvas pixels of one row between two x (CSS px; the desktop context has dpr 1).
LIT_BETWEEN = """([y, x0, x1]) => {
    const c = document.getElementById('tl-canvas');
    const px = c.getContext('2d').getImageData(x0, y, x1 - x0 + 1, 1).data;
    let lit = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) lit++;
    return lit;
}"""


# Time labels under the plot: clusters of lit pixels along the middle row of the axis band.
AXIS_LABELS = """(bottom) => {
    const c = document.getElementById('tl-canvas');
    const y = c.height - bottom / 2;
    const px = c.getContext('2d').getImageData(0, y, c.width, 1).data;
    let labels = 0, last = -100;
    for (let x = 0; x < c.width; x++) {
        if (px[4 * x + 3] > 0) {
            if (x - last > 20) labels++;
            last = x;
        }
    }
    return labels;
}"""


class EveningRig(SimRig):
    """The evening's receivers (conftest's SimRig with another line-up)."""

    def start(self) -> None:
        async def build() -> None:
            for key, model, names in EVENING:
                rx = SimReceiver(model, "127.0.0.1", 0, names=names, device_id=key.upper())
                await rx.start()
                self.rx[key] = rx

        self.run(build())


@pytest.fixture(scope="module")
def rig() -> Iterator[SimRig]:
    sim = EveningRig()
    sim.start()
    yield sim
    sim.close()


@pytest.fixture(scope="module")
def daemon(rig: SimRig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(rig, tmp_path_factory.mktemp("evening"))  # acknowledging needs admin

    def all_good() -> bool:
        devs = d.get("/api/devices")
        return len(devs) == CHANNELS and all(x["status"] == "good" for x in devs)

    wait_for(all_good, 20, "every channel on air and good")
    yield d
    for proc in d.started:
        proc.stop()


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def local_input(t: int) -> str:
    """A datetime-local value (seconds) in the page's time zone (UTC)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def near(t: float, when: float, late_s: float) -> bool:
    """`t` (the daemon's time of a change) is at or shortly after `when` (the test's)."""
    return when - 0.5 <= t <= when + late_s


def test_an_evening_live_then_on_the_timeline(new_page: Any, rig: SimRig, daemon: Daemon) -> None:
    stage, band = rig.rx["stage"], rig.rx["band"]
    vox, keys = rig.device_id("stage", 1), rig.device_id("stage", 4)
    sax = rig.device_id("band", 1)
    page = new_page("desktop", timezone_id="UTC")
    login_admin(page, daemon)  # the crew's screen: a tap on an alert acknowledges it
    page.goto(f"{daemon.url}/#")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    page.wait_for_function("window.micboard.alerts && window.micboard.alerts.state === 'open'")
    page.wait_for_function("window.micboard.alerts.isAdmin")

    def tile(device: str) -> Any:
        return page.locator(f'#board .tile[data-device="{device}"]')

    bar = page.locator("#alertbar")
    expect(tile(vox)).to_have_attribute("data-status", "good")
    expect(bar).to_be_hidden()  # a healthy stage: nothing to say
    page.evaluate(STATUS_LOG)
    t_begin = time.time()

    # 1. Vox's battery runs low: a warning on her channel, the tile says replace.
    t_low = time.time()
    rig.call(stage.battery_drain, 1, bars=2)
    battery = bar.locator(f'.ab-row[data-device="{vox}"]', has_text="battery")
    expect(battery).to_have_attribute("data-severity", "warning", timeout=15_000)
    expect(battery).to_contain_text("WARNING")
    expect(battery).to_contain_text("Vox: battery low")
    expect(tile(vox)).to_have_attribute("data-status", "replace")
    expect(tile(vox).locator(".t-alerts .n")).to_have_text("1")
    battery_id = battery.get_attribute("data-alert-id")
    assert battery_id

    # 2. ... then critical: the same alert, now critical.
    t_crit = time.time()
    rig.call(stage.battery_drain, 1, bars=1)
    battery = bar.locator(f'.ab-row[data-alert-id="{battery_id}"]')
    expect(battery).to_have_attribute("data-severity", "critical", timeout=15_000)
    expect(battery).to_contain_text("CRITICAL")
    expect(battery).to_contain_text("battery critical")
    expect(tile(vox)).to_have_attribute("data-status", "critical")
    expect(bar.locator(".ab-row")).to_have_count(1)

    # 3. Vox drops out for two seconds: the tile shows the transmitter gone (striped, the
    # last battery colour), then back; a critical dropout alert follows.
    t_drop = time.time()
    rig.call(stage.rf_dropout, 1, DROPOUT_S)
    page.wait_for_function(SAW_STATUS, arg=[vox, "prev_critical"])
    dropout = bar.locator(f'.ab-row[data-device="{vox}"]', has_text="dropout")
    expect(dropout).to_have_attribute("data-severity", "critical", timeout=15_000)
    expect(dropout).to_contain_text("Vox: RF dropout")
    expect(tile(vox)).to_have_attribute("data-status", "critical")
    expect(tile(vox).locator(".t-alerts .n")).to_have_text("2")
    dropout_id = dropout.get_attribute("data-alert-id")
    assert dropout_id and dropout_id != battery_id

    # 4. Interference on Keys: a warning, the tile says so.
    rig.call(stage.interference, 4)
    noise = bar.locator(f'.ab-row[data-device="{keys}"]')
    expect(noise).to_have_attribute("data-severity", "warning", timeout=15_000)
    expect(noise).to_contain_text("interference")
    expect(tile(keys)).to_have_attribute("data-status", "interference")
    # Most severe first, the newest of equals first.
    expect(bar.locator(".ab-row").last).to_have_attribute("data-device", keys)

    # 5. The crew acknowledges the battery from the bar: out of the bar, still open.
    battery.click()
    expect(page.locator("#toast")).to_contain_text("acknowledged")
    expect(bar.locator(f'.ab-row[data-alert-id="{battery_id}"]')).to_have_count(0)
    expect(tile(vox).locator(".t-alerts .n")).to_have_text("2")
    stored = {a["id"]: a for a in daemon.get("/api/alerts?active=true")}
    assert stored[battery_id]["acked"] is True and stored[battery_id]["active"] is True

    # 6. The band's receiver is unplugged: a critical receiver alert, its tiles offline.
    rig.run(band.power_loss())
    offline = bar.locator(".ab-row:not([data-device])", has_text="offline")
    expect(offline).to_have_attribute("data-severity", "critical", timeout=20_000)
    expect(offline).to_contain_text(band.address)
    expect(tile(sax)).to_have_attribute("data-status", "rx_offline")
    expect(bar.locator(".ab-row").first).to_have_attribute("data-severity", "critical")
    shot(page, "desktop-evening-alert-bar")

    # Afterwards: Vox's timeline (a tap on her tile), the last hour.
    def timeline_query(response: Any) -> bool:  # not a sparkline's (those ask step=10)
        url = str(response.url)
        return "/api/history?" in url and "step=" not in url

    with page.expect_response(timeline_query) as answer:
        tile(vox).click()
    expect(page).to_have_url(re.compile(r"view=timeline"))
    hour = answer.value.json()
    # A fresh daemon's hour comes from the one-second memory at the automatic step.
    assert hour["step"] == 5, hour["step"]
    expect(page.locator("#tl-canvas")).to_have_attribute("data-points", re.compile(r"^[1-9]"))
    markers = page.locator("#tl-markers .tl-marker")
    expect(markers).to_have_count(2)

    # Zoomed in on the evening with the custom range (the page's clock is UTC).
    evening_from, evening_to = math.floor(t_begin) - 5, math.ceil(time.time()) + 1
    page.locator("#tl-ranges .chip[data-range='custom']").click()
    page.locator("#tl-from").fill(local_input(evening_from))
    page.locator("#tl-to").fill(local_input(evening_to))
    with page.expect_response(timeline_query) as answer:
        page.locator("#tl-custom button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"range=custom&from={evening_from}&to={evening_to}"))
    history = answer.value.json()
    start, end = epoch(history["from"]), epoch(history["to"])
    assert (start, end) == (evening_from, evening_to) and history["step"] == 1
    expect(page.locator("#tl-canvas")).to_have_attribute("data-points", re.compile(r"^[1-9]"))
    # Half a minute still has times on its axis (the grid used to start at one minute).
    assert page.evaluate(AXIS_LABELS, BOTTOM) >= 3

    # Alerts: battery then dropout, each where it started, in order, inside the range.
    alerts = history["alerts"]
    assert [a["id"] for a in alerts] == [battery_id, dropout_id], alerts
    started = [epoch(a["started_at"]) for a in alerts]
    assert near(started[0], t_low, 3) and near(started[1], t_drop, 2), (started, t_low, t_drop)
    assert start <= started[0] < started[1] <= end
    expect(markers).to_have_count(2)
    expect(markers.nth(0)).to_have_attribute("data-alert-id", battery_id)
    expect(markers.nth(1)).to_have_attribute("data-alert-id", dropout_id)
    for i in range(2):
        expect(markers.nth(i)).to_have_attribute("data-severity", "critical")
    width = float(page.locator(".tl-chart").evaluate("e => e.clientWidth"))

    def x_of(t: float) -> float:
        return GUTTER + (t - start) / (end - start) * (width - RIGHT - GUTTER)

    lefts = [float(markers.nth(i).evaluate("e => parseFloat(e.style.left)")) for i in range(2)]
    for left, t in zip(lefts, started, strict=True):
        assert abs(left / 100 * width - x_of(t)) < 2, (left, x_of(t) / width * 100)
    assert lefts[1] - lefts[0] > 5  # seconds apart, far enough apart to tell
    rows = page.locator("#tl-alerts .alert-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("battery critical")
    expect(rows.nth(0)).to_contain_text("acknowledged")
    expect(rows.nth(1)).to_contain_text("RF dropout")

    # Status changes: replace, critical, gone (prev_critical), critical again, in order and
    # at the right times; each one a tick above the plot, and no tick between them.
    events = [(epoch(e["t"]), e["value"]) for e in history["events"] if e["kind"] == "status"]
    assert [t for t, _ in events] == sorted(t for t, _ in events)
    assert all(start <= t <= end for t, _ in events)
    values = [v for _, v in events]
    assert values[-4:] == ["replace", "critical", "prev_critical", "critical"], values
    (t_replace, _), (t_critical, _), (t_gone, _), (t_back, _) = events[-4:]
    assert near(t_replace, t_low, 2) and near(t_critical, t_crit, 2), events
    assert near(t_gone, t_drop, 2) and 1.5 < t_back - t_gone < 3.0, events
    for t, value in events:
        x = round(x_of(t))
        assert page.evaluate(LIT_BETWEEN, [TOP - 3, x - 1, x + 1]) > 0, (value, t)
    quiet = (round(x_of(t_replace)) + 3, round(x_of(t_critical)) - 3)
    assert quiet[1] - quiet[0] > 20
    assert page.evaluate(LIT_BETWEEN, [TOP - 3, *quiet]) == 0
    shot(page, "desktop-evening-timeline", full_page=True)

    # The unplugged receiver: on its microphones' timelines too.
    page.goto(f"{daemon.url}/#view=timeline&device={sax}")
    marker = page.locator("#tl-markers .tl-marker[data-severity=critical]")
    expect(marker).to_have_count(1)
    expect(page.locator("#tl-alerts .alert-row").first).to_contain_text("offline")
