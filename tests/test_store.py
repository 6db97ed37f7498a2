"""SQLite store: migrations, durability under kill -9, corrupt files moved aside."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from micboardd.errors import StoreError
from micboardd.store import MIGRATIONS, Store

from .conftest import DaemonFactory
from .helpers import wait_for


async def test_migrates_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "micboardd.db"
    path.touch()  # an empty file is a valid, empty SQLite database
    store = Store(path)
    await store.open()
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        tables = {
            r["name"]
            for r in await store.fetchall("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert {"receivers", "channels", "groups", "settings"} <= tables
        mode = await store.fetchall("PRAGMA journal_mode")
        assert mode[0]["journal_mode"] == "wal"
        await store.set_setting("k", "v")
        assert await store.get_setting("k") == "v"
    finally:
        await store.close()
    # Reopening does not re-run migrations.
    store = Store(path)
    await store.open()
    assert await store.get_setting("k") == "v"
    await store.close()
    assert store.quarantined is None


async def test_newer_schema_is_refused_not_destroyed(tmp_path: Path) -> None:
    path = tmp_path / "micboardd.db"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    con.close()
    store = Store(path)
    with pytest.raises(StoreError, match="newer"):
        await store.open()
    assert path.exists()


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from micboardd.store import Store

    async def main():
        store = Store(Path(sys.argv[1]))
        await store.open()
        n = 0
        while True:
            n += 1
            await store.set_performer(f"rx:{n}", "rx", n, f"performer {n}")
            print(n, flush=True)  # printed only after the commit returned

    asyncio.run(main())
    """
)


def test_kill_9_loses_no_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "micboardd.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    committed = 0
    for line in proc.stdout:
        committed = int(line)
        if committed >= 300:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    con = sqlite3.connect(path)
    rows = {r[0] for r in con.execute("SELECT device_id FROM channels")}
    con.close()
    missing = [n for n in range(1, committed + 1) if f"rx:{n}" not in rows]
    assert not missing, f"lost committed rows {missing[:10]}"


def test_garbage_database_is_moved_aside_and_daemon_starts(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    garbage = b"this is not an sqlite database \x00\xff" * 200
    (state / "micboardd.db").write_bytes(garbage)
    d = make_daemon(state_dir=state)
    assert d.get("/api/health").json()["db_ok"] is True
    moved = wait_for(lambda: list(state.glob("micboardd.db.corrupt-*")), 5, "quarantined file")
    assert moved[0].read_bytes() == garbage, "the damaged file must be kept, not deleted"
    assert "CRITICAL" in d.log and "moved it to" in d.log


def test_truncated_database_is_moved_aside(make_daemon: DaemonFactory, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    db = state / "micboardd.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t(x)")
    con.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    con.commit()
    con.close()
    data = db.read_bytes()
    db.write_bytes(data[:100] + b"\xde\xad" * 2000 + data[4100:])
    d = make_daemon(state_dir=state)
    assert d.get("/api/health").json()["db_ok"] is True
    assert list(state.glob("micboardd.db.corrupt-*"))
