"""`micboardd passwd`: set the admin password (or the viewer PIN) in the daemon's database.

Run on the box itself: whoever can write the state directory is the crew. The password is
read twice from the terminal, or once from standard input with `--stdin` (scripts, tests);
it is stored only as an scrypt hash. A running daemon picks the change up within seconds
and every existing admin session ends.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

from micboardd.auth.passwords import (
    ADMIN_HASH_KEY,
    VIEWER_PIN_KEY,
    check_password,
    check_pin,
    hash_secret,
)
from micboardd.daemon.state_dir import PACKAGED_STATE_DIR, drop_to_owner, give_back, state_dir_for
from micboardd.errors import StoreError
from micboardd.store.database import Store


def add_passwd_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-dir",
        dest="state_dir",
        type=Path,
        default=None,
        help=f"the daemon's state directory (default: from the config, else {PACKAGED_STATE_DIR}"
        " when it exists, else ./var)",
    )
    p.add_argument("--config", type=Path, default=None, help="TOML settings file")
    p.add_argument(
        "--stdin",
        action="store_true",
        help="read the secret from the first line of standard input (no prompt, no repeat)",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--viewer-pin",
        action="store_true",
        help="set the viewer PIN (4-12 digits) that phones must enter to look",
    )
    what.add_argument(
        "--no-viewer-pin",
        action="store_true",
        help="switch the viewer PIN off: anyone on the network may look",
    )


def read_secret(what: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError("no terminal to ask on: pipe the secret in with --stdin")
    first = getpass.getpass(f"New {what}: ")
    if getpass.getpass(f"Repeat the {what}: ") != first:
        raise ValueError(f"the two {what}s differ; nothing changed")
    return first


async def _write(db_path: Path, key: str, value: str | None) -> None:
    store = Store(db_path, quarantine=False)  # a damaged file is the daemon's to move
    await store.open()
    try:
        if value is None:
            await store.delete_setting(key)
        else:
            await store.set_setting(key, value)
    finally:
        await store.close()


def run_passwd(args: argparse.Namespace) -> int:
    state_dir = state_dir_for(args.state_dir, args.config)
    db_path = state_dir / "micboardd.db"
    key = VIEWER_PIN_KEY if (args.viewer_pin or args.no_viewer_pin) else ADMIN_HASH_KEY
    what = "viewer PIN" if key == VIEWER_PIN_KEY else "admin password"
    value: str | None = None
    if not args.no_viewer_pin:
        try:
            secret = read_secret(what, args.stdin)
        except (ValueError, EOFError, KeyboardInterrupt) as exc:
            print(f"micboardd passwd: {exc or 'cancelled'}", file=sys.stderr)
            return 1
        why = check_pin(secret) if key == VIEWER_PIN_KEY else check_password(secret)
        if why:
            print(f"micboardd passwd: {why}; nothing changed", file=sys.stderr)
            return 1
        value = hash_secret(secret)
    old_umask = os.umask(0o077)  # the database holds the hashes: owner only
    try:
        # As root: become the directory's owner first, where it can reach it (state_dir.py).
        drop_to_owner(state_dir)
        asyncio.run(_write(db_path, key, value))
        give_back(state_dir)
    except (StoreError, OSError) as exc:
        print(f"micboardd passwd: {exc}", file=sys.stderr)
        return 1
    finally:
        os.umask(old_umask)
    if value is None:
        print(f"viewer PIN switched off in {db_path}: anyone on the network may look")
    else:
        print(f"{what} set in {db_path}; sessions made with the old one have ended")
    return 0
