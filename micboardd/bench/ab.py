"""Ingest CPU side by side: daemons built from different commits read one simulated venue
(25 ULXD4Q, every meter moving on every sample) over the same windows; each one's CPU and
its ratio to the first. A machine whose speed drifts from day to day gives ratios that hold.

Each commit is checked out with `git worktree` into a temporary directory and its daemon
run from there (`python -m micboardd` in that tree, with this venv's packages); the
simulator is this tree's. A simulated receiver samples on its own clock, whoever asks
(`sim.peers.last_sampling_instant`): both daemons get the same writes at the same instants.
The daemons are started in both orders (one rig after the other), because the one that
connects first is not quite in the same place as the second.

    python -m micboardd.bench.ab 486e491^ HEAD       # or: make bench-ab REF=486e491^
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from micboardd.bench.cputime import process_cpu_s
from micboardd.bench.run import start_daemon, wait_online

RECEIVERS = 25
CHANNELS = 4
# Once online, the daemons settle (histories open, first alerts) before the first window.
SETTLE_S = 3.0
# How long the simulator may take to listen on 25 addresses.
SIM_READY_S = 30.0


@contextmanager
def checkouts(repo: Path, refs: Sequence[str], work: Path) -> Iterator[list[Path]]:
    """A detached worktree of each ref under `work` (the working tree itself for "."),
    removed afterwards."""
    trees: list[Path] = []
    made: list[Path] = []
    try:
        for n, ref in enumerate(refs):
            if ref == ".":
                trees.append(repo)
                continue
            tree = work / f"tree{n}"
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "add", "--detach", "-f", str(tree), ref],
                check=True,
                capture_output=True,
            )
            made.append(tree)
            trees.append(tree)
        yield trees
    finally:
        for tree in made:
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
                check=False,
                capture_output=True,
            )


def ratios(rows: Sequence[Sequence[float]]) -> list[float]:
    """Per column after the first: the median over windows of its CPU over the first's."""
    return [
        statistics.median(row[i] / row[0] for row in rows if row[0] > 0)
        for i in range(1, len(rows[0]))
    ]


async def one_rig(
    trees: Sequence[Path], work: Path, seconds: float, windows: int
) -> list[list[float]]:
    """The simulator and one daemon per tree, in that order; the CPU % of each per window."""
    work.mkdir(parents=True)
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "micboardd.bench.simworker",
            "--receivers",
            str(RECEIVERS),
            "--model",
            "ULXD4Q",
            "--every-sample",
            "--battery-minute-s",
            "60",
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    daemons: list[subprocess.Popen[bytes]] = []
    cwd, path = os.getcwd(), os.environ.get("PYTHONPATH")
    try:
        assert sim.stdout is not None
        async with asyncio.timeout(SIM_READY_S):
            line = await asyncio.to_thread(sim.stdout.readline)
        if not line.startswith("READY"):
            raise RuntimeError(f"simulator did not start: {line!r}")
        config = work / "receivers.toml"
        config.write_text("receivers = [" + ", ".join(f'"{a}"' for a in line.split()[1:]) + "]\n")
        ports = []
        for n, tree in enumerate(trees):
            # `python -m` puts the working directory first on the path: the tree's own code.
            os.chdir(tree)
            os.environ["PYTHONPATH"] = str(tree)
            proc, port = await start_daemon(work / f"state{n}", config, work / f"daemon{n}.log")
            daemons.append(proc)
            ports.append(port)
        os.chdir(cwd)
        for port in ports:
            await wait_online(f"http://127.0.0.1:{port}", RECEIVERS, RECEIVERS * CHANNELS)
        await asyncio.sleep(SETTLE_S)
        rows = []
        for _ in range(windows):
            before = [process_cpu_s(p.pid) for p in daemons]
            start = time.monotonic()
            await asyncio.sleep(seconds)
            after = [process_cpu_s(p.pid) for p in daemons]
            elapsed = time.monotonic() - start
            rows.append([100 * (b - a) / elapsed for a, b in zip(before, after, strict=True)])
        return rows
    finally:
        os.chdir(cwd)
        if path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = path
        procs: list[subprocess.Popen[Any]] = [*daemons, sim]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await asyncio.to_thread(proc.wait, 30)


async def compare(refs: Sequence[str], seconds: float, windows: int) -> str:
    repo = Path(__file__).resolve().parents[2]
    with (
        tempfile.TemporaryDirectory(prefix="micboardd-ab-") as tmp,
        checkouts(repo, refs, Path(tmp)) as trees,
    ):
        forward = await one_rig(trees, Path(tmp) / "forward", seconds, windows)
        backward = await one_rig(trees[::-1], Path(tmp) / "backward", seconds, windows)
    lines = []
    for name, rows, order in (("forward", forward, refs), ("backward", backward, refs[::-1])):
        lines.append(f"{name} ({' then '.join(order)}):")
        for row in rows:
            lines.append("  " + "  ".join(f"{v:6.2f} %" for v in row))
    # Each ref's CPU over the first ref's, both orders: the geometric mean of the two.
    back = [list(reversed(row)) for row in backward]
    for i, ref in enumerate(refs[1:]):
        f, b = ratios(forward)[i], ratios(back)[i]
        lines.append(
            f"{ref} / {refs[0]}: {f:.3f} (started second), {b:.3f} (started first), "
            f"both {(f * b) ** 0.5:.3f}"
        )
    lines.append(
        "median CPU %: "
        + ", ".join(
            f"{ref} {statistics.median([r[i] for r in forward] + [r[i] for r in back]):.2f}"
            for i, ref in enumerate(refs)
        )
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="micboardd.bench.ab", description=__doc__.split("\n")[0])
    parser.add_argument("refs", nargs="+", help='commits ("." for the working tree); first = base')
    parser.add_argument("--seconds", type=float, default=10.0, help="length of a window")
    parser.add_argument("--windows", type=int, default=4, help="windows per order")
    args = parser.parse_args(argv)
    if len(args.refs) < 2:
        parser.error("give at least two commits to compare")
    print(asyncio.run(compare(args.refs, args.seconds, args.windows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
