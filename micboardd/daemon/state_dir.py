"""The daemon's state directory as seen by commands run beside it (`passwd`, `import-micboard`).

They must find the packaged service's state without flags, and files they create there as
root must stay the service's (its DynamicUser could not open them otherwise).

Run as root, they must not be turned against the system by whoever owns that directory (the
daemon's user, which parses the venue network's traffic): a `micboardd.db-wal` planted as a
symbolic link to /etc/shadow must not be written or chowned. So:

- when the directory's owner can reach it by its path, the command becomes that owner
  (`drop_to_owner`) before touching any file: it can do nothing the daemon could not;
- otherwise (DynamicUser keeps the directory under /var/lib/private, 0700 root) the database
  files are checked to be regular files before they are opened (store.py `secure_files`)
  and handed back with `fchown` on a descriptor opened without following links.
"""

from __future__ import annotations

import concurrent.futures.thread  # noqa: F401  (see drop_to_owner)
import logging
import os
import stat
from pathlib import Path

from micboardd.config import Layer, resolve

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
    if settings.layer("state_dir") is Layer.DEFAULT and PACKAGED_STATE_DIR.is_dir():
        return PACKAGED_STATE_DIR
    return settings.state_dir


log = logging.getLogger(__name__)


def _searchable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether uid/gid may walk down to `path` (every directory above it searchable)."""
    for parent in reversed(path.parents):
        try:
            st = parent.stat()
        except OSError:
            return False
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid == uid:
            ok = bool(mode & stat.S_IXUSR)
        elif st.st_gid == gid:
            ok = bool(mode & stat.S_IXGRP)
        else:
            ok = bool(mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


def drop_to_owner(state_dir: Path) -> bool:
    """Run as root on a directory someone else owns: become its owner, if it can reach the
    directory by its path. True when we did (nothing then needs giving back)."""
    if os.geteuid() != 0:
        return False
    try:
        real = state_dir.resolve(strict=True)
        owner = real.stat()
    except OSError:
        return False  # not there yet: created by us, for us
    if owner.st_uid == 0 or not _searchable_by(real, owner.st_uid, owner.st_gid):
        return False
    # From here on the interpreter's own files may be out of reach (a Python under /root):
    # what the tools load lazily later (asyncio's thread pool) is imported at the top.
    os.setgroups([])
    os.setgid(owner.st_gid)
    os.setuid(owner.st_uid)
    return True


def give_back(state_dir: Path) -> None:
    """Run as root on a daemon's directory: database files we created become its owner's.

    Each file is opened without following a symbolic link and changed through that
    descriptor: a link planted in the directory is left alone, its target untouched."""
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
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        except OSError as exc:  # ELOOP: a symbolic link
            log.warning("left %s alone: %s", path, exc.strerror)
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                log.warning("left %s alone: not a regular file", path)
            elif (st.st_uid, st.st_gid) != (owner.st_uid, owner.st_gid):
                os.fchown(fd, owner.st_uid, owner.st_gid)
        finally:
            os.close(fd)
