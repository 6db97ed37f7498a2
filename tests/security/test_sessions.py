"""Passwords, sessions, CSRF, lockout, headers and limits on the daemon as a real process."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
from http.cookies import SimpleCookie

import httpx

from micboardd.auth.passwords import CREDENTIALS_TTL_S
from micboardd.store.secret_files import write_secret_file
from micboardd.web.security import CONTENT_SECURITY_POLICY

from ..conftest import DaemonFactory
from ..helpers import async_wait_for, daemon_env
from .admin import ADMIN_PASSWORD, CSRF_HEADER, passwd_argv, set_secret
from .conftest import VIEWER_PIN_LONG

# A System API URL where nothing answers (loopback, a port nobody listens on).
SYSTEM_API_NOWHERE = "https://127.0.0.1:9/api"
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def set_cookie(r: httpx.Response) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    jar.load(r.headers["set-cookie"])
    return jar


async def test_nothing_changes_until_a_password_is_set_and_the_message_says_how(
    make_daemon: DaemonFactory,
) -> None:
    d = make_daemon()
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        session = (await c.get("/api/session")).json()
        assert session == {
            "role": "viewer",
            "csrf_token": None,
            "expires": None,
            "admin_password_set": False,
            "viewer_pin_required": False,
        }
        for r in (
            await c.post("/api/groups", json={"title": "x"}),
            await c.post("/api/login", json={"password": "anything at all"}),
        ):
            assert r.status_code == 403
            detail = r.json()["detail"]
            assert "sudo micboardd passwd" in detail
            # The box's paths are for the operator's log, not for anyone on the LAN.
            assert str(d.state_dir.resolve()) not in r.text
        assert f"micboardd passwd --state-dir {d.state_dir.resolve()}" in d.log
        # Reading needs nothing.
        assert (await c.get("/api/devices")).status_code == 200

        await set_secret(d.state_dir)  # while the daemon runs, as an operator would
        r = await c.post("/api/login", json={"password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()["csrf_token"]
        r = await c.post("/api/groups", json={"title": "x"}, headers={CSRF_HEADER: token})
        assert r.status_code == 201


async def test_login_cookie_session_logout(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    await set_secret(d.state_dir)
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        r = await c.post("/api/login", json={"password": "wrong password"})
        assert r.status_code == 401 and r.json()["detail"] == "wrong password"
        assert "set-cookie" not in r.headers
        r = await c.post("/api/login", json={"password": ADMIN_PASSWORD})
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
        morsel = set_cookie(r)["micboardd_session"]
        assert (
            morsel["httponly"] and morsel["samesite"].lower() == "strict" and morsel["path"] == "/"
        )
        assert not morsel["secure"]  # plain HTTP here; HTTPS adds Secure (test_units)
        assert 11 * 3600 < int(morsel["max-age"]) <= 12 * 3600
        body = r.json()
        assert body["role"] == "admin" and len(body["csrf_token"]) >= 32
        assert body["expires"].endswith("Z")
        assert (await c.get("/api/session")).json()["csrf_token"] == body["csrf_token"]
        stolen = morsel.value

        r = await c.post("/api/logout")
        assert r.status_code == 200 and r.json()["role"] == "viewer"
        assert (
            'micboardd_session=""' in r.headers["set-cookie"]
            or "Max-Age=0" in r.headers["set-cookie"]
        )
    # A copy of the cookie taken before logout is worth nothing afterwards, not even after
    # the daemon restarted (the logout is kept in the database).
    for restarted in (False, True):
        if restarted:
            d.stop()
            d.start()
        async with httpx.AsyncClient(
            base_url=d.url, timeout=10, cookies={"micboardd_session": stolen}
        ) as c:
            assert (await c.get("/api/session")).json()["role"] == "viewer", restarted
            r = await c.post("/api/groups", json={"title": "x"}, headers={CSRF_HEADER: "x"})
            assert r.status_code == 401, restarted


async def test_sessions_survive_a_restart_and_end_when_the_password_changes(
    make_daemon: DaemonFactory,
) -> None:
    d = make_daemon()
    await set_secret(d.state_dir)
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        token = (await c.post("/api/login", json={"password": ADMIN_PASSWORD})).json()["csrf_token"]
        cookies = dict(c.cookies)
    d.stop()
    d.start()
    async with httpx.AsyncClient(base_url=d.url, timeout=10, cookies=cookies) as c:
        r = await c.post("/api/groups", json={"title": "x"}, headers={CSRF_HEADER: token})
        assert r.status_code == 201, r.text
        await set_secret(d.state_dir, "a brand new password")

        async def refused() -> bool:
            r = await c.post("/api/groups", json={"title": "y"}, headers={CSRF_HEADER: token})
            return r.status_code == 401

        # The daemon re-reads credentials every CREDENTIALS_TTL_S.
        await async_wait_for(refused, CREDENTIALS_TTL_S + 3, "the old session to end")
        assert (await c.get("/api/session")).json()["role"] == "viewer"


async def test_brute_force_is_locked_out_and_logged(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    await set_secret(d.state_dir)
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        codes = [
            (await c.post("/api/login", json={"password": f"guess {i}"})).status_code
            for i in range(5)
        ]
        assert codes == [401, 401, 401, 401, 429]
        # Locked: even the right password is refused until the lockout ends.
        r = await c.post("/api/login", json={"password": ADMIN_PASSWORD})
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 30
        assert "try again in" in r.json()["detail"]
    failed = [line for line in d.lines if "failed admin login from 127.0.0.1" in line]
    locked = [line for line in d.lines if "locked out for 30 s" in line]
    assert len(failed) == 4 and len(locked) == 1, d.log
    assert all("WARNING" in line for line in failed + locked)


async def test_every_response_carries_the_security_headers(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        answers = [
            await c.get("/"),
            await c.get("/app.js"),
            await c.get("/js/login.js"),
            await c.get("/login.css"),
            await c.get("/api/devices"),
            await c.get("/api/health"),
            await c.get("/api/groups"),
            await c.get("/metrics"),
            await c.get("/healthz"),
            await c.get("/schema/openapi.json"),
            await c.get("/no/such/file"),
            await c.get("/api/devices/nope:1"),
            await c.post("/api/groups", json={"title": "x"}),
            await c.post("/api/login", content=b"{", headers={"content-type": "application/json"}),
            await c.request("PATCH", "/api/groups"),
        ]
    statuses = {r.status_code for r in answers}
    assert {200, 400, 403, 404, 405} <= statuses, statuses
    for r in answers:
        for name, value in HEADERS.items():
            assert r.headers.get(name) == value, (r.request.url, name, r.headers)
        # What the API answers is never kept by a browser or a proxy (a shared phone's cache
        # outlives a logout); the dashboard's files are revalidated instead.
        path = r.request.url.path
        if path.startswith(("/api/", "/metrics", "/healthz", "/schema")):
            assert r.headers.get("cache-control") == "no-store", (path, r.headers)
        else:
            assert r.headers.get("cache-control") in (None, "no-cache"), (path, r.headers)
    # No inline script in the shell: everything it runs is a file of our own.
    page = answers[0].text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline <script>
    assert not re.search(r"\son[a-z]+\s*=", page)  # no onclick= and friends
    assert not re.search(r"\sstyle\s*=", page)  # no inline style attributes


async def test_bad_bodies_get_clear_4xx(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    await set_secret(d.state_dir)
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        login = await c.post("/api/login", json={"password": ADMIN_PASSWORD})
        c.headers[CSRF_HEADER] = login.json()["csrf_token"]
        big = b'{"title": "' + b"x" * 200_000 + b'"}'
        r = await c.post("/api/groups", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413
        for body in ({"password": 5}, {"password": "x", "pin": "1234"}, {}, {"user": "admin"}):
            r = await c.post("/api/login", json=body)
            assert r.status_code == 400 and r.json()["detail"], (body, r.text)
        for pin in ("12ab", "123", "1" * 13, "\uff11\uff12\uff13\uff14"):
            r = await c.put("/api/security/viewer-pin", json={"pin": pin})
            assert r.status_code == 400, (pin, r.text)
        r = await c.post("/api/login", json={"pin": "1234"})
        assert r.status_code == 400 and "no viewer PIN" in r.json()["detail"]


async def test_viewer_pin_set_from_the_dashboard(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    await set_secret(d.state_dir)
    async with (
        httpx.AsyncClient(base_url=d.url, timeout=10) as admin,
        httpx.AsyncClient(base_url=d.url, timeout=10) as phone,
    ):
        login = await admin.post("/api/login", json={"password": ADMIN_PASSWORD})
        admin.headers[CSRF_HEADER] = login.json()["csrf_token"]
        r = await admin.put("/api/security/viewer-pin", json={"pin": VIEWER_PIN_LONG})
        assert r.status_code == 200 and r.json()["viewer_pin_required"] is True
        assert (await phone.get("/api/session")).json()["role"] == "anonymous"
        assert (await phone.get("/api/devices")).status_code == 401
        assert (await phone.get("/api/health")).status_code == 200
        assert (await phone.post("/api/login", json={"pin": "00000000"})).status_code == 401
        r = await phone.post("/api/login", json={"pin": VIEWER_PIN_LONG})
        assert r.status_code == 200 and r.json()["role"] == "viewer"
        assert r.json()["csrf_token"]  # a viewer has one too, but it opens nothing
        assert (await phone.get("/api/devices")).status_code == 200
        assert (
            await phone.post(
                "/api/groups", json={"title": "x"}, headers={CSRF_HEADER: r.json()["csrf_token"]}
            )
        ).status_code == 403
        # A new PIN ends the viewer sessions of the old one.
        r = await admin.put("/api/security/viewer-pin", json={"pin": "11223344"})
        assert (await phone.get("/api/devices")).status_code == 401
        r = await admin.put("/api/security/viewer-pin", json={"pin": None})
        assert r.json()["viewer_pin_required"] is False
        assert (await phone.get("/api/devices")).status_code == 200
        assert (await admin.get("/api/session")).json()["role"] == "admin"


def test_passwd_cli_refuses_bad_input_and_never_echoes(tmp_path: object) -> None:
    from pathlib import Path

    state = Path(str(tmp_path)) / "state"

    def passwd(secret: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*passwd_argv(state), *extra],
            input=secret + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            env=daemon_env(),
            check=False,
        )

    short = passwd("short")
    assert short.returncode == 1 and "at least 8" in short.stderr
    bad_pin = passwd("12ab", "--viewer-pin")
    assert bad_pin.returncode == 1 and "digits" in bad_pin.stderr
    ok = passwd("a good long password")
    assert ok.returncode == 0 and "admin password set in" in ok.stdout
    assert "a good long password" not in ok.stdout + ok.stderr
    pin = passwd("24682468", "--viewer-pin")
    assert pin.returncode == 0 and "viewer PIN set" in pin.stdout
    db = state / "micboardd.db"
    assert oct(db.stat().st_mode & 0o777) == "0o600"
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT key, value FROM settings").fetchall())
    assert rows["admin_password_hash"].startswith("scrypt$32768$8$1$")
    assert "a good long password" not in str(rows) and "24682468" not in str(rows)
    off = passwd("", "--no-viewer-pin")
    assert off.returncode == 0 and "switched off" in off.stdout
    no_tty = subprocess.run(
        [sys.executable, "-m", "micboardd", "passwd", "--state-dir", str(state)],
        input="x\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=daemon_env(),
        check=False,
    )
    assert no_tty.returncode == 1 and "--stdin" in no_tty.stderr
    assert (
        "passwd"
        in subprocess.run(
            [sys.executable, "-m", "micboardd", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env=daemon_env(),
            check=True,
        ).stdout
    )


async def test_secrets_never_leave_the_box(make_daemon: DaemonFactory, tmp_path: object) -> None:
    """Password, PIN, their hashes, the session key and key files: in no answer, no log."""
    from pathlib import Path

    dashboard_key = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"

    state = Path(str(tmp_path)) / "state"
    api_key = "f3a9c1d2-7e6b-4a5c-9d8e-1b2c3d4e5f60"
    given_key = write_secret_file(Path(str(tmp_path)) / "given", "ssapi.key", api_key + "\n")
    # The widest umask: the mode of the key file the daemon writes can only come from it.
    old_umask = os.umask(0)
    try:
        d = make_daemon("--log-level", "debug", "--ssapi-key-file", str(given_key), state_dir=state)
    finally:
        os.umask(old_umask)
    await set_secret(d.state_dir)
    await set_secret(d.state_dir, VIEWER_PIN_LONG, "--viewer-pin")
    seen: list[str] = []
    async with (
        httpx.AsyncClient(base_url=d.url, timeout=10) as anon,
        httpx.AsyncClient(base_url=d.url, timeout=10) as admin,
    ):
        login = await admin.post("/api/login", json={"password": ADMIN_PASSWORD})
        admin.headers[CSRF_HEADER] = login.json()["csrf_token"]
        requests = [
            # A key given through the API (first: the admin is still admin): written to a
            # file by the daemon, never shown.
            ("PUT", "/api/system-api", {"url": SYSTEM_API_NOWHERE, "key": dashboard_key}),
            ("GET", "/api/system-api", None),
            ("POST", "/api/login", {"password": "wrong " + ADMIN_PASSWORD}),
            ("POST", "/api/login", {"pin": VIEWER_PIN_LONG[::-1]}),
            ("POST", "/api/login", {"pin": VIEWER_PIN_LONG}),
            ("PUT", "/api/security/viewer-pin", {"pin": VIEWER_PIN_LONG}),
            ("PUT", "/api/settings", {"ssapi_key": api_key}),
            ("POST", "/api/groups", {"title": ADMIN_PASSWORD[:40]}),
        ]
        responses = [login]
        for who in (anon, admin):
            for method, path, body in requests:
                if body is None:
                    responses.append(await who.request(method, path))
                else:
                    responses.append(await who.request(method, path, json=body))
            for path in (
                "/api/session",
                "/api/health",
                "/api/settings",
                "/api/devices",
                "/api/receivers",
                "/api/connections",
                "/api/discovery",
                "/api/groups",
                "/metrics",
                "/schema/openapi.json",
            ):
                responses.append(await who.get(path))
        for r in responses:
            headers = {k: v for k, v in r.headers.items() if k != "set-cookie"}
            seen.append(f"{r.status_code} {headers} {r.text}")
    d.stop()
    with sqlite3.connect(state / "micboardd.db") as conn:
        stored = dict(conn.execute("SELECT key, value FROM settings").fetchall())
    hashes = [stored["admin_password_hash"], stored["viewer_pin_hash"]]
    secrets = [ADMIN_PASSWORD, VIEWER_PIN_LONG, api_key, dashboard_key, *hashes]
    secrets.append(stored["session_secret"])
    secrets += [part for h in hashes for part in h.split("$")[4:]]  # salts and digests
    haystacks = {"responses": "\n".join(seen), "log": d.log}
    for name, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in the {name}"
    assert "scrypt$" not in haystacks["responses"]
    assert "failed admin login" in d.log  # the log did record the attempts, without them
    # The key file the daemon wrote itself (under umask 0): owner only, in a 0700 directory.
    written = state / "secrets" / "ssapi.key"
    assert written.read_text().strip() == dashboard_key
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
