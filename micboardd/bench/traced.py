"""`micboardd` watched from inside, for `soak --tracemalloc` / `--census`: what grows?

    python -m micboardd.bench.traced --dump-dir DIR --every 300 -- run --port 0 ...

Runs `micboardd` with the remaining arguments; a thread looks every `--every` seconds:

- `--mode tracemalloc`: tracemalloc (`--frames` deep) from the start, a snapshot per look
  (`snap-0001.pickle`, ...), compared by allocation site. Tracing every allocation costs
  several times the CPU it watches: use a small venue (`soak --receivers 5`).
- `--mode census`: the objects the garbage collector tracks, counted by type, one JSON line
  per look (`census.jsonl`), with Python's allocated blocks and SQLite's memory. No cost
  between looks: per-client state left behind shows as a type whose count climbs with the
  phones that came and went, at full load.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import sys
import threading
import time
import tracemalloc
from collections import Counter
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


# Objects of the `--holders` type sampled per look to name what refers to them.
HOLDER_SAMPLE = 200


def _name(o: object) -> str:
    return f"{type(o).__module__}.{type(o).__qualname__}"


def _sqlite_memory_used() -> int | None:
    """Bytes SQLite holds in this process (`sqlite3_memory_used`), None where the library
    cannot be asked (statically linked, or memory statistics compiled out)."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
    except OSError:
        return None
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    used = int(lib.sqlite3_memory_used())
    return used or None


def _census_every(directory: Path, every_s: float, holders: str | None) -> None:
    with open(directory / "census.jsonl", "a", encoding="utf-8") as out:
        while True:
            time.sleep(every_s)
            objects = gc.get_objects()
            look: dict[str, object] = {
                "t": time.time(),
                "counts": Counter(map(_name, objects)),
                # Memory outside the objects counted: Python's allocator as a whole, and
                # SQLite's own (its page cache); RSS growth neither shows is C libraries'.
                "py_blocks": sys.getallocatedblocks(),
                "sqlite_bytes": _sqlite_memory_used(),
            }
            if holders:
                sample = [o for o in objects if _name(o) == holders][-HOLDER_SAMPLE:]
                look["holders"] = Counter(
                    _name(r) for o in sample for r in gc.get_referrers(o) if r is not sample
                )
            del objects
            out.write(json.dumps(look) + "\n")
            out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="micboardd.bench.traced")
    parser.add_argument("--dump-dir", type=Path, required=True)
    parser.add_argument("--mode", choices=("tracemalloc", "census"), default="tracemalloc")
    parser.add_argument("--every", type=float, default=300.0, help="seconds between snapshots")
    parser.add_argument("--frames", type=int, default=8, help="traceback depth recorded")
    parser.add_argument("--holders", help="census: also name what refers to this type")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="-- micboardd arguments")
    args = parser.parse_args(argv)
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    args.dump_dir.mkdir(parents=True, exist_ok=True)
    if args.mode == "tracemalloc":
        tracemalloc.start(args.frames)
        watch = threading.Thread(target=_dump_every, args=(args.dump_dir, args.every))
    else:
        watch = threading.Thread(
            target=_census_every, args=(args.dump_dir, args.every, args.holders)
        )
    watch.daemon = True
    watch.start()
    return micboardd_main(rest)


if __name__ == "__main__":
    sys.exit(main())
