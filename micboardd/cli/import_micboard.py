"""`micboardd import-micboard FILE [--state-dir DIR] [--config FILE] [--dry-run]`.

Reads a Micboard config.json and writes its receivers, performer names, groups and
placeholders (its `offline` slots) into the micboardd database, then says what it imported and what it skipped. Safe while the daemon
runs (SQLite WAL, one short transaction); the daemon picks the new receivers and groups up
when it restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from pathlib import Path

from micboardd.cli.micboard_config import MicboardFormatError, Plan, convert, load, report, write
from micboardd.daemon.state_dir import PACKAGED_STATE_DIR, drop_to_owner, give_back, state_dir_for
from micboardd.errors import StoreError
from micboardd.store.database import Store

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
    state_dir = state_dir_for(args.state_dir, getattr(args, "config", None))
    try:
        # As root: become the directory's owner first, where it can reach it (state_dir.py).
        drop_to_owner(state_dir)
    except OSError as exc:
        print(f"micboardd: cannot become the owner of {state_dir}: {exc}", file=sys.stderr)
        return EXIT_STORE
    return asyncio.run(_write(args.file, state_dir, plan))


async def _write(source: Path, state_dir: Path, plan: Plan) -> int:
    store = Store(state_dir / "micboardd.db", quarantine=False)  # damage is the daemon's
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
    give_back(state_dir)
    print(f"{source} -> {store.path}")
    print("\n".join(report(written, result)))
    print(
        "Restart micboardd to monitor the imported receivers and show the groups "
        "(sudo systemctl restart micboardd)."
    )
    return 0
