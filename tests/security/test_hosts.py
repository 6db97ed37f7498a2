"""Whose requests these are: the Host allow-list (DNS rebinding), the full origin (scheme
included), and X-Forwarded-For believed only from configured proxies, against the daemon as
a real process over loopback."""

from __future__ import annotations

import socket

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from micboardd.auth.passwords import MAX_FAILURES
from micboardd.web.hosts import HostAllowList, origin_of, split_host

from ..conftest import DaemonFactory
from .admin import ADMIN_PASSWORD, CSRF_HEADER, set_secret
from .lan import CREW, client_from


async def ws_status(port: int, path: str, origin: str, host: str = "127.0.0.1") -> int:
    """101 when the handshake is accepted, else the refusal's status. `host` is the name in
    the URL (and so in the Host header); the socket always goes to 127.0.0.1."""
    try:
        async with websockets.connect(
            f"ws://{host}:{port}{path}",
            host="127.0.0.1",
            port=port,
            additional_headers={"Origin": origin},
            open_timeout=5,
        ):
            return 101
    except InvalidStatus as exc:
        return int(exc.response.status_code)


async def test_requests_for_another_host_name_are_refused(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    port = d.port
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        for host in ("evil.example", f"evil.example:{port}", "10.255.255.1", "micboard.evil"):
            r = await c.get("/api/devices", headers={"Host": host})
            assert r.status_code == 400, (host, r.status_code)
            assert "allowed_hosts" in r.text and r.headers["x-frame-options"] == "DENY"
        r = await c.get("/", headers={"Host": "evil.example"})  # the dashboard too
        assert r.status_code == 400
        names = [
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            "micboard.local",
            f"micboard-3.local:{port}",
            "MICBOARD.LOCAL.",
            f"{socket.gethostname()}:{port}",
            f"[::1]:{port}",
        ]
        for host in names:
            r = await c.get("/api/devices", headers={"Host": host})
            assert r.status_code == 200, (host, r.status_code)
    # DNS rebinding: the page on evil.example, now resolving to the box, opens a WebSocket.
    evil = f"http://evil.example:{port}"
    assert await ws_status(port, "/ws/devices/", evil, host="evil.example") == 403
    ours = f"http://micboard.local:{port}"
    assert await ws_status(port, "/ws/devices/", ours, host="micboard.local") == 101
    assert sum("refused a request for host" in line for line in d.lines) == 1  # once a minute


async def test_configured_host_names_are_served(make_daemon: DaemonFactory) -> None:
    d = make_daemon("--allowed-host", "foh.venue.lan", "--allowed-host", "Stage.Venue.LAN.")
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        for host in ("foh.venue.lan", f"stage.venue.lan:{d.port}"):
            assert (await c.get("/api/devices", headers={"Host": host})).status_code == 200
        r = await c.get("/api/devices", headers={"Host": "venue.lan"})
        assert r.status_code == 400


async def test_the_origin_must_match_scheme_host_and_port(make_daemon: DaemonFactory) -> None:
    d = make_daemon("--allowed-origin", "https://kiosk.venue.lan")
    await set_secret(d.state_dir)
    port = d.port
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        login = await c.post("/api/login", json={"password": ADMIN_PASSWORD})
        c.headers[CSRF_HEADER] = login.json()["csrf_token"]
        for origin, status in (
            (f"https://127.0.0.1:{port}", 403),  # same host and port, another scheme
            (f"http://127.0.0.1:{port + 1}", 403),
            ("http://kiosk.venue.lan", 403),  # the allowed origin is https
            (f"http://127.0.0.1:{port}", 201),
            ("https://kiosk.venue.lan", 201),
        ):
            r = await c.post("/api/groups", json={"title": "x"}, headers={"Origin": origin})
            assert r.status_code == status, (origin, r.text)
    assert await ws_status(port, "/ws/health/", f"https://127.0.0.1:{port}") == 403
    assert await ws_status(port, "/ws/health/", f"http://127.0.0.1:{port}") == 101


async def test_forwarded_for_is_not_believed_by_default(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    await set_secret(d.state_dir)
    # From 127.0.0.1 (uvicorn's own default believes loopback): a local process, or a guest
    # reaching the box through something on it, names a new address with every guess.
    async with client_from(d, CREW) as guest:
        codes = [
            (
                await guest.post(
                    "/api/login",
                    json={"password": f"guess {i}"},
                    headers={"X-Forwarded-For": f"10.9.8.{i}"},
                )
            ).status_code
            for i in range(MAX_FAILURES + 1)
        ]
    assert codes == [401] * (MAX_FAILURES - 1) + [429, 429], codes
    assert not [line for line in d.lines if "10.9.8." in line]


async def test_forwarded_for_from_a_configured_proxy(make_daemon: DaemonFactory) -> None:
    """Behind a configured proxy, each forwarded address has its own count."""
    p = make_daemon("--trusted-proxy", "127.0.0.0/24")
    await set_secret(p.state_dir)
    async with httpx.AsyncClient(base_url=p.url, timeout=10) as proxy:
        for _ in range(MAX_FAILURES):
            await proxy.post(
                "/api/login", json={"password": "wrong"}, headers={"X-Forwarded-For": "10.9.8.1"}
            )
        r = await proxy.post(
            "/api/login", json={"password": ADMIN_PASSWORD}, headers={"X-Forwarded-For": "10.9.8.2"}
        )
        assert r.status_code == 200, r.text
        r = await proxy.post(
            "/api/login", json={"password": ADMIN_PASSWORD}, headers={"X-Forwarded-For": "10.9.8.1"}
        )
        assert r.status_code == 429, r.text
    assert any("10.9.8.1" in line for line in p.lines)


def test_host_and_origin_parsing() -> None:
    assert split_host("Box.Local.:8058") == ("box.local", 8058)
    assert split_host("[fe80::1]:80") == ("fe80::1", 80)
    assert split_host("box") == ("box", None)
    assert origin_of("http://Box:80/page?x") == "http://box"
    assert origin_of("https://box:443") == "https://box"
    assert origin_of("https://box:8443") == "https://box:8443"
    assert origin_of("null") is None and origin_of("file:///x") is None
    listed = [frozenset({"127.0.0.1", "::1"})]
    allow = HostAllowList(
        ["stage.lan"], addresses=lambda: listed[-1], clock=iter(range(0, 10_000, 60)).__next__
    )
    assert allow.allowed("stage.lan:80") and allow.allowed(None) and allow.allowed("[::1]")
    assert not allow.allowed("192.0.2.7") and not allow.allowed("")
    listed.append(frozenset({"192.0.2.7"}))  # DHCP gave the box a new address
    assert allow.allowed("192.0.2.7")


@pytest.mark.parametrize("bad", ["", "http://x", "a b", "x:80", "a/b"])
def test_allowed_hosts_setting_refuses_what_is_not_a_name(bad: str) -> None:
    from micboardd.config import resolve
    from micboardd.errors import ConfigError

    with pytest.raises(ConfigError, match="allowed_hosts"):
        resolve({"allowed_hosts": [bad]}, environ={})
