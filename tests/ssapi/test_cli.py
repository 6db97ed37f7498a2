"""`micboardd poll`: every configured source once, as text or JSON, with a useful exit code."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path

from micboardd.cli.poll import add_poll_arguments, run_poll
from micboardd.sim.fake_ssapi import FakeSystemApi
from micboardd.sim.receiver import SimReceiver
from micboardd.ssapi.runtime import KEY_FILE_NAME, URL_SETTING
from micboardd.store.database import Store
from micboardd.store.secret_files import SECRETS_DIR

from .conftest import write_key


def poll_args(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_poll_arguments(parser)
    return parser.parse_args(list(extra))


async def poll(*extra: str) -> tuple[int, str]:
    out = io.StringIO()
    # run_poll owns its event loop (asyncio.run): give it a thread, the fakes stay in ours.
    code = await asyncio.to_thread(run_poll, poll_args(*extra), out, configure_logging=False)
    return code, out.getvalue()


def base_flags(tmp_path: Path, api: FakeSystemApi, key: Path) -> list[str]:
    config = tmp_path / "empty.toml"
    config.write_text("")
    return [
        "--config",
        str(config),
        "--state-dir",
        str(tmp_path / "state"),
        "--ssapi-url",
        api.url,
        "--ssapi-key-file",
        str(key),
        "--timeout",
        "8",
    ]


async def test_poll_once_as_json(fake: FakeSystemApi, key_file: Path, tmp_path: Path) -> None:
    async with SimReceiver("ULXD4", "127.0.0.1", 0) as rx:
        code, text = await poll(
            *base_flags(tmp_path, fake, key_file), "--receiver", rx.address, "--json"
        )
    report = json.loads(text)
    assert code == 0, report
    assert report["system_api"]["health"]["status"] == "healthy"
    assert {d["model"] for d in report["system_api"]["devices"]} == {
        "ADTQ",
        "ADTD",
        "ULXD1",
        "SBC220",
    }
    sources = {r["receiver_id"]: r["source"] for r in report["receivers"]}
    assert sources[rx.address] == "receiver"
    assert sorted(sources.values()).count("system_api") == 4
    pack = next(d for d in report["devices"] if d["name"] == "Pastor pack")
    assert pack["battery_level"] == 80 and pack["charging"] is True


async def test_poll_text_and_a_refused_key(fake: FakeSystemApi, tmp_path: Path) -> None:
    good = write_key(tmp_path / "good.key", fake.api_key)
    code, text = await poll(*base_flags(tmp_path, fake, good))
    assert code == 0 and "healthy" in text and "ADTQ" in text and "Pastor pack" in text
    bad = write_key(tmp_path / "bad.key", "wrong")
    code, text = await poll(*base_flags(tmp_path, fake, bad))
    assert code == 1 and "down" in text and "API key was refused" in text
    assert "wrong" not in text.replace("wrong key", "")


async def test_poll_refuses_an_insecure_key_file(fake: FakeSystemApi, tmp_path: Path) -> None:
    loose = write_key(tmp_path / "loose.key", fake.api_key, mode=0o644)
    code, text = await poll(*base_flags(tmp_path, fake, loose))
    assert code == 2 and text == ""


async def test_poll_uses_the_system_api_saved_from_the_dashboard(
    fake: FakeSystemApi, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    store = Store(state / "micboardd.db")
    await store.open()
    try:
        await store.set_setting(URL_SETTING, fake.url)
    finally:
        await store.close()
    settings_dir = state / SECRETS_DIR
    settings_dir.mkdir(mode=0o700)
    write_key(settings_dir / KEY_FILE_NAME, fake.api_key)
    config = tmp_path / "empty.toml"
    config.write_text("")
    code, text = await poll(
        "--config", str(config), "--state-dir", str(state), "--timeout", "8", "--json"
    )  # no --ssapi-url: what the dashboard saved, as the daemon would
    report = json.loads(text)
    assert code == 0, report
    assert report["system_api"]["health"]["status"] == "healthy"
    assert "ADTQ" in {d["model"] for d in report["system_api"]["devices"]}
