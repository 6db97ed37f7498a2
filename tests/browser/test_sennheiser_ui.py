"""Issue #19, "done when": a phone in a real browser showing a mixed Shure + Sennheiser group.

Its own rig and daemon (module fixtures, the patterns of conftest.py): a Shure ULX-D, an
EW-DX EM 2 over SSC v1 and an ew G4 over the Media Control Protocol, each simulator speaking
its real protocol on loopback. The Sennheiser tile shows its battery (% and time left) and
the receiver's own link-quality grade (RSQI) in the places a Shure tile shows them, goes
TX OFF when the transmitter is switched off, and RX OFFLINE when the receiver hangs or loses
power, never OK while the box cannot hear it. The receivers editor adds a Sennheiser box by
address.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from micboardd.sim import SimReceiver
from micboardd.sim.ewdx import SimEwdx
from micboardd.sim.g4 import SimG4

from ..helpers import wait_for
from ..security.admin import ADMIN_PASSWORD
from ..sim.sennclients import senn_host
from .conftest import Daemon, SimRig, login_admin, shot, start_daemon

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

DEADLINE_S = 20.0
# Every status change of every tile, as the page saw it (a record, not a poll, proves a tile
# never showed OK while its receiver was silent); run again, it starts a new record.
STATUS_LOG = """() => {
    window.__statusLog = [];
    if (window.__statusObserver) return;
    window.__statusObserver = new MutationObserver((records) => {
        for (const r of records) {
            const t = r.target;
            if (t.classList.contains('tile')) {
                window.__statusLog.push([t.dataset.device, t.dataset.status]);
            }
        }
    });
    window.__statusObserver.observe(document.getElementById('board'),
               { subtree: true, attributes: true, attributeFilter: ['data-status'] });
}"""
STATUSES_OF = "(id) => window.__statusLog.filter(([d]) => d === id).map(([, s]) => s)"


class MixedRig(SimRig):
    """A Shure receiver and two Sennheiser ones (conftest's SimRig, another line-up)."""

    def __init__(self) -> None:
        super().__init__()
        self.ewdx = SimEwdx("EWDX-EM2", senn_host(), 0, names=("HOST", "PANEL"))
        # The daemon's MCP socket binds (the .1 of this /24, 53212): senn_host() keeps it ours.
        self.g4 = SimG4("EM300-500G4", senn_host(), names=("REPORTER",))

    def start(self) -> None:
        async def build() -> None:
            shure = SimReceiver("ULXD4D", "127.0.0.1", 0, names=("Vox", "Gtr"), device_id="SHURE")
            await shure.start()
            self.rx["shure"] = shure
            await self.ewdx.start()
            await self.g4.start()

        self.run(build())

    @property
    def addresses(self) -> list[str]:
        return [
            self.rx["shure"].address,
            f"ssc1://{self.ewdx.host}:{self.ewdx.port}",  # port 45 needs root: named
            f"{self.g4.host}:{self.g4.port}",  # 53212 says it
        ]

    def ewdx_device(self, channel: int) -> str:
        return f"ssc1@{self.ewdx.host}:{self.ewdx.port}:{channel}"

    @property
    def g4_device(self) -> str:
        return f"{self.g4.host}:{self.g4.port}:1"

    def close(self) -> None:
        async def close_senn() -> None:
            await self.ewdx.close()
            await self.g4.close()

        try:
            self.run(close_senn())
        finally:
            super().close()


@pytest.fixture(scope="module")
def rig() -> Iterator[SimRig]:
    sim = MixedRig()
    sim.start()

    def show_states() -> None:
        sim.ewdx.battery_drain(1, percent=64, minutes=300)
        # A link the receiver grades fair whatever its dBm: the tile must show the RSQI grade.
        sim.ewdx.set_meters(1, rf_dbm=[-55.0], rsqi=45)

    sim.call(show_states)
    yield sim
    sim.close()


@pytest.fixture(scope="module")
def daemon(rig: SimRig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(rig, tmp_path_factory.mktemp("sennheiser"))

    def all_good() -> bool:
        devs = d.get("/api/devices")
        return len(devs) == 5 and all(x["status"] == "good" for x in devs)

    wait_for(all_good, DEADLINE_S, "every channel of both brands on air and good")
    yield d
    for proc in d.started:
        proc.stop()


def admin_http(daemon: Daemon) -> httpx.Client:
    c = httpx.Client(base_url=daemon.url, timeout=10)
    r = c.post("/api/login", json={"password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def test_a_phone_shows_a_mixed_group_and_a_sennheiser_tile_follows_its_receiver(
    new_page: Any, rig: MixedRig, daemon: Daemon
) -> None:
    shure_vox = rig.device_id("shure", 1)
    host, panel = rig.ewdx_device(1), rig.ewdx_device(2)
    admin = admin_http(daemon)
    try:
        answer = admin.post(
            "/api/groups",
            json={"title": "Stage + panel", "slots": [shure_vox, host, panel, rig.g4_device]},
        )
    finally:
        admin.close()
    assert answer.status_code == 201, answer.text
    group_id = answer.json()["id"]

    page = new_page("phone")
    page.goto(f"{daemon.url}/#group={group_id}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")

    def tile(device: str) -> Any:
        return page.locator(f'#board .tile[data-device="{device}"]')

    expect(page.locator("#board .tile[data-device]")).to_have_count(4)
    for device in (shure_vox, host, panel, rig.g4_device):
        expect(tile(device)).to_have_attribute("data-status", "good")
        expect(tile(device).locator(".t-status")).to_have_text("OK")

    # Battery as % with the time left, where a Shure tile has them.
    expect(tile(host).locator(".t-batt-text .pct")).to_have_text("64%")
    expect(tile(host).locator(".t-batt-text .min")).to_have_text("5h00")
    expect(tile(host).locator(".cells i[data-on='1']")).to_have_count(4)  # 64 % of 5 cells
    expect(tile(shure_vox).locator(".t-batt-text .pct")).not_to_have_text("")
    # The receiver's own grade (RSQI 45 %: fair) colours the RF bar and is said in words,
    # though -55 dBm alone would grade it excellent.
    expect(tile(host).locator(".ants")).to_have_attribute("data-quality", "fair")
    expect(tile(host).locator(".t-rf")).to_have_attribute("title", re.compile("quality fair"))
    expect(tile(host)).to_have_attribute("aria-label", re.compile(r"64%, 5h00 left, RF fair"))
    expect(tile(host).locator(".t-rf-text")).to_have_text("-55")
    # One RSSI, the antenna in use lit (A or B, as the receiver's diversity says).
    expect(tile(host).locator(".ants .ant")).to_have_count(2)
    expect(tile(host).locator(".ants .ant[data-on='1']")).to_have_count(1)
    # The ew G4 reports battery in steps and an RF level per antenna.
    expect(tile(rig.g4_device).locator(".t-batt-text .pct")).to_have_text("100%")
    expect(tile(rig.g4_device).locator(".ants .antrow")).to_have_count(2)
    shot(page, "phone-sennheiser-mixed-group")
    page.evaluate(STATUS_LOG)

    # The presenter switches her transmitter off: TX OFF (striped: her battery was fine).
    rig.call(rig.ewdx.tx_off, 2)
    expect(tile(panel)).to_have_attribute("data-status", "prev_good", timeout=15_000)
    expect(tile(panel).locator(".t-status")).to_have_text("TX OFF")
    expect(tile(host)).to_have_attribute("data-status", "good")

    # The receiver hangs: offline within the watchdog, and never OK while it stays silent,
    # however often the box asks it again.
    rig.call(rig.ewdx.hang, True)
    expect(tile(host)).to_have_attribute("data-status", "rx_offline", timeout=15_000)
    expect(tile(host).locator(".t-status")).to_have_text("RX OFFLINE")
    asked = rig.call(lambda: rig.ewdx.ignored)
    wait_for(lambda: rig.call(lambda: rig.ewdx.ignored) > asked + 2, DEADLINE_S, "retries")
    expect(tile(rig.g4_device)).to_have_attribute("data-status", "good")  # the others carry on
    expect(tile(shure_vox)).to_have_attribute("data-status", "good")
    assert page.evaluate(STATUSES_OF, host) == ["rx_offline"]
    shot(page, "phone-sennheiser-rx-offline")
    rig.call(rig.ewdx.hang, False)
    expect(tile(host)).to_have_attribute("data-status", "good", timeout=15_000)

    # It loses power: offline again, OK once it is back and heard.
    page.evaluate(STATUS_LOG)
    rig.run(rig.ewdx.power_loss())
    expect(tile(host)).to_have_attribute("data-status", "rx_offline", timeout=15_000)
    expect(tile(panel)).to_have_attribute("data-status", "rx_offline")
    rig.run(rig.ewdx.power_restore())
    expect(tile(host)).to_have_attribute("data-status", "good", timeout=15_000)
    seen = page.evaluate(STATUSES_OF, host)
    # Offline first and OK last; between them at most a moment of "unknown": the receiver's
    # first answer (the channel's settings) may reach the phone before the one saying her
    # transmitter is on (SSC v1 asks for them apart: an absent transmitter answers 424).
    assert seen[0] == "rx_offline" and seen[-1] == "good", seen
    assert set(seen[1:-1]) <= {"unknown"}, seen


def test_the_receivers_editor_adds_a_sennheiser_box_by_address(
    new_page: Any, rig: MixedRig, daemon: Daemon
) -> None:
    extra = SimEwdx("EWDX-EM2", senn_host(), 0, names=("GUEST 1", "GUEST 2"))
    rig.run(extra.start())
    try:
        page = new_page("phone")
        login_admin(page, daemon)
        page.goto(f"{daemon.url}/#view=edit&tab=receivers")
        hint = page.locator("#rx-address-hint")
        expect(hint).to_contain_text(":45 EW-DX (SSC v1)")
        expect(hint).to_contain_text(":443 EW-DX firmware 4 and later (SSCv2)")
        expect(hint).to_contain_text(":53212 ew G3/G4/2000")
        page.locator("#rx-address").fill(f"ssc1://{extra.host}:{extra.port}")
        page.get_by_role("button", name="Add", exact=True).click()
        expect(page.locator("#rx-add-msg")).to_contain_text("Added")
        receiver_id = f"ssc1@{extra.host}:{extra.port}"
        row = page.locator(f'#rx-list .row[data-receiver="{receiver_id}"]')
        expect(row.locator(".pill")).to_have_text("online", timeout=15_000)
        expect(row).to_contain_text("Sennheiser, SSC v1")
        expect(row).to_contain_text("EW-DX EM 2")
        g4_row = page.locator(f'#rx-list .row[data-receiver="{rig.g4.host}:{rig.g4.port}"]')
        expect(g4_row).to_contain_text("Sennheiser, Media Control Protocol")
        shot(page, "phone-edit-receivers-sennheiser")
        page.goto(f"{daemon.url}/#")
        guest = page.locator(f'#board .tile[data-device="{receiver_id}:1"]')
        expect(guest).to_have_attribute("data-status", "good", timeout=15_000)
        expect(guest.locator(".t-name")).to_have_text("GUEST 1")
    finally:
        rig.run(extra.close())
