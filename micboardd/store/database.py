"""SQLite store: what must survive a reboot (inventory, names, groups, settings, photos).

WAL mode with synchronous=NORMAL: a committed transaction survives the process being killed
(the WAL is in the OS page cache); a power cut may lose the last moments, never corrupt the
file. Migrations are numbered and tracked in `PRAGMA user_version`.

A database SQLite itself calls damaged (SQLITE_CORRUPT, SQLITE_NOTADB, or a failed
quick_check) is moved aside (never deleted) and a fresh one is started, so a bad SD card
sector never keeps the appliance from coming up. Nothing else is damage: a lock held by
another process, an I/O error or a full disk is tried again a few times, then the open fails
(the daemon exits non-zero and systemd tries again later) with the file untouched. Commands
run beside the daemon (`passwd`, `import-micboard`) never move the file: they say what is
wrong and leave it to the daemon.

The database holds the session key and the password hashes: it and its WAL and SHM files are
created mode 0600 and set back to 0600 when found wider. A symbolic link in their place is
refused (someone who can write the state directory must not make us write elsewhere).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from micboardd.errors import StoreError
from micboardd.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)

# How long a write waits for another connection's lock before failing (ms); the daemon is
# the only writer, so this only matters while a CLI command shares the file.
BUSY_TIMEOUT_MS = 5000
# Opening again after a lock, an I/O error or a full disk: this many attempts, waiting
# OPEN_RETRY_S times the attempt number between them (with the busy timeout, about 18 s in
# all before giving up; systemd then restarts the daemon after its RestartSec=).
OPEN_ATTEMPTS = 3
OPEN_RETRY_S = 1.0
DB_MODE = 0o600  # owner only: the session key and the password hashes are inside
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
# SQLite's primary result codes that mean the file itself is damaged.
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26


class DamagedDatabase(Exception):
    """quick_check found damage (SQLite answered, but not "ok")."""


def is_damage(exc: BaseException) -> bool:
    """Whether this error says the database file is damaged (not busy, locked, full, I/O)."""
    if isinstance(exc, DamagedDatabase):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)


def _describe(exc: BaseException) -> str:
    name = getattr(exc, "sqlite_errorname", None)
    return f"{exc} ({name})" if name else str(exc)


def secure_files(path: Path) -> None:
    """Refuse symbolic links in the database's place; make its files 0600; create it 0600."""
    for candidate in (path, *(path.with_name(path.name + s) for s in SIDE_SUFFIXES)):
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            raise StoreError(
                f"{candidate} is not a regular file (a symbolic link?): refusing to use it; "
                "remove it if you did not put it there"
            )
        if stat.S_IMODE(st.st_mode) & ~DB_MODE:
            os.chmod(candidate, DB_MODE)
    try:  # created here, 0600 whatever the umask: SQLite gives the WAL and SHM its mode
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, DB_MODE)
    except FileExistsError:
        return
    os.close(fd)


