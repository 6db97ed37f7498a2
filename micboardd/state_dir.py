"""The daemon's state directory as seen by commands run beside it (`passwd`, `import-micboard`).

They must find the packaged service's state without flags, and files they create there as
root must stay the service's (its DynamicUser could not open them otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import resolve

# Where the packaged unit keeps its state (its ExecStart passes --state-dir): the default for
# these commands when neither a flag, the config file nor the environment names a state_dir.
PACKAGED_STATE_DIR = Path("/var/lib/micboardd")
DB_NAME = "micboardd.db"
DB_SIDE_FILES = ("", "-wal", "-shm")  # SQLite in WAL mode writes all three


def state_dir_for(flag: str | Path | None, config_path: Path | None) -> Path:
    """--state-dir if given, else the configured one, else the packaged one if it exists."""
    if flag is not None:
        return Path(flag)
    settings = resolve({}, config_path=config_path)
    if settings.origins.get("state_dir", "default") == "default" and PACKAGED_STATE_DIR.is_dir():
        return PACKAGED_STATE_DIR
    return settings.state_dir


def give_back(state_dir: Path) -> None:
    """Run as root on a daemon's directory: database files we created become its owner's."""
    if os.geteuid() != 0:
        return
    try:
        owner = state_dir.stat()
    except OSError:
        return
    if owner.st_uid == 0:
        return
    for suffix in DB_SIDE_FILES:
        path = state_dir / (DB_NAME + suffix)
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if (st.st_uid, st.st_gid) != (owner.st_uid, owner.st_gid):
            os.chown(path, owner.st_uid, owner.st_gid)
