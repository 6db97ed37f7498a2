"""The SSCv2 password as a setting: the flag, the dashboard (stored 0600, never shown back),
and which one wins."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from micboardd.config import resolve
from micboardd.errors import ConfigError
from micboardd.sennheiser.sscv2_trust import PasswordBook, read_password_file

from ..conftest import DaemonFactory
from ..security.admin import admin_client

SECRET = "s3cret-stage"


def secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_password_file_is_a_setting_of_every_layer(tmp_path: Path) -> None:
    shared = secret_file(tmp_path / "pw", SECRET + "\n")
    flag = resolve({"sscv2_password_file": str(shared)}, environ={})
    assert flag.sscv2_password_file == shared
    env = resolve({}, environ={"MICBOARDD_SSCV2_PASSWORD_FILE": str(shared)})
    assert env.sscv2_password_file == shared
    assert read_password_file(shared).reveal() == SECRET


def test_a_password_file_others_can_read_is_refused(tmp_path: Path) -> None:
    loose = secret_file(tmp_path / "pw", SECRET, 0o644)
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        read_password_file(loose)
    assert SECRET not in str(caught.value)


def test_a_receivers_own_password_wins_over_the_shared_one(tmp_path: Path) -> None:
    shared = secret_file(tmp_path / "shared", "for-all")
    book = PasswordBook(tmp_path, shared)
    assert book.password_for("10.0.0.5", 443) == read_password_file(shared)
    own = book.device_file("10.0.0.5", 443)
    own.parent.mkdir(mode=0o700)
    secret_file(own, "only-this-one")
    found = book.password_for("10.0.0.5", 443)
    assert found is not None and found.reveal() == "only-this-one"
    assert "only-this-one" not in repr(found)
    other = book.password_for("10.0.0.6", 443)
    assert other is not None and other.reveal() == "for-all"


async def test_the_dashboard_stores_the_password_0600_and_never_shows_it(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    d = make_daemon("--no-discovery", wait=False)
    await d.async_wait_listening()
    async with admin_client(d) as c:
        before = (await c.get("/api/settings")).json()
        assert before["sscv2_password_set"] is False and before["sscv2_password_editable"]
        r = await c.put("/api/settings", json={"sscv2_password": SECRET})
        assert r.status_code == 200, r.text
        assert r.json()["sscv2_password_set"] is True and SECRET not in r.text
        stored = tmp_path / "state" / "secrets" / "sscv2.password"
        assert stored.read_text() == SECRET + "\n"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert SECRET not in (await c.get("/api/settings")).text
        bad = await c.put("/api/settings", json={"sscv2_password": "two\nlines"})
        assert bad.status_code == 422 and stored.read_text() == SECRET + "\n"
        r = await c.put("/api/settings", json={"sscv2_password": ""})
        assert r.json()["sscv2_password_set"] is False and not stored.exists()


async def test_a_configured_password_file_wins_and_the_dashboard_cannot_change_it(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    shared = secret_file(tmp_path / "pw", SECRET)
    d = make_daemon("--no-discovery", "--sscv2-password-file", str(shared), wait=False)
    await d.async_wait_listening()
    async with admin_client(d) as c:
        view = (await c.get("/api/settings")).json()
        assert view["sscv2_password_set"] is True and view["sscv2_password_editable"] is False
        r = await c.put("/api/settings", json={"sscv2_password": "other"})
        assert r.status_code == 409 and "sscv2_password_file" in r.text
    assert shared.read_text() == SECRET
