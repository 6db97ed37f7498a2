"""Placeholders and performer photos over REST and the WebSocket, on a real daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import websockets

from micboardd.tiles.photo_check import PHOTO_MAX_BYTES
from tests.conftest import DaemonFactory
from tests.helpers import daemon_env
from tests.images import jpeg_header, png, webp_vp8x_header
from tests.security.admin import VIEWER_PIN, admin_client, session_client, set_secret

READINGS = ("battery_level", "battery_bars", "rf_signal", "audio_level", "frequency_mhz")


async def test_placeholder_lifecycle(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    async with admin_client(d) as c:
        assert (await c.get("/api/placeholders")).json() == []
        r = await c.post(
            "/api/placeholders", json={"label": " BP14 ", "name": "Spare IEM", "model": "PSM900"}
        )
        assert r.status_code == 201, r.text
        spare = r.json()
        assert spare == {
            "id": 1,
            "device_id": "placeholder:1",
            "label": "BP14",
            "name": "Spare IEM",
            "model": "PSM900",
        }
        r = await c.post("/api/placeholders", json={"label": "G3 #2"})
        assert r.status_code == 201 and r.json()["device_id"] == "placeholder:2"

        # A device like any other, that nothing ever feeds: unmonitored, never OK.
        dev = (await c.get("/api/devices/placeholder:1")).json()
        assert dev["status"] == "unmonitored"
        assert (dev["performer"], dev["name"], dev["model"]) == ("Spare IEM", "BP14", "PSM900")
        assert dev["receiver_id"] is None and dev["channel"] is None
        assert all(dev[k] is None for k in READINGS)
        assert (await c.get("/api/devices/placeholder:2")).json()["performer"] is None

        # In a group, next to receivers' channels.
        r = await c.post("/api/groups", json={"title": "Rack", "slots": ["placeholder:1", None]})
        gid = r.json()["id"]
        assert (await c.get("/api/devices/placeholder:1")).json()["group"] == "Rack"
        async with websockets.connect(d.ws_url + "/ws/devices/") as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "group": str(gid)}))
            init = json.loads(await ws.recv())
            assert [x["device_id"] for x in init["devices"]] == ["placeholder:1"]
            assert init["devices"][0]["status"] == "unmonitored"

            # Renamed: the change reaches the socket.
            r = await c.put("/api/placeholders/1", json={"label": "BP14", "name": "Dave"})
            assert r.status_code == 200 and r.json()["model"] == ""
            update = json.loads(await ws.recv())
            assert update["type"] == "device_update" and update["performer"] == "Dave"
            assert update["status"] == "unmonitored"

        # Its name is its own: the performer endpoint points there.
        r = await c.put("/api/devices/placeholder:1/performer", json={"performer": "x"})
        assert r.status_code == 409 and "/api/placeholders/1" in r.json()["detail"]
        # Nothing to send commands to.
        assert (await c.post("/api/devices/placeholder:1/identify")).status_code == 404

        bads: list[dict[str, Any]] = [
            {},
            {"label": "  ", "name": ""},
            {"label": "x" * 17},
            {"name": "x" * 65},
            {"model": "x" * 33, "name": "ok"},
            {"name": "ok", "colour": "red"},
            {"name": 5},
        ]
        for bad in bads:
            r = await c.post("/api/placeholders", json=bad)
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["detail"]
        assert (await c.put("/api/placeholders/99", json={"name": "x"})).status_code == 404
        assert (await c.delete("/api/placeholders/99")).status_code == 404
        assert len((await c.get("/api/placeholders")).json()) == 2

    d.stop()
    d.start()
    async with admin_client(d) as c:
        dev = (await c.get("/api/devices/placeholder:1")).json()
        assert (dev["performer"], dev["group"], dev["status"]) == ("Dave", "Rack", "unmonitored")
        # Deleted: off the board, out of its groups.
        assert (await c.delete("/api/placeholders/1")).status_code == 204
        assert (await c.get("/api/devices/placeholder:1")).status_code == 404
        group = next(g for g in (await c.get("/api/groups")).json() if g["id"] == gid)
        assert group["slots"] == [None]
        assert [p["id"] for p in (await c.get("/api/placeholders")).json()] == [2]


async def test_a_viewer_never_changes_placeholders_or_photos(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    async with admin_client(d) as c:
        assert (await c.post("/api/placeholders", json={"name": "Spare"})).status_code == 201
    async with httpx.AsyncClient(base_url=d.url) as anon:
        assert (await anon.post("/api/placeholders", json={"name": "x"})).status_code == 401
        r = await anon.put("/api/devices/placeholder:1/photo", content=png())
        assert r.status_code == 401
        # Refused before the body is read: a huge upload is still 401, not 413.
        r = await anon.put(
            "/api/devices/placeholder:1/photo", content=b"\xff" * (PHOTO_MAX_BYTES + 10)
        )
        assert r.status_code == 401
    await set_secret(d.state_dir, VIEWER_PIN, "--viewer-pin")
    async with session_client(d.url, pin=VIEWER_PIN) as viewer:
        r = await viewer.put("/api/devices/placeholder:1/photo", content=png())
        assert r.status_code == 403, r.text
        assert (await viewer.delete("/api/placeholders/1")).status_code == 403
        assert (await viewer.get("/api/devices/placeholder:1")).json()["photo"] is None
        assert (await viewer.get("/api/devices/placeholder:1/photo")).status_code == 404


async def test_photo_upload_serve_replace_refuse_delete(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    first = png(64, 48, (10, 120, 200))
    async with admin_client(d) as c:
        await c.post("/api/placeholders", json={"name": "Anna"})
        url = "/api/devices/placeholder:1/photo"
        assert (await c.get(url)).status_code == 404
        r = await c.put(url, content=first, headers={"content-type": "image/gif"})  # ignored
        assert r.status_code == 200, r.text
        meta = r.json()
        assert meta["content_type"] == "image/png" and (meta["width"], meta["height"]) == (64, 48)
        assert meta["size"] == len(first)
        version = meta["version"]
        assert (await c.get("/api/devices/placeholder:1")).json()["photo"] == version

        r = await c.get(url)
        assert r.status_code == 200 and r.content == first
        assert r.headers["content-type"] == "image/png"
        assert r.headers["etag"] == f'"{version}"'
        assert r.headers["cache-control"] == "private, no-cache"
        assert "content-encoding" not in r.headers
        r = await c.get(url, params={"v": version})
        assert "immutable" in r.headers["cache-control"]
        r = await c.get(url, headers={"if-none-match": f'"{version}"'})
        assert r.status_code == 304 and r.content == b""

        # Refused uploads: a clear reason, the photo unchanged.
        refused = [
            (b"GIF89a" + b"\x00" * 50, 415, "JPEG, PNG or WebP"),
            (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 400, "damaged PNG"),
            (jpeg_header(20000, 100), 400, "20000x100"),
            (b"", 400, "empty"),
            (png() + b"\x00" * PHOTO_MAX_BYTES, 413, "2 MiB"),
        ]
        for body, status, words in refused:
            r = await c.put(url, content=body)
            assert r.status_code == status, (status, r.text)
            assert words in r.json()["detail"], r.text
            assert (await c.get(url)).content == first
            assert (await c.get("/api/devices/placeholder:1")).json()["photo"] == version
        r = await c.put("/api/devices/nope:1/photo", content=png())
        assert r.status_code == 404

        # Replaced by a WebP (only its header matters to the box).
        webp = webp_vp8x_header(800, 600) + b"\x00" * 64
        r = await c.put(url, content=webp)
        assert r.status_code == 200 and r.json()["content_type"] == "image/webp"
        new_version = r.json()["version"]
        assert new_version != version
        assert (await c.get(url)).headers["content-type"] == "image/webp"

    d.stop()
    d.start()  # kept in the database
    async with admin_client(d) as c:
        assert (await c.get("/api/devices/placeholder:1")).json()["photo"] == new_version
        assert (await c.get(url)).content == webp
        assert (await c.delete(url)).status_code == 204
        assert (await c.delete(url)).status_code == 404
        assert (await c.get(url)).status_code == 404
        assert (await c.get("/api/devices/placeholder:1")).json()["photo"] is None
        # A placeholder's photo goes with it.
        assert (await c.put(url, content=first)).status_code == 200
        assert (await c.delete("/api/placeholders/1")).status_code == 204
        await c.post("/api/placeholders", json={"name": "Next"})  # gets id 1 again
        assert (await c.get(url)).status_code == 404


async def test_micboard_offline_slots_arrive_as_placeholder_tiles(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    # Only offline slots: the daemon must not try to reach a real venue's addresses.
    config = Path(__file__).parents[1] / "packaging" / "fixtures" / "offline_slots.json"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "micboardd",
            "import-micboard",
            str(config),
            "--state-dir",
            str(state),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=daemon_env(),
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "placeholders (offline slots): 2 new" in out.stdout
    d = make_daemon(state_dir=state)
    devices = {x["device_id"]: x for x in await d.async_get("/api/devices")}
    assert set(devices) == {"placeholder:11", "placeholder:13"}
    drums = devices["placeholder:13"]
    assert (drums["performer"], drums["name"], drums["group"]) == ("Drums", "IEM 3", "Band")
    assert drums["status"] == "unmonitored"
    assert devices["placeholder:11"]["performer"] == "Spare"
    assert (await d.async_get("/api/groups"))[0]["slots"] == [None, "placeholder:13"]
