"""`micboardd import-micboard FILE [--state-dir DIR] [--config FILE] [--dry-run]`.

Reads a Micboard config.json and writes its receivers, performer names and groups into the
micboardd database, then says what it imported and what it skipped. Safe while the daemon
runs (SQLite WAL, one short transaction); the daemon picks the new receivers and groups up
when it restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from .config import resolve
from .errors import StoreError
from .importer import MicboardFormatError, Plan, convert, load, report, write
from .store import Store

# Where the packaged service keeps its state (its unit passes --state-dir): the default for
# this command too when neither the config file nor the environment names a state_dir.
PACKAGED_STATE_DIR = Path("/var/lib/micboardd")
EXIT_BAD_INPUT = 2
EXIT_STORE = 1


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, metavar="FILE", help="Micboard config.json to import")
    p.add_argument(
        "--state-dir",
        dest="state_dir",
        default=argparse.SUPPRESS,
        help="directory of micboardd.db (default: the configured state_dir; "
        f"{PACKAGED_STATE_DIR} on a packaged install)",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="TOML settings file (default /etc/micboardd/micboardd.toml if present)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be imported and skipped; change nothing",
    )


def state_dir_for(args: argparse.Namespace) -> Path:
    given = {"state_dir": args.state_dir} if hasattr(args, "state_dir") else {}
    settings = resolve(given, config_path=getattr(args, "config", None))
    if settings.origins.get("state_dir") == "default" and PACKAGED_STATE_DIR.is_dir():
        return PACKAGED_STATE_DIR
    return settings.state_dir


def run_import(args: argparse.Namespace) -> int:
    try:
        plan = convert(load(args.file))
    except MicboardFormatError as exc:
        print(f"micboardd: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.dry_run:
        print(f"{args.file}: dry run, nothing written")
        print("\n".join(report(plan, None)))
        return 0
    state_dir = state_dir_for(args)
    return asyncio.run(_write(args.file, state_dir, plan))


async def _write(source: Path, state_dir: Path, plan: Plan) -> int:
    store = Store(state_dir / "micboardd.db")
    try:
        await store.open()
    except StoreError as exc:
        print(f"micboardd: {exc}", file=sys.stderr)
        return EXIT_STORE
    try:
        written, result = await write(store, plan)
    except sqlite3.Error as exc:
        print(f"micboardd: cannot write {store.path}: {exc}", file=sys.stderr)
        return EXIT_STORE
    finally:
        await store.close()
    match_owner(state_dir)
    print(f"{source} -> {store.path}")
    print("\n".join(report(written, result)))
    print(
        "Restart micboardd to monitor the imported receivers and show the groups "
        "(sudo systemctl restart micboardd)."
    )
    return 0


def match_owner(state_dir: Path) -> None:
    """Give database files root just created to the owner of the state directory.

    Run as root against the service's state (owned by its DynamicUser), SQLite may create
    micboardd.db, -wal or -shm owned by root, which the service could then not open.
    """
    if os.geteuid() != 0:
        return
    try:
        owner = state_dir.stat()
    except OSError:
        return
    for name in ("micboardd.db", "micboardd.db-wal", "micboardd.db-shm"):
        path = state_dir / name
        try:
            st = path.stat()
            if (st.st_uid, st.st_gid) != (owner.st_uid, owner.st_gid):
                os.chown(path, owner.st_uid, owner.st_gid)
        except FileNotFoundError:
            continue
