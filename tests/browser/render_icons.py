"""Render the dashboard's PNG icons and favicon.ico from the SVG sources in web/icons/.

Run by hand after editing an SVG (`.venv/bin/python tests/browser/render_icons.py`); the
outputs are committed so the box needs no build step. Uses the same Chromium as the tests.
"""

from __future__ import annotations

import struct
from pathlib import Path

from playwright.sync_api import sync_playwright

ICONS = Path(__file__).resolve().parents[2] / "web" / "icons"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
OUTPUTS = (
    ("icon.svg", 192, "icon-192.png"),
    ("icon.svg", 512, "icon-512.png"),
    ("maskable.svg", 512, "maskable-512.png"),
)


def render(page: object, src: str, size: int) -> bytes:
    svg = (ICONS / src).read_text().replace("<svg ", f'<svg width="{size}" height="{size}" ', 1)
    page.set_viewport_size({"width": size, "height": size})  # type: ignore[attr-defined]
    page.set_content(f'<html><body style="margin:0;background:transparent">{svg}</body></html>')  # type: ignore[attr-defined]
    png: bytes = page.screenshot(omit_background=True)  # type: ignore[attr-defined]
    return png


def main() -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page()
        for src, size, out in OUTPUTS:
            (ICONS / out).write_bytes(render(page, src, size))
        # favicon.ico: one 32 px PNG in an ICO container (browsers ask for it on any page).
        png = render(page, "icon.svg", 32)
        header = struct.pack("<HHH", 0, 1, 1)
        entry = struct.pack("<BBBBHHII", 32, 32, 0, 0, 1, 32, len(png), 6 + 16)
        (ICONS.parent / "favicon.ico").write_bytes(header + entry + png)
        browser.close()


if __name__ == "__main__":
    main()
