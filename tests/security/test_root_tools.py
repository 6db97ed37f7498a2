"""`sudo micboardd passwd` on a state directory owned by the daemon's user, which may have been
turned against root: a `micboardd.db-wal` planted as a symbolic link to a root-owned file must
leave that file as it was (its owner and its bytes). Runs as root, as CI does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers import daemon_env

NOBODY = 65534  # the daemon's user here (the packaged unit uses a DynamicUser)


@pytest.fixture(autouse=True)
def _as_root() -> None:
    if os.geteuid() != 0:
        # CI runs as root: there a missing root is a failure, never a skip.
        if os.environ.get("CI") == "true":
            pytest.fail("these tests need root, as `sudo micboardd passwd` has")
        pytest.skip("needs root, as `sudo micboardd passwd` has")


@pytest.fixture(params=["private", "reachable"])
def state_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """private: under a root-only directory, as DynamicUser's /var/lib/private (the tool
    stays root and refuses links); reachable: the owner can reach it (the tool becomes it)."""
    if request.param == "private":
        base = tmp_path  # /tmp/pytest-of-root is 0700 root
        yield _owned_state(base)
        return
    base = Path(tempfile.mkdtemp(prefix="micboardd-state-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield _owned_state(base)
    finally:
        shutil.rmtree(base)


def _owned_state(base: Path) -> Path:
    state = base / "micboardd"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    return state


def passwd(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "micboardd", "passwd", "--stdin", "--state-dir", str(state)],
        input="a good long password\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=daemon_env(),
        check=False,
    )


def test_a_planted_wal_link_is_neither_written_nor_chowned(state_dir: Path) -> None:
    victim = Path(tempfile.mkdtemp(prefix="micboardd-victim-")) / "shadow"
    try:
        victim.write_text("root:secret:19000:0:99999:7:::\n")
        victim.chmod(0o600)
        (state_dir / "micboardd.db-wal").symlink_to(victim)
        out = passwd(state_dir)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "micboardd.db-wal" in out.stderr and "not a regular file" in out.stderr
        st = victim.stat()
        assert (st.st_uid, st.st_gid) == (0, 0)
        assert victim.read_text() == "root:secret:19000:0:99999:7:::\n"
        assert (state_dir / "micboardd.db-wal").is_symlink()  # left for the operator to see
    finally:
        shutil.rmtree(victim.parent)


def test_files_the_tool_creates_are_the_daemon_s(state_dir: Path) -> None:
    out = passwd(state_dir)
    assert out.returncode == 0, out.stderr
    for name in ("micboardd.db", "micboardd.db-wal", "micboardd.db-shm"):
        path = state_dir / name
        if path.exists():
            st = path.stat()
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (NOBODY, NOBODY, 0o600), name
