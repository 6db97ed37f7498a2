"""Ingest CPU by brand: the daemon monitoring 24 EW-DX channels (SSC v1) against 24 Shure
channels, each at its meter rate, with no dashboard client (issue 19).

    python -m micboardd.bench.vendors [--rounds 3] [--window 20]     # make bench-vendors

The simulators run in this process (their CPU is not the daemon's); the daemon is its own
process, started afresh for each run on loopback with discovery off. Each round runs Shure
then EW-DX (alternating which goes first), waits until every channel is good, then reads the
daemon's CPU time over a window (its CPU-time clock, bench/cputime.py). The machine is
shared, so the figure to read is the ratio within a round, not the absolute percent. Both brands send meters at 10 Hz per
channel: Shure SAMPLEs at the daemon's 100 ms meter rate, EW-DX one datagram per changed
meter leaf on its 100 ms tick (the simulators' jitter makes every leaf change every tick, the
worst case; a real EM 2 sends only what changed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from micboardd.bench.cputime import process_cpu_s
from micboardd.sim.ewdx import SimEwdx
from micboardd.sim.receiver import SimReceiver
from micboardd.sim.sennheiser import SennheiserSim
from micboardd.sim.venue import host_at

CHANNELS = 24
RECEIVERS = 6  # four-channel receivers: ULXD4Q and EW-DX EM 4 Dante
# A daemon starts in a second or two; a busy shared machine can make it much slower.
DAEMON_START_S = 60.0
ONLINE_WITHIN_S = 60.0
# After every channel is good: let the connections settle (first syncs, subscriptions).
SETTLE_S = 3.0
POLL_S = 0.2
BASE_HOST = "127.88.0.2"  # this bench's own corner of loopback


@dataclass
class Run:
    brand: str
    cpu_percent: float
    window_s: float


def _start_daemon(addresses: Sequence[str], work: Path) -> tuple[subprocess.Popen[bytes], int]:
    config = work / "micboardd.toml"
    config.write_text("# empty: the bench never reads /etc/micboardd\n")
    log_path = work / "daemon.log"
    args = [sys.executable, "-m", "micboardd", "run", "--host", "127.0.0.1", "--port", "0"]
    args += ["--state-dir", str(work / "state"), "--no-discovery", "--config", str(config)]
    for address in addresses:
        args += ["--receiver", address]
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file
        )
    deadline = time.monotonic() + DAEMON_START_S
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if "listening on http://" in text:
            port = int(text.split("listening on http://", 1)[1].split()[0].rsplit(":", 1)[1])
            return proc, port
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}; see {log_path}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"daemon did not listen within {DAEMON_START_S:.0f} s; see {log_path}")


async def _all_good(port: int) -> None:
    deadline = time.monotonic() + ONLINE_WITHIN_S
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        while time.monotonic() < deadline:
            devices = (await http.get("/api/devices")).json()
            if len(devices) == CHANNELS and all(d["status"] == "good" for d in devices):
                return
            await asyncio.sleep(POLL_S)
    raise RuntimeError(f"not every channel good within {ONLINE_WITHIN_S:.0f} s")


def _receivers(brand: str, base: str) -> list[SimReceiver | SennheiserSim]:
    hosts = [host_at(base, i) for i in range(RECEIVERS)]
    if brand == "shure":
        return [SimReceiver("ULXD4Q", h, 0, device_id=f"RX{i}") for i, h in enumerate(hosts)]
    return [SimEwdx("EWDX-EM4-DANTE", h, 0, meter_jitter=True) for h in hosts]


def _address(rx: SimReceiver | SennheiserSim) -> str:
    return rx.address if isinstance(rx, SimReceiver) else f"ssc1://{rx.address}"


async def measure(brand: str, base: str, window_s: float) -> Run:
    receivers = _receivers(brand, base)
    await asyncio.gather(*(rx.start() for rx in receivers))
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-{brand}-") as tmp:
            proc, port = await asyncio.to_thread(
                _start_daemon, [_address(rx) for rx in receivers], Path(tmp)
            )
            try:
                await _all_good(port)
                await asyncio.sleep(SETTLE_S)
                cpu0, t0 = process_cpu_s(proc.pid), time.monotonic()
                await asyncio.sleep(window_s)
                cpu1, t1 = process_cpu_s(proc.pid), time.monotonic()
            finally:
                proc.terminate()
                await asyncio.to_thread(proc.wait, 30)
    finally:
        await asyncio.gather(*(rx.close() for rx in receivers), return_exceptions=True)
    return Run(brand, 100 * (cpu1 - cpu0) / (t1 - t0), t1 - t0)


async def bench(rounds: int, window_s: float) -> dict[str, object]:
    runs: list[tuple[Run, Run]] = []
    for n in range(rounds):
        order = ("shure", "ewdx") if n % 2 == 0 else ("ewdx", "shure")
        got = {}
        for i, brand in enumerate(order):
            base = host_at(BASE_HOST, 256 * (2 * n + i))  # fresh addresses for every run
            got[brand] = await measure(brand, base, window_s)
            print(
                f"round {n + 1} {brand:5}: daemon CPU {got[brand].cpu_percent:5.1f} %", flush=True
            )
        runs.append((got["shure"], got["ewdx"]))
    ratios = [e.cpu_percent / s.cpu_percent for s, e in runs if s.cpu_percent > 0]
    return {
        "channels": CHANNELS,
        "window_s": window_s,
        "shure_cpu_percent": [round(s.cpu_percent, 2) for s, _ in runs],
        "ewdx_cpu_percent": [round(e.cpu_percent, 2) for _, e in runs],
        "ewdx_over_shure": [round(r, 2) for r in ratios],
        "ewdx_over_shure_median": round(statistics.median(ratios), 2) if ratios else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="micboardd.bench.vendors", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="Shure/EW-DX pairs (alternating)")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of CPU measured")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = asyncio.run(bench(args.rounds, args.window))
    print(
        f"{CHANNELS} channels at 10 Hz meters, daemon CPU: Shure {result['shure_cpu_percent']} %, "
        f"EW-DX {result['ewdx_cpu_percent']} %; EW-DX/Shure per round "
        f"{result['ewdx_over_shure']}, median {result['ewdx_over_shure_median']}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
