"""Secrets on disk (System API key, TLS key): files readable by the daemon's user only.

`write_secret_file` is how the settings API stores a secret it was given (write-only: nothing
reads it back out to a client); `loose_permissions` lets startup warn about a key file that
group or others can read.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

SECRET_MODE = 0o600
SECRETS_DIR = "secrets"  # under the state directory; 0700 like the state directory itself


def write_secret_file(state_dir: Path, name: str, value: str | bytes) -> Path:
    """Write `state_dir/secrets/<name>` with mode 0600, atomically (temp file + rename).

    The file never exists with wider permissions, not even for a moment: it is created with
    O_EXCL and mode 0600 whatever the umask, and renamed over the old one.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad secret file name {name!r}")
    directory = state_dir / SECRETS_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    target = directory / name
    tmp = directory / f".{name}.tmp-{os.getpid()}"
    data = value.encode() if isinstance(value, str) else value
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, SECRET_MODE)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fd, SECRET_MODE)  # the umask could only have narrowed it; be explicit
        fh.write(data)
        fh.flush()
        os.fsync(fd)
    os.replace(tmp, target)
    return target


def loose_permissions(path: Path) -> bool:
    """True when group or others may read (or write) this existing file."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(stat.S_IMODE(mode) & 0o077)
