"""Authorization matrix: every route of the app (from its route table) and every WebSocket
command, for every kind of caller, against the daemon as a real process."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from micboardd.web.security import READ_ONLY_WS_COMMANDS

from ..helpers import DaemonProcess
from .admin import ADMIN_PASSWORD, CSRF_HEADER, session_client
from .conftest import VIEWER_PIN_LONG
from .routes import Route

EVIL = "http://evil.example"
# The test's own expectations, written down here rather than read from the app's markings
# (a mark that goes missing must fail the matrix, not move its expectation with it). A new
# route of one of these kinds is added here on purpose.
PUBLIC_MUTATIONS = {"/api/login", "/api/logout"}
OPEN_READS = {"/api/health", "/api/session"}  # under /api/: open even with a viewer PIN
ADMIN_ONLY_READS = {"/api/system-api"}  # name a server on the venue network


async def call(c: httpx.AsyncClient, route: Route, **kw: Any) -> httpx.Response:
    return await c.request(route.method, route.url, json={}, **kw)


def mutating(routes: tuple[list[Route], list[str]]) -> list[Route]:
    found = [r for r in routes[0] if r.mutating]
    assert len(found) >= 10, found  # the table really was read
    return found


async def test_every_mutating_route_needs_admin_and_csrf(
    secured: DaemonProcess, routes: tuple[list[Route], list[str]]
) -> None:
    d = secured
    table = mutating(routes)
    outcomes: dict[str, dict[str, int]] = {}
    async with (
        httpx.AsyncClient(base_url=d.url, timeout=10) as anon,
        session_client(d.url, pin=VIEWER_PIN_LONG) as viewer,
        session_client(d.url, password=ADMIN_PASSWORD, csrf=False) as admin_no_csrf,
        session_client(d.url, password=ADMIN_PASSWORD) as admin,
    ):
        for route in table:
            if route.template in PUBLIC_MUTATIONS:
                continue  # login and logout: below
            row = outcomes[str(route)] = {
                "anonymous": (await call(anon, route)).status_code,
                "viewer": (await call(viewer, route)).status_code,
                "admin, no CSRF": (await call(admin_no_csrf, route)).status_code,
                "admin, wrong CSRF": (
                    await call(admin_no_csrf, route, headers={CSRF_HEADER: "x" * 43})
                ).status_code,
                "admin, other site": (
                    await call(admin, route, headers={"Origin": EVIL})
                ).status_code,
                "admin, other site (Referer)": (
                    await call(admin, route, headers={"Referer": f"{EVIL}/page"})
                ).status_code,
                "admin": (await call(admin, route)).status_code,
            }
            expected = {
                "anonymous": 401,
                "viewer": 403,
                "admin, no CSRF": 403,
                "admin, wrong CSRF": 403,
                "admin, other site": 403,
                "admin, other site (Referer)": 403,
            }
            assert {k: v for k, v in row.items() if k != "admin"} == expected, (route, row)
            # Admin gets past security: the handler answers (validation, 404, done...).
            assert row["admin"] not in (401, 403) and row["admin"] < 500, (route, row)
        # The admin session survived all of that (nothing above logged it out).
        assert (await admin.get("/api/session")).json()["role"] == "admin"
    print("\n" + "\n".join(f"{k:45} {v}" for k, v in outcomes.items()))


async def test_login_and_logout_are_open_but_same_origin_only(
    secured: DaemonProcess, routes: tuple[list[Route], list[str]]
) -> None:
    public = [r for r in mutating(routes) if r.template in PUBLIC_MUTATIONS]
    assert {r.template for r in mutating(routes) if r.public} == PUBLIC_MUTATIONS
    async with httpx.AsyncClient(base_url=secured.url, timeout=10) as c:
        for route in public:
            assert (await call(c, route, headers={"Origin": EVIL})).status_code == 403, route
            r = await call(c, route)
            assert r.status_code in (200, 400), (route, r.text)  # login with {}: 400


async def test_the_running_daemon_serves_no_route_missing_from_the_table(
    secured: DaemonProcess, routes: tuple[list[Route], list[str]]
) -> None:
    """The table comes from an app built in-process, without running sources: the daemon's
    own routes (which could depend on what is running) must be the same, every method."""
    doc = secured.get("/schema/openapi.json").json()
    served = {
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method in ops
        if method.upper() not in ("HEAD", "OPTIONS")
    }
    documented = {
        (r.method, r.openapi_path)
        for r in routes[0]
        if r.in_schema and r.method not in ("HEAD", "OPTIONS")
    }
    assert served == documented, served ^ documented


async def test_nothing_the_daemon_answers_changes_state_for_a_stranger(
    secured: DaemonProcess,
) -> None:
    """Probed on the running daemon, whatever its tables say: every path it documents, and
    paths it does not, with every method that changes state, from someone without a session
    (and from a page of another site). Nothing may succeed."""
    doc = secured.get("/schema/openapi.json").json()
    paths = [p.replace("{", "").replace("}", "") for p in doc["paths"]]
    paths += ["/", "/index.html", "/api", "/api/", "/api/nothing", "/ws/devices/", "/metrics"]
    async with httpx.AsyncClient(base_url=secured.url, timeout=10) as anon:
        for path in paths:
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                for headers in ({}, {"Origin": EVIL}):
                    r = await anon.request(method, path, json={}, headers=headers)
                    if path in PUBLIC_MUTATIONS and not headers:
                        continue  # login answers 400 for {}, logout 200: nothing changes
                    assert r.status_code >= 400, (method, path, headers, r.status_code)


async def test_reads_need_the_pin_when_it_is_set(
    secured: DaemonProcess, routes: tuple[list[Route], list[str]]
) -> None:
    reads = [r for r in routes[0] if r.method == "GET" and r.template.startswith("/api/")]
    assert len(reads) >= 8
    # The app's markings agree with the test's own list (a lost mark fails here).
    assert {r.template for r in reads if r.admin_only} == ADMIN_ONLY_READS
    async with (
        httpx.AsyncClient(base_url=secured.url, timeout=10) as anon,
        session_client(secured.url, pin=VIEWER_PIN_LONG) as viewer,
        session_client(secured.url, password=ADMIN_PASSWORD) as admin,
    ):
        for route in reads:
            open_ = route.template in OPEN_READS
            admin_only = route.template in ADMIN_ONLY_READS
            status = (await anon.get(route.url)).status_code
            assert (status != 401) if open_ else (status == 401), (route, status)
            if admin_only:  # e.g. the System API settings: the crew's only
                assert (await viewer.get(route.url)).status_code == 403, route
            for who in (admin,) if admin_only else (viewer, admin):
                status = (await who.get(route.url)).status_code
                assert status not in (401, 403) and status < 500, (route, status)
        # Open to monitoring, but without receiver addresses for someone without the PIN.
        health = (await anon.get("/api/health")).json()
        assert health["status"] == "ok"
    assert secured.get("/").status_code == 200  # the page that asks for the PIN


async def refused(url: str, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, open_timeout=5, **kw):
            pass
    return int(info.value.response.status_code)


async def test_websockets_need_the_pin_and_our_origin(
    secured: DaemonProcess, routes: tuple[list[Route], list[str]]
) -> None:
    ws_paths = routes[1]
    assert {"/ws/devices", "/ws/connections", "/ws/health"} <= set(ws_paths)
    async with session_client(secured.url, pin=VIEWER_PIN_LONG) as viewer:
        cookie = "; ".join(f"{k}={v}" for k, v in viewer.cookies.items())
    for path in ws_paths:
        for suffix in ("", "/"):
            url = secured.ws_url + path + suffix
            assert await refused(url) == 403, url  # no PIN
            assert await refused(url, additional_headers={"Cookie": "micboardd_session=forged"})
            # A page on another site cannot use a viewer's cookie (cross-site WebSocket).
            evil = {"Cookie": cookie, "Origin": EVIL}
            assert await refused(url, additional_headers=evil) == 403, url
            async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
                assert json.loads(await ws.recv())["type"] == "initial_data"


async def _exchange(ws: Any, msg: dict[str, Any]) -> list[dict[str, Any]]:
    """Send `msg`, then a ping; the frames answered up to the pong."""
    await ws.send(json.dumps(msg))
    await ws.send('{"type": "ping"}')
    frames: list[dict[str, Any]] = []
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "pong":
            return frames
        frames.append(frame)


async def test_websocket_commands_that_change_state_need_admin(
    secured: DaemonProcess, routes: tuple[list[Route], list[str]]
) -> None:
    # Commands that do not exist yet stand for the future ones that will change state.
    commands = [*sorted(READ_ONLY_WS_COMMANDS), "rename", "set_performer", "frobnicate"]

    async def frames_for(cookie: str, path: str, kind: str) -> list[dict[str, Any]]:
        url = secured.ws_url + path + "/"
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
            await ws.recv()
            return await _exchange(ws, {"type": kind})

    cookies: dict[str, str] = {}
    async with session_client(secured.url, pin=VIEWER_PIN_LONG) as v:
        cookies["viewer"] = "; ".join(f"{k}={val}" for k, val in v.cookies.items())
    async with session_client(secured.url, password=ADMIN_PASSWORD) as a:
        cookies["admin"] = "; ".join(f"{k}={val}" for k, val in a.cookies.items())

    def check(who: str, kind: str, frames: list[dict[str, Any]]) -> None:
        errors = [f["error"] for f in frames if f["type"] == "error"]
        if kind in READ_ONLY_WS_COMMANDS:
            assert not any("admin" in e for e in errors), (who, kind, errors)
        elif who == "viewer":
            assert errors and "admin login" in errors[0], (who, kind, errors)
        else:  # admin: past the guard, the endpoint itself does not know the command
            assert errors and "unknown message type" in errors[0], (who, kind, errors)
            assert "admin" not in errors[0]

    for path in routes[1]:
        for kind in commands:
            for who, cookie in cookies.items():
                check(who, kind, await frames_for(cookie, path, kind))
