"""`micboardd` under tracemalloc, for `soak --tracemalloc`: where does memory grow?

    python -m micboardd.bench.traced --dump-dir DIR --every 300 -- run --port 0 ...

Starts tracemalloc (`--frames` deep), then runs `micboardd` with the remaining arguments; a
thread writes a snapshot to DIR every `--every` seconds (`snap-0001.pickle`, ...). The soak
compares the first and the last by allocation site. Only for investigation: tracing every
allocation costs several times the CPU and memory it watches.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import tracemalloc
from pathlib import Path

from micboardd.cli.main import main as micboardd_main

# Allocations of tracemalloc itself and of the import machinery say nothing about a leak.
_IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def _dump_every(directory: Path, every_s: float) -> None:
    n = 0
    while True:
        time.sleep(every_s)
        n += 1
        snapshot = tracemalloc.take_snapshot().filter_traces(_IGNORED)
        snapshot.dump(str(directory / f"snap-{n:04d}.pickle"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="micboardd.bench.traced")
    parser.add_argument("--dump-dir", type=Path, required=True)
    parser.add_argument("--every", type=float, default=300.0, help="seconds between snapshots")
    parser.add_argument("--frames", type=int, default=8, help="traceback depth recorded")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="-- micboardd arguments")
    args = parser.parse_args(argv)
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    args.dump_dir.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(args.frames)
    threading.Thread(
        target=_dump_every, args=(args.dump_dir, args.every), name="tracemalloc", daemon=True
    ).start()
    return micboardd_main(rest)


if __name__ == "__main__":
    sys.exit(main())
