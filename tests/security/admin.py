"""Being admin (or a PIN viewer) in tests: the password is set the way an operator sets it,
with `micboardd passwd --stdin --state-dir`, and the session is a real login.

    async with admin_client(d) as c:   # cookie + X-CSRF-Token on every request
        await c.post("/api/groups", json={...})
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from ..helpers import DaemonProcess, daemon_env

ADMIN_PASSWORD = "correct horse battery staple"  # tests only
VIEWER_PIN = "4711"
CSRF_HEADER = "X-CSRF-Token"
_done: set[tuple[Path, str]] = set()  # (state dir, what): set once per test process


def passwd_argv(state_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "micboardd",
        "passwd",
        "--stdin",
        "--state-dir",
        str(state_dir),
        *extra,
    ]


def set_secret_sync(state_dir: Path, secret: str = ADMIN_PASSWORD, *extra: str) -> None:
    """Blocking form, for synchronous fixtures (the browser tests)."""
    out = subprocess.run(
        passwd_argv(state_dir, *extra),
        input=secret + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=daemon_env(),
        check=False,
    )
    assert out.returncode == 0, out.stderr
    _done.add((state_dir.resolve(), "pin" if extra else "admin"))


async def set_secret(state_dir: Path, secret: str = ADMIN_PASSWORD, *extra: str) -> None:
    """`micboardd passwd --stdin` without blocking the test's loop (simulators run there)."""
    proc = await asyncio.create_subprocess_exec(
        *passwd_argv(state_dir, *extra),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=daemon_env(),
    )
    _, err = await asyncio.wait_for(proc.communicate((secret + "\n").encode()), 60)
    assert proc.returncode == 0, err.decode()
    _done.add((state_dir.resolve(), "pin" if extra else "admin"))


async def ensure_admin_password(d: DaemonProcess) -> None:
    if (d.state_dir.resolve(), "admin") not in _done:
        await set_secret(d.state_dir)


@asynccontextmanager
async def session_client(
    url: str, *, password: str | None = None, pin: str | None = None, csrf: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in with this password (admin) or PIN (viewer)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        body: dict[str, Any] = {"password": password} if password is not None else {"pin": pin}
        r = await c.post("/api/login", json=body)
        assert r.status_code == 200, r.text
        if csrf and r.json()["csrf_token"]:
            c.headers[CSRF_HEADER] = r.json()["csrf_token"]
        yield c


@asynccontextmanager
async def admin_client(d: DaemonProcess, *, csrf: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client logged in as admin on this daemon (setting the password if needed)."""
    await ensure_admin_password(d)
    async with session_client(d.url, password=ADMIN_PASSWORD, csrf=csrf) as c:
        yield c
