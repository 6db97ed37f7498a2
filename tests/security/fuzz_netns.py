"""schemathesis over the whole API with an admin session, `POST /api/receivers` included,
inside a private network namespace (run by test_fuzz.py through tests/discovery/netns.py).

Adding receivers at addresses the fuzzer invents makes the daemon resolve names and connect
to them: in a namespace with only `lo` nothing of that leaves the machine (every address but
loopback is unreachable, and no resolver answers), so the route can be fuzzed like the rest.

    unshare -n -- sh -c 'ip link set lo up && exec .venv/bin/python -m tests.security.fuzz_netns'

Arguments after the module name go to `schemathesis run` (e.g. `--checks all -n 50`).
Exits with schemathesis' status; prints its report.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from ..discovery.netns import guard
from ..helpers import DaemonProcess, daemon_env
from .admin import ADMIN_PASSWORD, set_secret

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
DEFAULT_ARGS = ("--checks", "not_a_server_error", "--max-examples", "25", "--seed", "1")
# Logout would end the fuzzer's own session.
EXCLUDED = ("POST /api/logout",)


async def login(d: DaemonProcess) -> list[str]:
    async with httpx.AsyncClient(base_url=d.url, timeout=10) as c:
        r = await c.post("/api/login", json={"password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        return [
            f"Cookie: micboardd_session={r.cookies['micboardd_session']}",
            f"X-CSRF-Token: {r.json()['csrf_token']}",
        ]


async def main(extra: list[str]) -> int:
    guard()  # never outside the namespace: the fuzzer's receivers would be contacted
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        config = Path(tmp) / "empty.toml"
        config.write_text("")
        args = ["run", "--host", "127.0.0.1", "--port", "0", "--state-dir", str(state)]
        args += ["--no-discovery", "--config", str(config)]
        d = DaemonProcess(args=args, state_dir=state, env=daemon_env()).start()
        try:
            await set_secret(state)
            argv = [str(SCHEMATHESIS), "run", f"{d.url}/schema/openapi.json", "--workers", "1"]
            argv += list(extra or DEFAULT_ARGS)
            for header in await login(d):
                argv += ["--header", header]
            for name in EXCLUDED:
                argv += ["--exclude-name", name]
            done = subprocess.run(argv, cwd=tmp, check=False, timeout=600)
            alive = d.proc is not None and d.proc.poll() is None
            receivers = d.get("/api/receivers").json() if alive else []
        finally:
            d.stop()
        print(f"daemon alive after the run: {alive}; receivers it was given: {len(receivers)}")
        for line in d.lines:
            if "Traceback" in line or "Internal Server Error" in line:
                print("daemon log:", "\n".join(d.lines[-60:]))
                return 1
        return done.returncode if alive else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
