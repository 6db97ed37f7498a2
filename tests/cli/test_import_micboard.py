"""Micboard config.json import: conversion, store writes, the command's behaviour."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from micboardd.cli import import_micboard as import_cli
from micboardd.cli.micboard_config import (
    MicboardFormatError,
    Plan,
    convert,
    load,
    performer_name,
    report,
    write,
)
from micboardd.daemon import state_dir
from micboardd.model import Family
from micboardd.store.database import Store

FIXTURE = Path(__file__).parent / "fixtures" / "micboard_config.json"


def fixture() -> Any:
    return json.loads(FIXTURE.read_text())


def reasons(plan: Plan) -> dict[str, str]:
    return {s.what: s.reason for s in plan.skipped}


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "micboardd.db"


@pytest.fixture
async def store(store_path: Path) -> Any:
    s = Store(store_path)
    await s.open()
    yield s
    await s.close()


# --- conversion ---


def test_realistic_config_converts() -> None:
    plan = convert(fixture())
    assert [(r.id, r.family) for r in plan.receivers] == [
        ("192.168.10.21", Family.ULXD),
        ("192.168.10.30", Family.AXIENT),
        ("192.168.10.41", Family.QLXD),
        ("192.168.10.50", Family.UHFR),
        ("192.168.10.60", Family.PSM1000),
    ]
    assert all(r.port == 2202 for r in plan.receivers)
    assert [c.device_id for c in plan.channels][:4] == [
        "192.168.10.21:1",
        "192.168.10.21:2",
        "192.168.10.21:3",
        "192.168.10.21:4",
    ]
    performers = {c.device_id: c.performer for c in plan.performers}
    assert performers == {
        "192.168.10.21:1": "H01 Pastor Dave",
        "192.168.10.21:2": "H02 Worship Lead",
        "192.168.10.21:3": "Choir L",
        "192.168.10.30:1": "BP05 Keys",
        "192.168.10.30:2": "BP06",
        "192.168.10.50:1": "Podium",
        "192.168.10.50:2": "Lectern",
        "192.168.10.60:1": "IEM Band",
    }


def test_groups_keep_numbers_order_and_blanks() -> None:
    plan = convert(fixture())
    assert [(g.id, g.title, g.position) for g in plan.groups] == [
        (1, "Sunday Service", 0),
        (2, "Band", 1),
        (9, "Group 9", 2),  # untitled in Micboard
    ]
    sunday = plan.groups[0]
    # 0 is Micboard's BLANK tile; slot 12 was skipped (no ip), so its tile is blank too.
    assert sunday.slots == (
        "192.168.10.21:1",
        "192.168.10.21:2",
        None,
        None,
        "192.168.10.50:1",
        "192.168.10.50:2",
        None,
    )
    assert plan.groups[1].slots == (
        "192.168.10.30:1",
        "192.168.10.30:2",
        None,
        "192.168.10.60:1",
        "placeholder:13",
    )
    assert any("tile 12 is no imported slot" in n for n in plan.notes)


def test_offline_slots_become_placeholders_with_their_slot_number() -> None:
    plan = convert(fixture())
    assert [(p.device_id, p.label, p.name) for p in plan.placeholders] == [
        ("placeholder:11", "", "Spare"),
        ("placeholder:13", "IEM 3", "Drums"),
        ("placeholder:14", "Slot 14", ""),  # nameless in Micboard: its slot number shows
    ]
    long = convert({"slots": [{"slot": 1, "type": "Offline", "extended_id": "X" * 20}]})
    assert long.placeholders[0].label == "X" * 16
    assert any("shortened to 16" in n for n in long.notes)


def test_skips_are_reported_with_reasons() -> None:
    plan = convert(fixture())
    why = reasons(plan)
    assert set(why) == {"slot 12"}
    assert why["slot 12"] == "no ip address"
    bad = convert({"slots": [{"slot": 1, "type": "psm900", "ip": "10.0.0.1", "channel": 1}]})
    assert (
        "unknown receiver type 'psm900' (known: uhfr, qlxd, ulxd, axtd, p10t, offline)"
        in (reasons(bad)["slot 1"])
    )
    assert any("not imported: local_url, port, prefixes, uuid" in n for n in plan.notes)


def test_bad_entries_each_get_a_reason() -> None:
    data = {
        "slots": [
            {"slot": 1, "type": "ulxd", "ip": "10.0.0.1", "channel": 1},
            {"slot": 1, "type": "ulxd", "ip": "10.0.0.1", "channel": 2},  # slot number twice
            {"slot": 2, "type": "qlxd", "ip": "10.0.0.2", "channel": 2},  # QLX-D has one channel
            {"slot": 3, "type": "qlxd", "ip": "10.0.0.1", "channel": 1},  # 10.0.0.1 is a ulxd
            {"slot": 4, "type": "ulxd", "ip": "10.0.0.1", "channel": 1},  # same channel as slot 1
            {"slot": 5, "type": "ULXD", "ip": " 10.0.0.5 ", "channel": "2"},  # hand-edited, fine
            {"type": "ulxd", "ip": "10.0.0.6", "channel": 1},  # no slot number
            {"slot": 7, "type": "ulxd", "ip": "bad host", "channel": 1},
            "junk",
        ],
        "groups": [
            {"group": 3, "title": "A", "slots": [4, 1, "x", 99]},
            {"group": 3, "title": "B", "slots": []},
            {"title": "no number"},
        ],
    }
    plan = convert(data)
    why = reasons(plan)
    assert why["slot 1"] == "slot number used twice; kept the first"
    assert "not 1..1 for qlxd" in why["slot 2"]
    assert "is a ulxd in an earlier slot, not qlxd" in why["slot 3"]
    assert "same receiver channel as slot 1" in why["slot 4"]
    assert why["slots[6]"] == "no slot number"
    assert why["slot 7"].startswith("ip 'bad host'")
    assert why["slots[8]"] == "not an object"
    assert why["group 3"] == "group number used twice; kept the first"
    assert why["groups[2]"] == "no group number"
    assert [c.device_id for c in plan.channels] == ["10.0.0.1:1", "10.0.0.5:2"]
    # Slot 4 merged into slot 1's device; unknown tiles become blanks.
    assert plan.groups[0].slots == ("10.0.0.1:1", "10.0.0.1:1", None, None)


def test_receiver_with_port_keeps_it_in_its_id() -> None:
    plan = convert({"slots": [{"slot": 1, "type": "ulxd", "ip": "10.0.0.9:2203", "channel": 1}]})
    assert plan.receivers[0].id == "10.0.0.9:2203"
    assert plan.receivers[0].port == 2203
    assert plan.channels[0].device_id == "10.0.0.9:2203:1"


def test_long_names_are_bounded() -> None:
    assert performer_name("", "") is None
    assert performer_name("X" * 10, "Y" * 100) == ("X" * 10 + " " + "Y" * 100)[:64]
    plan = convert({"slots": [], "groups": [{"group": 1, "title": "T" * 80, "slots": [0] * 300}]})
    assert len(plan.groups[0].title) == 40
    assert len(plan.groups[0].slots) == 256
    assert len(plan.notes) == 2


@pytest.mark.parametrize("data", [[], {}, {"slots": {}}, "text", None])
def test_not_a_micboard_config(data: Any) -> None:
    with pytest.raises(MicboardFormatError, match="not a Micboard config"):
        convert(data)


def test_load_reports_bad_json(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"slots": [}')
    with pytest.raises(MicboardFormatError, match="not valid JSON"):
        load(bad)
    with pytest.raises(MicboardFormatError, match="cannot read"):
        load(tmp_path / "missing.json")
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + FIXTURE.read_bytes())
    assert convert(load(bom)).receivers


# --- writing ---


async def test_write_creates_receivers_performers_and_groups(store: Store) -> None:
    _, result = await write(store, convert(fixture()), now=1000.0)
    assert len(result.receivers_new) == 5
    assert result.performers == 8
    assert (result.groups_new, result.groups_replaced) == (3, 0)
    assert (result.placeholders_new, result.placeholders_replaced) == (3, 0)
    placeholders = await store.fetchall("SELECT id, label, name, model FROM placeholders")
    assert [tuple(r.values()) for r in placeholders] == [
        (11, "", "Spare", ""),
        (13, "IEM 3", "Drums", ""),
        (14, "Slot 14", "", ""),
    ]
    rows = await store.fetchall("SELECT id, address, port, family, source, ignored FROM receivers")
    assert {r["id"]: (r["family"], r["source"], r["ignored"]) for r in rows}["192.168.10.30"] == (
        "axient",
        "manual",
        0,
    )
    channels = {r["device_id"]: r for r in await store.channel_rows()}
    assert channels["192.168.10.21:1"]["performer"] == "H01 Pastor Dave"
    assert channels["192.168.10.21:1"]["receiver_id"] == "192.168.10.21"
    assert "192.168.10.21:4" not in channels  # no name in Micboard: nothing to store
    groups = await store.fetchall("SELECT id, title, position, slots FROM groups ORDER BY id")
    assert json.loads(groups[0]["slots"])[2] is None
    assert [g["title"] for g in groups] == ["Sunday Service", "Band", "Group 9"]


async def test_write_twice_is_idempotent(store: Store) -> None:
    await write(store, convert(fixture()))
    _, again = await write(store, convert(fixture()))
    assert again.receivers_new == []
    assert len(again.receivers_known) == 5
    assert (again.groups_new, again.groups_replaced) == (0, 3)
    assert (again.placeholders_new, again.placeholders_replaced) == (0, 3)
    assert len(await store.fetchall("SELECT id FROM placeholders")) == 3
    assert len(await store.fetchall("SELECT id FROM receivers")) == 5
    assert len(await store.channel_rows()) == 8


async def test_write_uses_existing_receiver_ids_and_keeps_names(store: Store) -> None:
    # The receiver at .21 is already known by its serial, was removed by the user (ignored),
    # and channel 4 has a name given in micboardd that Micboard does not know.
    await store.execute(
        "INSERT INTO receivers(id, address, port, family, source, ignored, created_at, updated_at)"
        " VALUES('SN-ULXD-77', '192.168.10.21', 2202, 'ulxd', 'discovered', 1, 1, 1)"
    )
    await store.set_performer("SN-ULXD-77:4", "SN-ULXD-77", 4, "Spare HH")
    plan, result = await write(store, convert(fixture()))
    assert result.receivers_known == ["SN-ULXD-77"]
    assert plan.groups[0].slots[0] == "SN-ULXD-77:1"
    rows = await store.fetchall("SELECT id, ignored FROM receivers WHERE address = '192.168.10.21'")
    assert rows == [{"id": "SN-ULXD-77", "ignored": 0}]
    channels = {r["device_id"]: r["performer"] for r in await store.channel_rows()}
    assert channels["SN-ULXD-77:1"] == "H01 Pastor Dave"
    assert channels["SN-ULXD-77:4"] == "Spare HH"
    assert not any(d.startswith("192.168.10.21:") for d in channels)


def test_report_lists_everything() -> None:
    lines = "\n".join(report(convert(fixture()), None))
    assert "receivers: would import 5" in lines
    assert "192.168.10.21:1  H01 Pastor Dave  (slot 1)" in lines
    assert "groups: would import 3" in lines
    assert "placeholders (offline slots): would import 3" in lines
    assert "placeholder:13  IEM 3 Drums  (slot 13)" in lines
    assert "skipped: 1" in lines
    assert "slot 12: no ip address" in lines


# --- the command ---


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("MICBOARDD_"):
            monkeypatch.delenv(name)
    yield


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="micboardd import-micboard")
    import_cli.add_import_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_imports_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    state = tmp_path / "state"
    code = import_cli.run_import(parse(str(FIXTURE), "--state-dir", str(state)))
    out = capsys.readouterr().out
    assert code == 0
    assert "receivers: 5 new" in out
    assert "placeholders (offline slots): 3 new, 0 replaced" in out
    assert "skipped: 1" in out
    assert "systemctl restart micboardd" in out
    assert (state / "micboardd.db").exists()


def test_cli_dry_run_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    state = tmp_path / "state"
    code = import_cli.run_import(parse(str(FIXTURE), "--state-dir", str(state), "--dry-run"))
    assert code == 0
    assert "dry run, nothing written" in capsys.readouterr().out
    assert not state.exists()


def test_cli_rejects_a_non_micboard_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"devices": []}')
    code = import_cli.run_import(parse(str(other), "--state-dir", str(tmp_path)))
    assert code == import_cli.EXIT_BAD_INPUT
    assert "not a Micboard config.json" in capsys.readouterr().err


def test_state_dir_follows_config_then_packaged_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    configured = tmp_path / "micboardd.toml"
    configured.write_text(f'state_dir = "{tmp_path / "from-config"}"\n')
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    packaged = tmp_path / "var-lib-micboardd"
    monkeypatch.setattr(state_dir, "PACKAGED_STATE_DIR", packaged)
    assert state_dir.state_dir_for(None, configured) == (tmp_path / "from-config")
    assert state_dir.state_dir_for(None, empty) == Path("var")
    packaged.mkdir()
    assert state_dir.state_dir_for(None, empty) == packaged
    assert state_dir.state_dir_for("/d", empty) == (Path("/d"))


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_files_created_by_root_go_to_the_state_dir_owner(tmp_path: Path, clean_env: None) -> None:
    # The packaged state dir belongs to the service's DynamicUser; root must not leave
    # root-owned database files in it that the service then cannot open.
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 61234, 61234)
    assert import_cli.run_import(parse(str(FIXTURE), "--state-dir", str(state))) == 0
    for path in state.iterdir():
        assert (path.stat().st_uid, path.stat().st_gid) == (61234, 61234), path
