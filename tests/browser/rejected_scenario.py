"""The receivers tab's "Rejected by discovery" list, in a real browser: run ONLY inside a
private network namespace (`test_rejected_ui.py` starts it with `run_in_netns`), because the
daemon's discovery and the SLP announcer multicast.

Two boxes announce themselves as Shure receivers over SLP: one answers port 2202 with HTTP
(not a receiver), one accepts and says nothing (an SLX-D with third-party control off). The
daemon probes and rejects both; the page must list both with the reason. Prints one line and
exits 0, or raises.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect, sync_playwright

from micboardd.sim.announce import AnnouncedDevice, SlpAnnouncer, make_cid
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, SimRig
from tests.discovery.netns import guard
from tests.helpers import DaemonProcess, daemon_env, wait_for
from tests.security.admin import ADMIN_PASSWORD, set_secret_sync

SHURE_PORT = 2202
IMPOSTOR = AnnouncedDevice("ULXD4D", "127.0.3.11", make_cid("impostor"), "Impostor")
SILENT = AnnouncedDevice("SLXD4D", "127.0.3.12", make_cid("silent-slxd"), "Silent SLX-D")
# Both are probed within a second of the first announcement; the silent one takes the probe's
# whole 2 s window. Generous for a loaded 2-core machine.
REJECTED_WITHIN_S = 20.0


async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the probe gives up and closes
    writer.close()


async def http_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    await writer.drain()
    await hold(reader, writer)


async def start_boxes() -> list[asyncio.Server]:
    return [
        await asyncio.start_server(http_answer, IMPOSTOR.host, SHURE_PORT),
        await asyncio.start_server(hold, SILENT.host, SHURE_PORT),
    ]


async def stop_boxes(servers: list[asyncio.Server]) -> None:
    for server in servers:
        server.close()
        await server.wait_closed()


def rejected(d: DaemonProcess) -> dict[str, dict[str, Any]]:
    rows = httpx.get(d.url + "/api/discovery", timeout=5).json()
    return {r["address"]: r for r in rows if r.get("rejected")}


def check_page(url: str) -> None:
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
            rows = page.locator("#rx-rejected .row.rejected")
            expect(rows).to_have_count(2)
            impostor = rows.filter(has_text=IMPOSTOR.host)
            expect(impostor.locator(".reason")).to_contain_text("not a supported Shure receiver")
            expect(impostor).to_contain_text("not in Shure command strings")  # the advice
            silent = rows.filter(has_text=SILENT.host)
            expect(silent.locator(".reason")).to_contain_text("Allow Third-Party Controls")
            for row in (impostor, silent):
                expect(row).to_contain_text(" ago")
                expect(row.locator(".pill")).to_have_text("not added")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.locator("#rx-rejected").scroll_into_view_if_needed()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "receivers-rejected-phone.png"))
        finally:
            browser.close()
    assert not errors, f"console errors: {errors}"


def main() -> int:
    guard()
    sim = SimRig()  # an event loop on a thread: the boxes and the announcer run there
    servers = sim.run(start_boxes())
    slp = SlpAnnouncer([IMPOSTOR, SILENT], interval_s=0.5)
    state = Path(tempfile.mkdtemp(prefix="micboardd-rejected-"))
    config = state / "empty.toml"
    config.write_text("")
    d = DaemonProcess(
        args=[
            *("run", "--host", "127.0.0.1", "--port", "0", "--state-dir", str(state / "s")),
            *("--config", str(config), "--discovery-interface", "127.0.0.1"),
        ],
        state_dir=state / "s",
        env=daemon_env(),
    )
    try:
        set_secret_sync(d.state_dir)
        d.start()
        sim.run(slp.start())
        found: dict[str, dict[str, Any]] = {}

        def both() -> bool:
            found.update(rejected(d))
            return len(found) == 2

        wait_for(both, REJECTED_WITHIN_S, "two rejections")
        assert {r["receiver_id"] for r in found.values()} == {
            IMPOSTOR.cid.lower(),
            SILENT.cid.lower(),
        }, found
        assert all(r["since"].endswith("Z") and r["attempts"] >= 1 for r in found.values())
        check_page(d.url)
    finally:
        d.stop()
        sim.run(slp.stop())
        sim.run(stop_boxes(servers))
        sim.close()
    print(f"rejected list rendered: {', '.join(sorted(found))}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
