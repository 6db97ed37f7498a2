"""SQLite store: migrations, durability under kill -9, corrupt files moved aside (and\nnothing else: locks wait, tools never move a file), owner-only files, no symbolic links."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from micboardd.errors import StoreError
from micboardd.store.database import Store
from micboardd.store.migrations import MIGRATIONS
from tests.conftest import DaemonFactory
from tests.helpers import async_wait_for, daemon_env, wait_for


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
    from micboardd.store.database import Store

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


# --- what is not damage: locks, and the tools beside the daemon ---------------------------


def _locked(db: Path) -> sqlite3.Connection:
    """Another process in the middle of a long write: readers wait (rollback-journal mode)."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode = DELETE")
    con.execute("BEGIN EXCLUSIVE")
    con.execute("INSERT INTO settings(key, value) VALUES('in', 'progress')")
    return con


async def _prepared(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    store = Store(state / "micboardd.db")
    await store.open()
    await store.set_setting("admin_password_hash", "scrypt$kept")
    await store.close()
    con = sqlite3.connect(state / "micboardd.db")
    con.execute("PRAGMA journal_mode = DELETE")  # leave WAL: a writer then blocks readers
    con.close()
    return state


def _settings(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as con:
        return dict(con.execute("SELECT key, value FROM settings").fetchall())


async def test_a_locked_database_is_waited_for_never_moved(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    state = await _prepared(tmp_path)
    lock = _locked(state / "micboardd.db")
    d = make_daemon(state_dir=state, wait=False)
    await async_wait_for(lambda: "trying again" in d.log, 20, "a retry after the lock")
    lock.rollback()
    lock.close()
    await d.async_wait_listening(30)
    assert (await d.async_get("/api/health"))["db_ok"] is True
    assert not list(state.glob("*.corrupt-*")), d.log
    assert "database is locked" in d.log and "CRITICAL" not in d.log
    d.stop()
    assert _settings(state / "micboardd.db")["admin_password_hash"] == "scrypt$kept"


async def test_a_lock_that_stays_exits_non_zero_and_touches_nothing(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    state = await _prepared(tmp_path)
    before = (state / "micboardd.db").read_bytes()
    lock = _locked(state / "micboardd.db")
    try:
        d = make_daemon(state_dir=state, wait=False)
        assert d.proc is not None
        code = await asyncio.to_thread(d.proc.wait, 60)
    finally:
        lock.rollback()
        lock.close()
    assert code == 1, d.log  # systemd restarts it (Restart=on-failure), 2 would stop that
    assert "left as it is" in d.log and "database is locked" in d.log
    assert not list(state.glob("*.corrupt-*"))
    assert (state / "micboardd.db").read_bytes() == before


def _passwd(state: Path, secret: str = "a good long password") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "micboardd", "passwd", "--stdin", "--state-dir", str(state)],
        input=secret + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=daemon_env(),
        check=False,
    )


def test_tools_never_move_a_damaged_database(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    garbage = b"this is not an sqlite database \x00\xff" * 200
    (state / "micboardd.db").write_bytes(garbage)
    out = _passwd(state)
    assert out.returncode == 1
    assert "damaged" in out.stderr and "left as it is" in out.stderr, out.stderr
    assert (state / "micboardd.db").read_bytes() == garbage
    assert not list(state.glob("*.corrupt-*"))


async def test_passwd_during_a_long_write_waits_and_moves_nothing(tmp_path: Path) -> None:
    state = await _prepared(tmp_path)
    lock = _locked(state / "micboardd.db")
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "micboardd", "passwd", "--stdin", "--state-dir", str(state)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=daemon_env(),
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(b"a good long password\n")
    await proc.stdin.drain()
    proc.stdin.close()
    async with asyncio.timeout(30):
        while b"trying again" not in await proc.stderr.readline():
            pass
    lock.rollback()
    lock.close()
    async with asyncio.timeout(30):
        await proc.wait()
    assert proc.returncode == 0
    assert not list(state.glob("*.corrupt-*"))
    assert _settings(state / "micboardd.db")["admin_password_hash"].startswith("scrypt$32768$")


def test_database_files_are_owner_only_whatever_the_umask(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    old = os.umask(0o022)  # a shell's usual umask, outside systemd's UMask=0077
    try:
        d = make_daemon()
    finally:
        os.umask(old)
    assert d.get("/api/health").json()["db_ok"] is True
    names = ["micboardd.db", "micboardd.db-wal", "micboardd.db-shm"]
    for name in names:
        assert stat.S_IMODE((d.state_dir / name).stat().st_mode) == 0o600, name
    d.stop()
    # Files left wider by an older version are narrowed.
    for name in names[:1]:
        (d.state_dir / name).chmod(0o644)
    d.start()
    for name in names:
        assert stat.S_IMODE((d.state_dir / name).stat().st_mode) == 0o600, name


def test_a_symbolic_link_in_the_database_s_place_is_refused(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("not a WAL file\n")
    (state / "micboardd.db-wal").symlink_to(target)
    d = make_daemon(state_dir=state, wait=False)
    assert d.proc is not None
    assert d.proc.wait(30) == 1
    assert "micboardd.db-wal is not a regular file" in d.log
    assert target.read_text() == "not a WAL file\n"
