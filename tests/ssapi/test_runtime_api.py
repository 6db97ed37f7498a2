"""`/api/system-api`: the System API set, changed and turned off from the dashboard, against
`micboardd run` as a real process and the fake System API over loopback HTTPS."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from micboardd.sim.fake_ssapi import FakeSystemApi
from micboardd.ssapi.options import format_fingerprint
from micboardd.ssapi.runtime import KEY_FILE_NAME

from ..conftest import DaemonFactory
from ..helpers import DaemonProcess, async_wait_for
from ..security.admin import VIEWER_PIN, admin_client, ensure_admin_password, session_client
from ..security.admin import set_secret as set_passwd
from .conftest import FakeFactory, write_key

PATH = "/api/system-api"
DEADLINE_S = 15.0  # a daemon reads the fake's inventory within a second or two


def key_file(d: DaemonProcess) -> Path:
    return d.state_dir / "secrets" / KEY_FILE_NAME


async def api_receivers(d: DaemonProcess) -> set[str]:
    rxs = await d.async_get("/api/receivers")
    return {r["receiver_id"] for r in rxs if r["source"] == "system_api"}


async def api_devices_listed(d: DaemonProcess, api: FakeSystemApi) -> bool:
    wanted = {dev.device_id.lower() for dev in api.devices}
    devs = await d.async_get("/api/devices")
    return wanted <= {x["receiver_id"] for x in devs}


async def health_status(c: httpx.AsyncClient) -> str | None:
    health = (await c.get(PATH)).json()["health"]
    return None if health is None else str(health["status"])


def stored_settings(d: DaemonProcess) -> dict[str, str]:
    with sqlite3.connect(d.state_dir / "micboardd.db") as db:
        return dict(db.execute("SELECT key, value FROM settings").fetchall())


async def start(make_daemon: DaemonFactory, *args: str) -> DaemonProcess:
    d = make_daemon(*args, wait=False)
    await d.async_wait_listening()
    return d


async def test_set_from_the_dashboard_and_kept_across_a_restart(
    make_daemon: DaemonFactory, make_fake: FakeFactory
) -> None:
    api = await make_fake()
    d = await start(make_daemon)
    async with admin_client(d) as c:
        off = (await c.get(PATH)).json()
        assert off["url"] is None and off["origin"] is None and off["health"] is None
        assert off["editable"] is True and off["key_set"] is False
        r = await c.put(PATH, json={"url": api.url, "key": api.api_key})
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        view = r.json()
        assert view["url"] == api.url and view["origin"] == "dashboard"
        assert view["key_set"] is True and view["fingerprint"] is None
        assert api.api_key not in r.text
        await async_wait_for(lambda: api_devices_listed(d, api), DEADLINE_S, "API devices")
        await async_wait_for(lambda: health_status(c), DEADLINE_S, "a health frame")
        await async_wait_for(
            lambda: _is(health_status(c), "healthy"), DEADLINE_S, "api_health healthy"
        )
        view = (await c.get(PATH)).json()
        # Trust on first use recorded the fake's certificate for its host:port.
        assert view["trusted_fingerprint"] == format_fingerprint(api.fingerprint)
        assert api.api_key not in json.dumps(view)
        report = (await c.get("/api/health")).json()
        assert [h["endpoint"] for h in report["system_api"]] == [api.url]
        # Without a session the URL (a server on the venue network) is not shown.
        anonymous = await d.async_get("/api/health")
        assert [h["endpoint"] for h in anonymous["system_api"]] == ["System API"]
        assert anonymous["system_api"][0]["status"] == "healthy"
        assert f":{api.port}" not in json.dumps(anonymous)
        async with websockets.connect(d.ws_url + "/ws/health/") as ws:
            snapshot = json.loads(await ws.recv())
        assert [h["endpoint"] for h in snapshot["api_health"]] == ["System API"]
        assert f":{api.port}" not in json.dumps(snapshot)
    path = key_file(d)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == api.api_key
    assert stored_settings(d)["ssapi_url"] == api.url
    assert api.api_key not in d.log

    d.stop()
    d.start(wait=False)
    await d.async_wait_listening()
    await async_wait_for(lambda: api_devices_listed(d, api), DEADLINE_S, "API devices again")
    async with admin_client(d) as c:
        view = (await c.get(PATH)).json()
        assert (view["url"], view["origin"], view["key_set"]) == (api.url, "dashboard", True)
        await async_wait_for(
            lambda: _is(health_status(c), "healthy"), DEADLINE_S, "healthy after restart"
        )
    assert api.api_key not in d.log
    assert "System API" in d.log  # it did log about the API, without the key


async def _is(value: Any, expected: str) -> bool:
    return bool(await value == expected)


async def test_bad_values_are_refused_and_change_nothing(
    make_daemon: DaemonFactory, make_fake: FakeFactory
) -> None:
    api = await make_fake()
    d = await start(make_daemon)
    async with admin_client(d) as c:
        before = (await c.get(PATH)).json()
        no_key = await c.put(PATH, json={"url": api.url})
        assert no_key.status_code == 422 and "a key is needed" in no_key.json()["detail"]
        cases = {
            "http://127.0.0.1:10000/api": "plain http would send the API key in clear text",
            "ftp://sapi.local/": "must be an https:// URL",
            "https://": "has no host",
            "https://user:pw@sapi.local/api": "must not carry credentials",
        }
        for url, why in cases.items():
            r = await c.put(PATH, json={"url": url, "key": api.api_key})
            assert r.status_code == 422, (url, r.text)
            assert why in r.json()["detail"], (url, r.text)
            assert api.api_key not in r.text
        bad_pin = await c.put(
            PATH, json={"url": api.url, "key": api.api_key, "fingerprint": "AB:CD"}
        )
        assert bad_pin.status_code == 422
        assert "must be a SHA-256 fingerprint" in bad_pin.json()["detail"]
        two_lines = await c.put(PATH, json={"url": api.url, "key": "abc def"})
        assert two_lines.status_code == 422 and "one line" in two_lines.json()["detail"]
        unknown = await c.put(PATH, json={"url": api.url, "key": "k", "verify": False})
        assert unknown.status_code == 400
        assert (await c.get(PATH)).json() == before
    assert not key_file(d).exists()
    assert "ssapi_url" not in stored_settings(d)
    assert not api.requests  # nothing was ever sent to the server
    assert api.api_key not in d.log


@pytest.mark.daemon_errors_expected  # it is about an error the daemon reports
async def test_a_pinned_fingerprint_and_a_new_server_restart_the_source_live(
    make_daemon: DaemonFactory, make_fake: FakeFactory
) -> None:
    first, second = await make_fake(), await make_fake()
    d = await start(make_daemon)
    async with admin_client(d) as c:
        wrong = "AB:" * 31 + "AB"
        r = await c.put(PATH, json={"url": first.url, "key": first.api_key, "fingerprint": wrong})
        assert r.status_code == 200 and r.json()["fingerprint"] == wrong
        await async_wait_for(lambda: _is(health_status(c), "down"), DEADLINE_S, "pin refused")
        assert (await c.get(PATH)).json()["health"]["state"] == "tls_mismatch"
        assert not await api_receivers(d)
        assert not any(req.key_ok for req in first.requests)  # never sent to a wrong server

        # Right fingerprint, key kept (null): the same source is replaced and answers.
        right = format_fingerprint(first.fingerprint)
        r = await c.put(PATH, json={"url": first.url, "key": None, "fingerprint": right.lower()})
        assert r.status_code == 200 and r.json()["fingerprint"] == right
        await async_wait_for(lambda: api_devices_listed(d, first), DEADLINE_S, "devices")
        await async_wait_for(lambda: _is(health_status(c), "healthy"), DEADLINE_S, "healthy")

        # Without a pin the first server's certificate is recorded on first use ...
        r = await c.put(PATH, json={"url": first.url, "fingerprint": ""})
        assert r.status_code == 200 and r.json()["fingerprint"] is None
        await async_wait_for(
            lambda: _trusted(c, first), DEADLINE_S, "first-use pin of the first server"
        )
        # ... and forgotten when the URL moves to another server (another host:port).
        second.devices = second.devices[:1]
        second.set_api_key(first.api_key)
        # The stored key was given for the first server: never sent to another host:port.
        r = await c.put(PATH, json={"url": second.url})
        assert r.status_code == 422 and "enter the key again" in r.json()["detail"], r.text
        assert (await c.get(PATH)).json()["url"] == first.url  # nothing changed
        assert not second.requests
        r = await c.put(PATH, json={"url": second.url, "key": first.api_key})
        assert r.status_code == 200, r.text
        await async_wait_for(
            lambda: _only_second(d, first, second), DEADLINE_S, "only the second server's devices"
        )
        await async_wait_for(lambda: _trusted(c, second), DEADLINE_S, "second server pinned")
        report = (await c.get("/api/health")).json()
        assert [h["endpoint"] for h in report["system_api"]] == [second.url]
    pins = [k for k in stored_settings(d) if k.startswith("ssapi_tls_sha256:")]
    assert pins == [f"ssapi_tls_sha256:127.0.0.1:{second.port}"]


async def _trusted(c: httpx.AsyncClient, api: FakeSystemApi) -> bool:
    view = (await c.get(PATH)).json()
    return bool(view["trusted_fingerprint"] == format_fingerprint(api.fingerprint))


async def _only_second(d: DaemonProcess, first: FakeSystemApi, second: FakeSystemApi) -> bool:
    return await api_receivers(d) == {dev.device_id.lower() for dev in second.devices}


async def test_turning_it_off_removes_its_devices_and_forgets_url_and_key(
    make_daemon: DaemonFactory, make_fake: FakeFactory
) -> None:
    api = await make_fake()
    d = await start(make_daemon)
    async with admin_client(d) as c:
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        ws = await websockets.connect(
            d.ws_url + "/ws/health/", additional_headers={"Cookie": cookie}
        )
        assert (await c.put(PATH, json={"url": api.url, "key": api.api_key})).status_code == 200
        await async_wait_for(lambda: api_devices_listed(d, api), DEADLINE_S, "API devices")
        r = await c.delete(PATH)
        # Dashboards already watching hear it once, as "disabled" (and drop it).
        async with asyncio.timeout(DEADLINE_S):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "api_health" and frame["status"] == "disabled":
                    assert frame["endpoint"] == api.url
                    break
        assert r.status_code == 200, r.text
        view = r.json()
        assert (view["url"], view["origin"], view["key_set"]) == (None, None, False)
        assert view["health"]["status"] == "disabled"
        assert view["health"]["endpoint"] == api.url
        # Stopped and taken back at once: no device of the API stays, stale or not.
        assert not await api_receivers(d)
        devs = await d.async_get("/api/devices")
        assert not {x["receiver_id"] for x in devs} & {x.device_id for x in api.devices}
        assert (await d.async_get("/api/health"))["system_api"] == []
        asked = len(api.requests)
        assert (await c.delete(PATH)).status_code == 200  # already off: still fine
        await ws.close()
    assert not key_file(d).exists()
    assert not {"ssapi_url", "ssapi_fingerprint"} & set(stored_settings(d))
    assert not [k for k in stored_settings(d) if k.startswith("ssapi_tls_sha256:")]
    d.stop()
    d.start(wait=False)
    await d.async_wait_listening()
    async with admin_client(d) as c:
        assert (await c.get(PATH)).json()["origin"] is None
    assert not await api_receivers(d)
    assert len(api.requests) == asked  # nothing asked of the server after turning it off


async def test_the_configuration_file_wins(
    make_daemon: DaemonFactory, make_fake: FakeFactory, tmp_path: Path
) -> None:
    api = await make_fake()
    key = write_key(tmp_path / "sharedkey.txt", api.api_key)
    pin = format_fingerprint(api.fingerprint)
    d = await start(
        make_daemon,
        *("--ssapi-url", api.url, "--ssapi-key-file", str(key), "--ssapi-fingerprint", pin),
    )
    async with admin_client(d) as c:
        view = (await c.get(PATH)).json()
        assert (view["url"], view["origin"], view["editable"]) == (api.url, "config", False)
        assert view["fingerprint"] == pin and view["key_set"] is True
        for r in (await c.put(PATH, json={"url": api.url, "key": "x"}), await c.delete(PATH)):
            assert r.status_code == 409, r.text
            assert "/etc/micboardd/micboardd.toml" in r.json()["detail"]
        await async_wait_for(lambda: api_devices_listed(d, api), DEADLINE_S, "API devices")
        await async_wait_for(lambda: _is(health_status(c), "healthy"), DEADLINE_S, "healthy")
    assert not key_file(d).exists()


async def test_only_the_admin_sees_or_changes_it(
    make_daemon: DaemonFactory, make_fake: FakeFactory
) -> None:
    api = await make_fake()
    d = await start(make_daemon)
    body = {"url": api.url, "key": api.api_key}
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as anon:
        # No admin password yet: nobody can, and the answer says how to set one.
        r = await anon.get(PATH)
        assert r.status_code == 403 and "micboardd passwd" in r.json()["detail"]
        await ensure_admin_password(d)
        await set_passwd(d.state_dir, VIEWER_PIN, "--viewer-pin")
        assert (await anon.get(PATH)).status_code == 401
        assert (await anon.put(PATH, json=body)).status_code == 401
        assert (await anon.delete(PATH)).status_code == 401
    async with session_client(d.url, pin=VIEWER_PIN) as viewer:
        assert (await viewer.get("/api/devices")).status_code == 200  # a real viewer session
        for r in (
            await viewer.get(PATH),
            await viewer.put(PATH, json=body),
            await viewer.delete(PATH),
        ):
            assert r.status_code == 403, r.text
    async with admin_client(d, csrf=False) as no_csrf:
        assert (await no_csrf.get(PATH)).status_code == 200  # reading needs no token
        assert (await no_csrf.put(PATH, json=body)).status_code == 403
    assert not key_file(d).exists()
    assert not api.requests


@pytest.mark.daemon_errors_expected  # it is about an error the daemon reports
async def test_stored_settings_that_cannot_start_are_explained_not_fatal(
    make_daemon: DaemonFactory, make_fake: FakeFactory
) -> None:
    api = await make_fake()
    d = await start(make_daemon)
    async with admin_client(d) as c:
        assert (await c.put(PATH, json={"url": api.url, "key": api.api_key})).status_code == 200
    d.stop()
    key_file(d).unlink()  # lost (a restored backup without secrets/, say)
    d.start(wait=False)
    await d.async_wait_listening()  # the daemon comes up all the same
    async with admin_client(d) as c:
        view = (await c.get(PATH)).json()
        assert (view["origin"], view["key_set"]) == ("dashboard", False)
        assert "ssapi_key_file cannot read" in view["error"]
        assert not await api_receivers(d)
        # Saving the key again fixes it, live.
        r = await c.put(PATH, json={"url": api.url, "key": api.api_key})
        assert r.status_code == 200 and r.json()["error"] is None
        await async_wait_for(lambda: api_devices_listed(d, api), DEADLINE_S, "API devices")
    assert "System API from the dashboard (Edit > Settings) not started" in d.log
