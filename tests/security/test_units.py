"""The pieces on their own: hashing, tokens, throttling, origin checks, secret files, config,
and the app in this process (structured log fields, the Secure cookie over HTTPS)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from micboardd.auth import passwords as auth_module
from micboardd.auth.passwords import (
    ADMIN_HASH_KEY,
    LOCKOUT_FIRST_S,
    LOCKOUT_MAX_S,
    MAX_FAILURES,
    MAX_TRACKED_CLIENTS,
    Auth,
    LoginLimiter,
    TokenSigner,
    check_password,
    check_pin,
    hash_secret,
    verify_secret,
)
from micboardd.config import resolve
from micboardd.errors import ConfigError
from micboardd.store.secret_files import loose_permissions, write_secret_file
from micboardd.web.app import create_app
from micboardd.web.context import AppContext
from micboardd.web.security import (
    READ_ONLY_WS_COMMANDS,
    redact_health,
    same_origin,
    ws_command_refusal,
)

from .admin import ADMIN_PASSWORD
from .routes import build_app_context


def test_hashes_verify_in_constant_form_and_keep_their_parameters() -> None:
    encoded = hash_secret("hunter2 but longer")
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "32768", "8", "1")
    assert len(salt) >= 20 and len(digest) >= 40
    assert verify_secret("hunter2 but longer", encoded)
    assert not verify_secret("hunter2 but longeR", encoded)
    assert hash_secret("same") != hash_secret("same")  # salted
    for broken in ("", "md5$x", "scrypt$1$8$1$!!$!!", "scrypt$abc$8$1$AA$AA", encoded[:-4]):
        assert not verify_secret("anything", broken)


def test_password_and_pin_rules() -> None:
    assert check_password("short") and check_password("x" * 2000)
    assert check_password("eight ch") is None
    assert check_pin("1234") is None and check_pin("123456789012") is None
    for bad in ("123", "1234567890123", "12a4", "١٢٣٤", " 1234", ""):
        assert check_pin(bad), bad


def test_tokens_are_signed_and_tamper_evident() -> None:
    signer = TokenSigner(b"k" * 32)
    session = signer.issue("viewer", 60, "fp", now=1000.0)
    read = signer.read(session.token)
    assert read is not None and read[0].role == "viewer" and read[1] == "fp"
    assert read[0].csrf == session.csrf and session.csrf != session.sid
    forged = session.token.replace(".viewer.", ".admin.")
    assert signer.read(forged) is None
    assert TokenSigner(b"o" * 32).read(session.token) is None
    for junk in ("", "v1", "a.b.c.d.e.f", session.token + "x", "v2" + session.token[2:]):
        assert signer.read(junk) is None


def test_limiter_locks_out_doubles_and_forgets() -> None:
    now = [0.0]
    limiter = LoginLimiter(clock=lambda: now[0])
    for _ in range(MAX_FAILURES - 1):
        assert limiter.failed("a") == 0
    assert limiter.failed("a") == LOCKOUT_FIRST_S
    assert limiter.locked_for("a") == LOCKOUT_FIRST_S and limiter.locked_for("b") == 0
    now[0] += LOCKOUT_FIRST_S
    assert limiter.locked_for("a") == 0
    assert limiter.failed("a") == 2 * LOCKOUT_FIRST_S  # one more miss: locked again, longer
    for _ in range(20):
        now[0] += LOCKOUT_MAX_S
        lock = limiter.failed("a")
    assert lock == LOCKOUT_MAX_S
    limiter.succeeded("a")
    assert limiter.locked_for("a") == 0 and limiter.failed("a") == 0
    for i in range(MAX_TRACKED_CLIENTS + 100):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._clients) <= MAX_TRACKED_CLIENTS


def test_same_origin_rules() -> None:
    allowed = ("https://kiosk.example",)
    ok = [
        {"host": "box:8058"},  # a script: no Origin, no Referer
        {"host": "box:8058", "origin": "http://box:8058"},
        {"host": "BOX:8058", "origin": "http://box:8058/"},
        {"host": "box", "origin": "https://kiosk.example"},
        {"host": "box:8058", "referer": "http://box:8058/#view=edit"},
    ]
    bad = [
        {"host": "box:8058", "origin": "http://evil:8058"},
        {"host": "box:8058", "origin": "null"},
        {"host": "box:8058", "origin": "http://box:9999"},
        {"host": "box:8058", "referer": "http://evil/x"},
        {"host": "box:8058", "origin": "http://evil", "referer": "http://box:8058/"},
    ]
    for headers in ok:
        assert same_origin(headers, allowed), headers
    for headers in bad:
        assert not same_origin(headers, allowed), headers


def test_ws_command_guard() -> None:
    signer = TokenSigner(b"k" * 32)
    admin = signer.issue("admin", 60, "fp", now=9e9 - 120)
    viewer = signer.issue("viewer", 60, "fp", now=9e9 - 120)
    expired = signer.issue("admin", 60, "fp", now=0)
    for kind in READ_ONLY_WS_COMMANDS:
        assert ws_command_refusal(None, kind) is None
    assert ws_command_refusal(admin, "set_name") is None
    for who in (None, viewer, expired):
        refusal = ws_command_refusal(who, "set_name")
        assert refusal and "admin login" in refusal


def test_health_for_strangers_names_no_receiver() -> None:
    health = {
        "status": "ok",
        "discovery": {
            "slp": {"interfaces": ["10.1.2.3"]},
            "mdns": {"advertised_as": "box.local"},
            "packets": 3,
            "devices": [{"address": "10.1.2.50"}],
            "rejections": [{"address": "10.1.2.60", "reason": "no answer on port 2202"}],
        },
    }
    slim = redact_health(health)
    assert slim["discovery"] == {"packets": 3, "devices": 1, "rejections": 1}
    assert "10.1.2" not in str(slim) and "10.1.2.50" in str(health)


def test_secret_files_are_0600_and_replaced_atomically(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the widest umask: the mode must not depend on it
    try:
        path = write_secret_file(tmp_path, "ssapi.key", "first")
        assert path.read_text() == "first"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
        assert write_secret_file(tmp_path, "ssapi.key", b"second") == path
        assert path.read_text() == "second" and not loose_permissions(path)
        assert [p.name for p in path.parent.iterdir()] == ["ssapi.key"]  # no temp left
    finally:
        os.umask(old_umask)
    path.chmod(0o644)
    assert loose_permissions(path)
    for bad in ("", "../x", ".hidden", "a/b"):
        with pytest.raises(ValueError):
            write_secret_file(tmp_path, bad, "x")


def test_tls_settings_come_in_pairs(tmp_path: Path) -> None:
    s = resolve({"tls_cert_file": "/c.pem", "tls_key_file": "/k.pem"}, environ={})
    assert s.tls_cert_file == Path("/c.pem") and s.tls_key_file == Path("/k.pem")
    with pytest.raises(ConfigError, match="tls_key_file"):
        resolve({"tls_cert_file": "/c.pem"}, environ={})
    with pytest.raises(ConfigError, match="tls_cert_file"):
        resolve({}, environ={"MICBOARDD_TLS_KEY_FILE": "/k.pem"})


# ------------------------------------------------------------------------------ in-process app


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[AppContext]:
    context = build_app_context(tmp_path)
    await context.store.open()
    await context.store.set_setting(ADMIN_HASH_KEY, hash_secret(ADMIN_PASSWORD))
    yield context
    await context.store.close()


def client(context: AppContext, base_url: str) -> httpx.AsyncClient:
    # In this event loop (the store's connection lives here), not in a portal thread.
    app: Any = create_app(context)  # httpx's ASGI type is narrower than Litestar's signature
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def test_login_log_records_carry_the_address_as_a_field_and_never_the_password(
    ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with client(ctx, "http://micboard.local") as c:
        for i in range(MAX_FAILURES + 1):
            await c.post("/api/login", json={"password": f"{ADMIN_PASSWORD} {i}"})
    records = [r for r in caplog.records if r.name == "micboardd.web.security"]
    failed = [r for r in records if "failed admin login" in r.getMessage()]
    locked = [r for r in records if "locked out" in r.getMessage()]
    assert len(failed) == MAX_FAILURES - 1 and len(locked) == 1
    for record in failed + locked:
        assert record.levelno == logging.WARNING
        assert record.__dict__["REMOTE_ADDR"] == "127.0.0.1"  # journald field REMOTE_ADDR=
    assert locked[0].__dict__["LOCKOUT_S"] == LOCKOUT_FIRST_S
    for record in caplog.records:
        assert ADMIN_PASSWORD not in record.getMessage() + repr(record.args)


async def test_cookie_is_secure_over_https(ctx: AppContext) -> None:
    async with client(ctx, "https://micboard.local") as c:
        r = await c.post("/api/login", json={"password": ADMIN_PASSWORD})
        assert r.status_code == 200
        assert "secure" in r.headers["set-cookie"].lower()
        assert "httponly" in r.headers["set-cookie"].lower()


async def test_expired_and_revoked_sessions_are_refused(tmp_path: Path) -> None:
    context = build_app_context(tmp_path)
    await context.store.open()
    try:
        await context.store.set_setting(ADMIN_HASH_KEY, hash_secret(ADMIN_PASSWORD))
        now = [1_000_000.0]
        auth = Auth(context.store, clock=lambda: now[0])
        result = await auth.login("1.2.3.4", password=ADMIN_PASSWORD, pin=None)
        assert result.session is not None
        assert await auth.session(result.session.token) is not None
        now[0] += auth_module.ADMIN_SESSION_S + 1
        assert await auth.session(result.session.token) is None
        now[0] -= auth_module.ADMIN_SESSION_S
        await auth.revoke(result.session)
        assert await auth.session(result.session.token) is None
        assert await auth.session("x" * 5000) is None
    finally:
        await context.store.close()


def test_system_api_frames_name_no_server_without_a_session() -> None:
    from micboardd.feed.fanout import API_CONNECTION_KEY, API_HEALTH_KEY
    from micboardd.web.security import SYSTEM_API_LABEL, redact_api_frame

    url = "https://10.9.8.7:10000/api"
    health = {
        "type": "api_health",
        "endpoint": url,
        "status": "down",
        "state": "unreachable",
        "error_count": 3,
        "message": "cannot connect to the System API server: 10.9.8.7:10000 refused",
    }
    slim = redact_api_frame(API_HEALTH_KEY + url, health)
    assert slim["endpoint"] == SYSTEM_API_LABEL and slim["status"] == "down"
    assert slim["error_count"] == 3 and "10.9.8.7" not in str(slim)
    connection = {
        "type": "connection_update",
        "source": "system_api",
        "id": url,
        "address": "10.9.8.7:10000",
        "status": "error",
        "error": health["message"],
    }
    slim = redact_api_frame(API_CONNECTION_KEY + url, connection)
    assert slim["status"] == "error" and "10.9.8.7" not in str(slim)
    receiver = {"type": "connection_update", "id": "10.1.1.5", "address": "10.1.1.5"}
    assert redact_api_frame("10.1.1.5", receiver) is receiver  # receivers are the dashboard