def _quarantine(path: Path, reason: str) -> Path:
    """Move a damaged database (and its WAL/SHM) aside with a timestamp; return the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    log.critical(
        "database %s is unreadable (%s); moved it to %s and started a fresh one",
        path,
        reason,
        target,
        extra={"DB_PATH": str(path), "DB_QUARANTINE": str(target)},
    )
    return target


class Store:
    """One aiosqlite connection owned by the daemon's event loop."""

    def __init__(self, path: Path, *, quarantine: bool = True) -> None:
        """`quarantine=False` for tools run beside the daemon: a damaged file is reported,
        never moved (the daemon does that when it starts)."""
        self.path = path
        self.may_quarantine = quarantine
        self._db: aiosqlite.Connection | None = None
        self.quarantined: Path | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create state directory {self.path.parent}: {exc}") from exc
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            try:
                await self._open_once()
                return
            except StoreError:
                await self._close_quietly()
                raise
            except DamagedDatabase as exc:
                await self._close_quietly()
                await self._damaged(exc)
                return
            except (sqlite3.Error, OSError) as exc:
                await self._close_quietly()
                if is_damage(exc):
                    await self._damaged(exc)
                    return
                if attempt == OPEN_ATTEMPTS:
                    raise StoreError(
                        f"cannot open database {self.path}: {_describe(exc)}; left as it is "
                        f"after {OPEN_ATTEMPTS} attempts"
                    ) from exc
                log.warning(
                    "cannot open database %s: %s; trying again (attempt %d of %d)",
                    self.path,
                    _describe(exc),
                    attempt,
                    OPEN_ATTEMPTS,
                )
                await asyncio.sleep(OPEN_RETRY_S * attempt)

    async def _open_once(self) -> None:
        await asyncio.to_thread(secure_files, self.path)
        await self._open_and_migrate()

    async def _damaged(self, exc: BaseException) -> None:
        """SQLite says the file is damaged: move it aside and start afresh (the daemon), or
        say so and touch nothing (the tools)."""
        if not self.may_quarantine:
            raise StoreError(
                f"database {self.path} is damaged ({_describe(exc)}); left as it is: the "
                "daemon moves it aside and starts a fresh one when it starts"
            ) from exc
        if not self.path.exists():
            raise StoreError(f"cannot open database {self.path}: {_describe(exc)}") from exc
        self.quarantined = _quarantine(self.path, _describe(exc))
        try:
            await self._open_once()
        except (sqlite3.Error, OSError, DamagedDatabase) as exc2:
            await self._close_quietly()
            raise StoreError(f"cannot open database {self.path}: {_describe(exc2)}") from exc2

    async def _open_and_migrate(self) -> None:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        self._db = db
        db.row_factory = aiosqlite.Row
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # quick_check reads every page header: catches garbage files and torn pages.
        async with db.execute("PRAGMA quick_check") as cur:
            row = await cur.fetchone()
        if row is None or row[0] != "ok":
            raise DamagedDatabase(f"integrity check failed: {row[0] if row else 'no answer'}")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")
        await self._migrate(db)

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        async with db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"database {self.path} has schema {version}, newer than this micboardd "
                f"({len(MIGRATIONS)}); upgrade micboardd or restore a backup"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(MIGRATIONS[number - 1]):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {number}")
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            log.info("database %s migrated to schema %d", self.path, number)

    async def _close_quietly(self) -> None:
        if self._db is not None:
            try:
                await self._db.close()
            except Exception:  # closing a broken connection: nothing left to save
                log.debug("closing broken database connection failed", exc_info=True)
            self._db = None

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def ping(self) -> bool:
        """True when the database answers a trivial query (for /api/health)."""
        try:
            async with self.db.execute("SELECT 1") as cur:
                return (await cur.fetchone()) is not None
        except (sqlite3.Error, StoreError):
            return False

    # --- small typed helpers ---

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        async with self.db.execute(sql, params) as cur:
            return [dict(r) for r in await cur.fetchall()]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement in its own transaction (autocommit)."""
        await self.db.execute(sql, params)

    async def transaction(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Several statements committed together or not at all."""
        db = self.db
        await db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                await db.execute(sql, params)
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise

    # --- settings ---

    async def get_setting(self, key: str) -> str | None:
        rows = await self.fetchall("SELECT value FROM settings WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    async def set_setting(self, key: str, value: str) -> None:
        await self.execute(*set_setting_statement(key, value))

    async def delete_setting(self, key: str) -> None:
        await self.execute(*delete_setting_statement(key))

    async def settings_with_prefix(self, prefix: str) -> dict[str, str]:
        """Every setting whose key starts with `prefix` (compared as text, not LIKE)."""
        rows = await self.fetchall(
            "SELECT key, value FROM settings WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return {str(r["key"]): str(r["value"]) for r in rows}

    # --- user data per channel ---

    async def set_performer(
        self, device_id: str, receiver_id: str, channel: int, performer: str | None
    ) -> None:
        await self.execute(*performer_sql(device_id, receiver_id, channel, performer, time.time()))

    async def channel_rows(self) -> list[dict[str, Any]]:
        return await self.fetchall(
            "SELECT device_id, receiver_id, channel, performer, group_id FROM channels"
        )

    async def schema_version(self) -> int:
        async with self.db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0


# The settings table's two writes as statements, for a `Store.transaction` with others.
def set_setting_statement(key: str, value: str) -> tuple[str, tuple[str, str]]:
    return (
        "INSERT INTO settings(key, value) VALUES(?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def delete_setting_statement(key: str) -> tuple[str, tuple[str]]:
    return ("DELETE FROM settings WHERE key = ?", (key,))


def performer_sql(
    device_id: str, receiver_id: str, channel: int, performer: str | None, now: float
) -> tuple[str, tuple[Any, ...]]:
    """A channel's performer name (a statement, for one transaction with others)."""
    return (
        "INSERT INTO channels(device_id, receiver_id, channel, performer, updated_at) "
        "VALUES(?, ?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET "
        "performer = excluded.performer, updated_at = excluded.updated_at",
        (device_id, receiver_id, channel, performer, now),
    )


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
