"""The receivers tab's "Waiting for approval" list, in a real browser: run ONLY inside a
private network namespace (`test_approval_ui.py` starts it with `run_in_netns`), because the
daemon's discovery and the SLP announcer multicast.

The daemon runs with `--discovery-approval`. Two simulated receivers announce themselves over
SLP; discovery probes both, and both wait. The admin approves one (it appears among the
monitored receivers) and ignores the other (it leaves the list). After a restart the
approved one is monitored at once and neither waits again. Prints one line and exits 0, or
raises.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect, sync_playwright

from micboardd.sim import SimReceiver
from micboardd.sim.announce import AnnouncedDevice, SlpAnnouncer
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, SimRig
from tests.discovery.netns import guard
from tests.helpers import DaemonProcess, daemon_env, wait_for
from tests.security.admin import ADMIN_PASSWORD, set_secret_sync

SHURE_PORT = 2202
# Probed within a second of the first announcement; generous for a loaded 2-core machine.
WAITING_WITHIN_S = 20.0


def discovery_rows(d: DaemonProcess) -> dict[str, dict[str, Any]]:
    rows = httpx.get(d.url + "/api/discovery", timeout=5).json()
    return {r["receiver_id"]: r for r in rows}


def check_page(url: str, mine: str, theirs: str) -> None:
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            ctx = browser.new_context(viewport={"width": 360, "height": 780}, bypass_csp=True)
            ctx.set_default_timeout(10_000)
            page = ctx.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
            assert page.request.post(f"{url}/api/login", data={"password": ADMIN_PASSWORD}).ok
            page.goto(f"{url}/#view=edit&tab=receivers")
            rows = page.locator("#rx-waiting .row.waiting")
            expect(rows).to_have_count(2)
            expect(page.locator("#rx-list")).to_contain_text("None yet.")
            first = rows.and_(page.locator(f'[data-receiver="{mine}"]'))
            expect(first.locator(".pill")).to_have_text("waiting")
            expect(first).to_contain_text("4 channels")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.locator("#rx-waiting").scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / "receivers-waiting-phone.png"))

            first.get_by_role("button", name="Approve").click()
            expect(page.locator(f'#rx-list .row[data-receiver="{mine}"]')).to_have_count(1)
            expect(rows).to_have_count(1)
            rows.get_by_role("button", name="Ignore").click()
            expect(rows).to_have_count(0)
            expect(page.locator("#rx-waiting")).to_be_hidden()
            expect(page.locator(f'#rx-list .row[data-receiver="{theirs}"]')).to_have_count(0)
        finally:
            browser.close()
    assert not errors, f"console errors: {errors}"


def main() -> int:
    guard()
    sim = SimRig()  # an event loop on a thread: the receivers and the announcer run there
    receivers = [
        SimReceiver("AD4Q", "127.0.4.21", SHURE_PORT, device_id="MINE"),
        SimReceiver("ULXD4D", "127.0.4.22", SHURE_PORT, device_id="THEIRS"),
    ]
    devices = [AnnouncedDevice.of(rx) for rx in receivers]
    mine, theirs = (dev.cid.lower() for dev in devices)
    for rx in receivers:
        sim.run(rx.start())
    slp = SlpAnnouncer(devices, interval_s=0.5)
    state = Path(tempfile.mkdtemp(prefix="micboardd-approval-"))
    config = state / "empty.toml"
    config.write_text("")
    d = DaemonProcess(
        args=[
            *("run", "--host", "127.0.0.1", "--port", "0", "--state-dir", str(state / "s")),
            *("--config", str(config), "--discovery-interface", "127.0.0.1"),
            "--discovery-approval",
        ],
        state_dir=state / "s",
        env=daemon_env(),
    )
    try:
        set_secret_sync(d.state_dir)
        d.start()
        sim.run(slp.start())

        def both_wait() -> bool:
            rows = discovery_rows(d)
            return all(rows.get(cid, {}).get("waiting") for cid in (mine, theirs))

        wait_for(both_wait, WAITING_WITHIN_S, "two receivers waiting for approval")
        assert d.get("/api/receivers").json() == []
        refused = httpx.post(f"{d.url}/api/discovery/{mine}/approve", timeout=5)
        assert refused.status_code in (401, 403), refused  # an admin's decision only
        check_page(d.url, mine, theirs)

        d.stop()  # a restart asks nothing again
        d.start()
        rxs = {r["receiver_id"]: r for r in d.get("/api/receivers").json()}
        assert list(rxs) == [mine], rxs

        def heard_again() -> bool:
            # Both announce again: the approved one is known (monitored), the other ignored.
            health = d.get("/api/health").json()["discovery"]
            seen = {r["receiver_id"]: r for r in health["devices"]}
            return (
                mine in seen
                and "slp" in seen[mine]["via"]
                and theirs in seen
                and seen[theirs]["ignored"]
            )

        wait_for(heard_again, WAITING_WITHIN_S, "both receivers heard again")
        rows = discovery_rows(d)
        assert not any(r.get("waiting") for r in rows.values()), rows
    finally:
        d.stop()
        sim.run(slp.stop())
        for rx in receivers:
            sim.run(rx.close())
        sim.close()
    print(f"approved {mine}, ignored {theirs}, remembered across a restart")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
