"""Load a running micboardd's dashboard in headless Chromium and check it came up live.

    python -m tests.packaging.load_dashboard http://127.0.0.1:8058

Used by wheel_test.sh against a daemon installed from the wheel: the page, its modules, its
stylesheet and the WebSocket must all work from the package data. Exit status 0 or 1.
"""

from __future__ import annotations

import sys
from typing import Any

from playwright.sync_api import sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

TIMEOUT_MS = 20_000  # a cold Chromium on a busy 2-core CI machine


def check(url: str) -> list[str]:
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)

            def on_console(msg: Any) -> None:
                if msg.type == "error":
                    problems.append(f"console: {msg.text}")

            page.on("console", on_console)
            page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
            failed: list[str] = []
            page.on("requestfailed", lambda req: failed.append(req.url))
            response = page.goto(url + "/")
            if response is None or response.status != 200:
                problems.append(f"GET / answered {response.status if response else 'nothing'}")
                return problems
            # app.js ran, its modules loaded, and the WebSocket delivered initial_data.
            page.wait_for_selector('#conn[data-state="live"]')
            page.wait_for_selector("#empty:not([hidden])")  # no receivers in this test
            colour = page.evaluate("getComputedStyle(document.body).backgroundColor")
            if colour in ("", "rgba(0, 0, 0, 0)"):
                problems.append("style.css did not apply")
            problems += [f"request failed: {u}" for u in failed]
            print(f"load-dashboard: {url}/ live in Chromium, title {page.title()!r}")
        finally:
            browser.close()
    return problems


def main() -> int:
    problems = check(sys.argv[1].rstrip("/"))
    for line in problems:
        print(f"load-dashboard: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
