"""Give an installed micboardd some state through its API, or check that it is still there.

    python3 -m tests.packaging.state_probe URL write   # before an upgrade
    python3 -m tests.packaging.state_probe URL check   # after it

Standard library only (run by the system python3 of CI, outside any venv). The daemon's admin
password must be PASSWORD (`micboardd passwd --stdin`). "write" uploads a performer photo for
placeholder 11 (imported from a Micboard config beforehand); "check" logs in with the same
password (kept in the database), and finds the placeholders, the group, the photo byte for
byte, and the meter rate of the edited conffile. Exit status 0, or 1 with the reason.
"""

from __future__ import annotations

import http.cookiejar
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from tests.images import png

PASSWORD = "upgrade test password"  # test only
PHOTO = png(40, 40, (240, 160, 20))
PLACEHOLDER = "placeholder:11"
METER_RATE_MS = 250  # what install/upgrade tests write into the conffile


class Client:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.csrf = ""

    def call(
        self, method: str, path: str, body: bytes | None = None, kind: str = "application/json"
    ) -> tuple[int, bytes, Any]:
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", kind)
        if self.csrf:
            request.add_header("X-CSRF-Token", self.csrf)
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers

    def json(self, path: str) -> Any:
        status, body, _ = self.call("GET", path)
        if status != 200:
            raise SystemExit(f"state-probe: GET {path} answered {status}: {body[:200]!r}")
        return json.loads(body)

    def login(self) -> None:
        status, body, _ = self.call(
            "POST", "/api/login", json.dumps({"password": PASSWORD}).encode()
        )
        if status != 200:
            raise SystemExit(f"state-probe: admin login refused ({status}): {body[:200]!r}")
        self.csrf = json.loads(body)["csrf_token"]


def write(c: Client) -> None:
    c.login()
    status, body, _ = c.call("PUT", f"/api/devices/{PLACEHOLDER}/photo", PHOTO, "image/png")
    if status != 200:
        raise SystemExit(f"state-probe: photo upload answered {status}: {body[:200]!r}")
    print(f"state-probe: photo of {PLACEHOLDER} stored, version {json.loads(body)['version']}")


def check(c: Client) -> None:
    c.login()  # the admin password lives in the database
    labels = sorted((p["label"], p["name"]) for p in c.json("/api/placeholders"))
    if labels != [("", "Spare"), ("IEM 3", "Drums")]:
        raise SystemExit(f"state-probe: placeholders are {labels}")
    groups = {g["title"]: g["slots"] for g in c.json("/api/groups")}
    if groups.get("Band") != [None, "placeholder:13"]:
        raise SystemExit(f"state-probe: groups are {groups}")
    status, body, _ = c.call("GET", f"/api/devices/{PLACEHOLDER}/photo")
    if status != 200 or body != PHOTO:
        raise SystemExit(f"state-probe: the photo came back as {status}, {len(body)} bytes")
    rate = c.json("/api/settings")["meter_rate_ms"]
    if rate != METER_RATE_MS:
        raise SystemExit(f"state-probe: meter_rate_ms {rate}: the edited conffile was not kept")
    print("state-probe: password, placeholders, group, photo and conffile setting all kept")


def main() -> int:
    url, action = sys.argv[1], sys.argv[2]
    {"write": write, "check": check}[action](Client(url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
