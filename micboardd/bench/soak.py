"""`make soak MINUTES=N`: hours of service, compressed; a real daemon against a simulated venue.

The rig is the benchmark's (bench/run.py): `micboardd run` as its own process, on uvloop as
in production, and the simulator worker (bench/simworker.py) in another: 25 ULXD4Q (100
channels) with every meter value moving before every sample and every write cut inside a
frame. On top of it, the things an evening brings:

- phones (default 10) open the dashboard's three WebSockets, stay 5-60 s, leave, come back;
- every few minutes a receiver loses power for 5-30 s, and another hangs (accepts, answers
  nothing) for 20-40 s; batteries drain at 30x speed and are swapped when empty, so battery
  alerts come and go;
- optionally Redis (`--redis`) and a second instance with receivers of its own (`--second`).

Every interval it prints one row: the daemon's RSS, open file descriptors, database and WAL
size, log bytes, latency p50/p99 (simulator send -> phone receive, as the benchmark measures
it), CPU, and the ERROR lines and tracebacks in the daemon's log. At the end a summary (RSS
over the last 20 minutes, growth per hour, p99 of the first and last ten minutes) and
bench/soak.json. Exit status 1 on any traceback or unexpected ERROR line, 2 if the daemon
died or did not stop cleanly.

`--tracemalloc` runs the daemon under tracemalloc (bench/traced.py) and prints the
allocation sites that grew between the first snapshot and the last.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from micboardd.bench.cputime import process_cpu_s
from micboardd.bench.run import (
    Probe,
    Rig,
    client,
    latencies_ms,
    pct,
    proc_rss_mb,
    start_daemon,
)
from micboardd.daemon.logs import is_fault_line, is_traceback_line

# ERROR lines a soak may see without failing, besides critical alerts (daemon.logs.is_fault_line:
# the soak cuts power on purpose): none so far. Each entry needs a reason.
EXPECTED_ERRORS: tuple[re.Pattern[str], ...] = ()
# What the dashboard subscribes to (web/app.js, first), and other shapes integrations use.
SUBSCRIPTIONS: tuple[dict[str, Any], ...] = (
    {"format": "compact", "max_hz": 10},
    {"format": "compact", "max_hz": 10},
    {"format": "compact", "max_hz": 4},
    {"format": "full", "batch": True},
)
# A phone stays this long, then leaves for a moment (the evening: 5-60 s).
STAY_S = (5.0, 60.0)
AWAY_S = (0.5, 5.0)
# Phones whose meter frames are parsed for latency: enough samples, little soak CPU.
LATENCY_PHONES = 3
# Power cuts and hangs: how long a receiver stays off or hung.
POWER_OFF_S = (5.0, 30.0)
HUNG_S = (20.0, 40.0)
# A sample is matched with its send within this window (bench/run.py latencies_ms).
MATCH_WINDOW_S = 5.0
# Receives this recent wait for the next interval: their sends may not be streamed yet.
SETTLE_S = 1.0
# RSS must be flat over the end of a long run: this many minutes (issue 21).
FLAT_WINDOW_MIN = 20.0
# p99 compared between the first and the last this many minutes.
EDGE_MIN = 10.0
SECOND_INSTANCE_RECEIVERS = 4
# SIGTERM to exit: the daemon's own budget is 5 s (daemon/run.py); past this it is killed.
STOP_WITHIN_S = 30.0
# The health request of each row: an answer slower than this is a finding, not a crash.
HEALTH_TIMEOUT_S = 10.0
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_START_S = 10.0


def hang_verbs(address: str) -> tuple[str, str]:
    """The simulator verbs that hang a receiver (it accepts, answers nothing) and bring it
    back."""
    return f"hang {address} on", f"hang {address} off"


@dataclass
class Row:
    minute: float
    rss_mb: float
    fds: int
    db_kb: float
    wal_kb: float
    log_bytes: int
    p50_ms: float | None
    p99_ms: float | None
    samples: int
    cpu_percent: float
    clients: int
    sessions: int
    power_cycles: int
    hangs: int
    errors: int
    tracebacks: int
    loop_exceptions: int


@dataclass
class LogWatch:
    """New lines of a daemon's log since the last look: ERROR lines and tracebacks."""

    path: Path
    offset: int = 0
    errors: list[str] = field(default_factory=list)  # unexpected ones
    tracebacks: int = 0

    def scan(self) -> None:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a line being written is read next time
        self.offset += end
        for line in data[:end].decode(errors="replace").splitlines():
            if is_traceback_line(line):
                self.tracebacks += 1
            elif is_fault_line(line) and not any(p.search(line) for p in EXPECTED_ERRORS):
                self.errors.append(line)


class Redis:
    """A throwaway redis-server on a free loopback port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *(REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + REDIS_START_S
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Soak:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.rows: list[Row] = []
        self.sends: list[tuple[float, str, float]] = []  # appended by the reader thread
        self.sim_answers: list[str] = []
        self.probes = [Probe() for _ in range(args.phones)]
        self.sessions = 0
        self.phone_errors = 0
        self.power_cycles = 0
        self.hangs = 0
        self.busy: set[str] = set()  # receivers off or hung right now
        self.done = asyncio.Event()
        self.redis: Redis | None = None
        self.second: subprocess.Popen[bytes] | None = None
        self.watches: list[LogWatch] = []
        # Latencies of the first and the last EDGE_MIN minutes, for the summary.
        self.first_edge = array.array("f")
        self.recent: list[tuple[float, array.array[float]]] = []
        monitored = args.receivers
        sim_args = ["--split-writes", "--every-sample", "--swap-batteries"]
        daemon_args: list[str] = []
        if args.redis or args.second:
            self.redis = Redis(workdir)
            daemon_args += ["--redis-url", self.redis.url, "--instance", "soak-a"]
        total = monitored + (SECOND_INSTANCE_RECEIVERS if args.second else 0)
        launcher = ["-m", "micboardd"]
        if args.tracemalloc or args.census:
            mode = "tracemalloc" if args.tracemalloc else "census"
            launcher = ["-m", "micboardd.bench.traced", "--dump-dir", str(self.snapshots)]
            launcher += ["--mode", mode, "--every", str(args.look_every), "--frames", "6"]
            launcher += [*(["--holders", args.holders] if args.holders else []), "--"]
        self.rig = Rig(
            total,
            args.model,
            workdir,
            monitored=monitored,
            sim_args=sim_args,
            daemon_args=daemon_args,
            launcher=launcher,
            stream=True,
        )

    @property
    def snapshots(self) -> Path:
        return self.workdir / "tracemalloc"

    # --- setup ---

    async def start(self) -> None:
        if self.redis is not None:
            self.redis.start()
        await self.rig.start()
        assert self.rig.sim is not None and self.rig.sim.stdout is not None
        threading.Thread(target=self._read_sim, args=(self.rig.sim.stdout,), daemon=True).start()
        self.watches.append(LogWatch(self.rig.daemon_log))
        if self.args.second:
            assert self.redis is not None
            config = self.workdir / "second.toml"
            theirs = self.rig.addresses[self.rig.monitored :]
            config.write_text("receivers = [" + ", ".join(f'"{a}"' for a in theirs) + "]\n")
            log = self.workdir / "daemon-second.log"
            self.second, _ = await start_daemon(
                self.workdir / "state-second",
                config,
                log,
                ["--redis-url", self.redis.url, "--instance", "soak-b"],
            )
            self.watches.append(LogWatch(log))

    def _read_sim(self, stream: Any) -> None:
        for line in stream:
            if line.startswith("S "):
                _, t, device, value = line.split()
                self.sends.append((float(t), device, float(value)))
            elif line.startswith("R "):
                answer = line[2:].strip()
                if answer != "ok":
                    self.sim_answers.append(answer)

    # --- load ---

    async def phone(self, index: int) -> None:
        rng = random.Random(self.args.seed * 1000 + index)
        probe = self.probes[index]
        base = self.rig.url.replace("http", "ws", 1)
        parse = index < LATENCY_PHONES
        while not self.done.is_set():
            stop = asyncio.Event()
            # The latency phones watch as the dashboard does; the others vary.
            subscribe = SUBSCRIPTIONS[0] if parse else rng.choice(SUBSCRIPTIONS)
            tasks = [
                asyncio.create_task(client(base + "/ws/devices/", subscribe, probe, parse, stop)),
                asyncio.create_task(client(base + "/ws/connections/", None, Probe(), False, stop)),
                asyncio.create_task(client(base + "/ws/health/", None, Probe(), False, stop)),
            ]
            self.sessions += 1
            stay = rng.uniform(*STAY_S)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(stay):
                    await self.done.wait()
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            self.phone_errors += sum(isinstance(r, BaseException) for r in results)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(rng.uniform(*AWAY_S)):
                    await self.done.wait()

    def _pick_receiver(self) -> str | None:
        free = [a for a in self.rig.addresses[: self.rig.monitored] if a not in self.busy]
        return self.rng.choice(free) if free else None

    async def _trouble(
        self,
        every_s: float,
        first_s: float,
        span: tuple[float, float],
        verbs: Callable[[str], tuple[str, str]],
        counter: str,
    ) -> None:
        await self._sleep(first_s)
        while not self.done.is_set():
            address = self._pick_receiver()
            if address is not None:
                down, up = verbs(address)
                self.busy.add(address)
                self.rig.command(down)
                setattr(self, counter, getattr(self, counter) + 1)
                await self._sleep(self.rng.uniform(*span))
                self.rig.command(up)  # also at the end: the daemon stops with all receivers up
                self.busy.discard(address)
            await self._sleep(every_s * self.rng.uniform(0.7, 1.3))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.done.wait()

    # --- measuring ---

    def _latencies(self, now: float) -> list[float]:
        cutoff = now - SETTLE_S
        received: list[tuple[float, str, float]] = []
        for probe in self.probes[:LATENCY_PHONES]:
            keep = [r for r in probe.received if r[0] >= cutoff]
            received += [r for r in probe.received if r[0] < cutoff]
            probe.received = keep
        sends = self.sends
        result = latencies_ms(sends, received)
        oldest = cutoff - MATCH_WINDOW_S
        self.sends = [s for s in sends if s[0] >= oldest]
        return result

    async def measure(self, started: float, cpu0: float, t0: float) -> tuple[float, float]:
        daemon = self.rig.daemon
        assert daemon is not None
        pid = daemon.pid
        lat = self._latencies(time.time())
        cpu1, t1 = process_cpu_s(pid), time.monotonic()
        for watch in self.watches:
            watch.scan()
        health: dict[str, Any] = {}
        try:
            async with httpx.AsyncClient(base_url=self.rig.url, timeout=HEALTH_TIMEOUT_S) as c:
                health = (await c.get("/api/health")).json()
        except httpx.HTTPError as exc:  # a row all the same; the gap is the finding
            print(f"soak: /api/health did not answer: {type(exc).__name__}", flush=True)
        state = self.rig.state
        minute = (time.monotonic() - started) / 60
        row = Row(
            minute=round(minute, 1),
            rss_mb=round(proc_rss_mb(pid), 1),
            fds=len(os.listdir(f"/proc/{pid}/fd")),
            db_kb=round(_size(state / "micboardd.db") / 1024, 1),
            wal_kb=round(_size(state / "micboardd.db-wal") / 1024, 1),
            log_bytes=sum(_size(w.path) for w in self.watches),
            p50_ms=_round(pct(lat, 50)),
            p99_ms=_round(pct(lat, 99)),
            samples=len(lat),
            cpu_percent=round((cpu1 - cpu0) / (t1 - t0) * 100, 1),
            clients=sum(health.get("clients", {}).values()),
            sessions=self.sessions,
            power_cycles=self.power_cycles,
            hangs=self.hangs,
            errors=sum(len(w.errors) for w in self.watches),
            tracebacks=sum(w.tracebacks for w in self.watches),
            loop_exceptions=health.get("event_loop", {}).get("exceptions", -1),
        )
        self.rows.append(row)
        packed = array.array("f", lat)
        if minute <= EDGE_MIN:
            self.first_edge.extend(packed)
        self.recent.append((minute, packed))
        self.recent = [(m, a) for m, a in self.recent if m > minute - EDGE_MIN]
        print(_format_row(row), flush=True)
        return cpu1, t1

    # --- the run ---

    async def run(self) -> int:
        try:
            return await self._run()
        finally:
            await self.stop()  # whatever happened: no process of ours left behind

    async def _run(self) -> int:
        args = self.args
        await self.start()
        assert self.rig.daemon is not None
        print(
            f"soak: {args.minutes:g} min, {self.rig.monitored} receivers "
            f"({self.rig.monitored * 4} channels), {args.phones} phones, "
            f"power cut every ~{args.power_cycle_s:g} s, hang every ~{args.hang_s:g} s"
            + (", Redis" if self.redis else "")
            + (", second instance" if self.second else "")
            + f"; daemon log {self.rig.daemon_log}",
            flush=True,
        )
        print(_HEADER, flush=True)
        started = time.monotonic()
        load = [asyncio.create_task(self.phone(i)) for i in range(args.phones)]
        load.append(
            asyncio.create_task(
                self._trouble(
                    args.power_cycle_s,
                    min(60.0, args.power_cycle_s),
                    POWER_OFF_S,
                    lambda a: (f"power_loss {a}", f"power_restore {a}"),
                    "power_cycles",
                )
            )
        )
        load.append(
            asyncio.create_task(
                self._trouble(args.hang_s, min(90.0, args.hang_s), HUNG_S, hang_verbs, "hangs")
            )
        )
        cpu, t = process_cpu_s(self.rig.daemon.pid), time.monotonic()
        end = started + args.minutes * 60
        died = False
        while time.monotonic() < end:
            await asyncio.sleep(min(args.interval, max(0.0, end - time.monotonic())))
            if self.rig.daemon.poll() is not None:
                print(f"soak: the daemon exited with {self.rig.daemon.returncode}", flush=True)
                died = True
                break
            cpu, t = await self.measure(started, cpu, t)
        self.done.set()
        await asyncio.gather(*load, return_exceptions=True)
        exit_code = await self.stop()
        for watch in self.watches:
            watch.scan()
        summary = self.summary(exit_code)
        self.write(summary)
        if args.tracemalloc:
            print(growth_report(self.snapshots, args.top), flush=True)
        if args.census:
            print(census_report(self.snapshots / "census.jsonl", args.top), flush=True)
        if died or exit_code != 0:
            return 2
        return 1 if summary["tracebacks"] or summary["unexpected_errors"] else 0

    async def stop(self) -> int | None:
        """Stop everything we started (again is fine); the daemon's exit status."""
        self.done.set()
        daemon = self.rig.daemon
        code = None
        if daemon is not None and daemon.poll() is None:
            daemon.terminate()
            try:
                code = await asyncio.to_thread(daemon.wait, STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                daemon.kill()
                await asyncio.to_thread(daemon.wait, STOP_WITHIN_S)
        elif daemon is not None:
            code = daemon.returncode
        if self.second is not None and self.second.poll() is None:
            self.second.terminate()
            await asyncio.to_thread(self.second.wait, 30)
        await self.rig.stop()
        if self.redis is not None:
            self.redis.stop()
        return code

    def summary(self, exit_code: int | None) -> dict[str, Any]:
        rows = self.rows
        errors = [line for w in self.watches for line in w.errors]
        out: dict[str, Any] = {
            "minutes": self.args.minutes,
            "daemon_exit": exit_code,
            "tracebacks": sum(w.tracebacks for w in self.watches),
            "unexpected_errors": len(errors),
            "error_lines": errors[:20],
            "simulator_errors": self.sim_answers[:20],
            "phone_sessions": self.sessions,
            "phone_errors": self.phone_errors,
            "power_cycles": self.power_cycles,
            "hangs": self.hangs,
        }
        if len(rows) >= 2:
            first, last = rows[0], rows[-1]
            hours = (last.minute - first.minute) / 60 or 1.0
            flat_from = last.minute - min(FLAT_WINDOW_MIN, (last.minute - first.minute) / 2)
            window = [r for r in rows if r.minute >= flat_from]
            out.update(
                rss_mb={"first": first.rss_mb, "last": last.rss_mb},
                rss_window_minutes=round(last.minute - window[0].minute, 1),
                rss_window_mb={
                    "min": min(r.rss_mb for r in window),
                    "max": max(r.rss_mb for r in window),
                    "first": window[0].rss_mb,
                    "last": window[-1].rss_mb,
                    "per_hour": round(60 * slope([(r.minute, r.rss_mb) for r in window]), 2),
                },
                fds={"min": min(r.fds for r in rows), "max": max(r.fds for r in rows)},
                db_kb_per_hour=round((last.db_kb - first.db_kb) / hours, 1),
                db_wal_kb_per_hour=round(
                    (last.db_kb + last.wal_kb - first.db_kb - first.wal_kb) / hours, 1
                ),
                wal_kb_max=max(r.wal_kb for r in rows),
                log_bytes_per_hour=round((last.log_bytes - first.log_bytes) / hours),
                cpu_percent_median=round(statistics.median(r.cpu_percent for r in rows), 1),
            )
        recent = array.array("f")
        for _, packed in self.recent:
            recent.extend(packed)
        out["p99_first_minutes_ms"] = _round(pct(list(self.first_edge), 99))
        out["p99_last_minutes_ms"] = _round(pct(list(recent), 99))
        out["p50_first_minutes_ms"] = _round(pct(list(self.first_edge), 50))
        out["p50_last_minutes_ms"] = _round(pct(list(recent), 50))
        for key, value in out.items():
            if key != "error_lines":
                print(f"{key}: {value}")
        for line in errors[:20]:
            print(f"  {line}")
        return out

    def write(self, summary: dict[str, Any]) -> None:
        out = Path(self.args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        body = {"summary": summary, "rows": [asdict(r) for r in self.rows]}
        out.write_text(json.dumps(body, indent=1))
        print(f"written to {out}")


_COLUMNS = (
    ("min", 5),
    ("rssMB", 6),
    ("fds", 4),
    ("dbKB", 7),
    ("walKB", 7),
    ("logB", 8),
    ("p50ms", 6),
    ("p99ms", 6),
    ("n", 6),
    ("cpu%", 5),
    ("cl", 3),
    ("sess", 5),
    ("pwr", 3),
    ("hung", 4),
    ("err", 3),
    ("tb", 3),
    ("loopx", 5),
)
_HEADER = " ".join(f"{name:>{width}}" for name, width in _COLUMNS)


def _format_row(r: Row) -> str:
    values = (
        f"{r.minute:.1f}",
        f"{r.rss_mb:.1f}",
        r.fds,
        f"{r.db_kb:.0f}",
        f"{r.wal_kb:.0f}",
        r.log_bytes,
        "-" if r.p50_ms is None else f"{r.p50_ms:.1f}",
        "-" if r.p99_ms is None else f"{r.p99_ms:.1f}",
        r.samples,
        f"{r.cpu_percent:.0f}",
        r.clients,
        r.sessions,
        r.power_cycles,
        r.hangs,
        r.errors,
        r.tracebacks,
        r.loop_exceptions,
    )
    return " ".join(f"{v!s:>{w}}" for v, (_, w) in zip(values, _COLUMNS, strict=True))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _snapshots(directory: Path) -> Iterator[Path]:
    yield from sorted(directory.glob("snap-*.pickle"))


def growth_report(directory: Path, top: int) -> str:
    """Allocation sites that grew between the first tracemalloc snapshot and the last."""
    files = list(_snapshots(directory))
    if len(files) < 2:
        return "tracemalloc: fewer than two snapshots (run longer than --tracemalloc-every)"
    first = tracemalloc.Snapshot.load(str(files[0]))
    last = tracemalloc.Snapshot.load(str(files[-1]))
    lines = [
        f"tracemalloc: growth from {files[0].name} to {files[-1].name} "
        f"({len(files)} snapshots), by allocation site:"
    ]
    for stat in last.compare_to(first, "traceback")[:top]:
        if stat.size_diff <= 0:
            break
        lines.append(
            f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks "
            f"(now {stat.size / 1024:.1f} KiB)"
        )
        frames = [f for f in stat.traceback if "micboardd" in f.filename] or list(stat.traceback)
        for frame in frames[-4:]:
            lines.append(f"      {_short(frame.filename)}:{frame.lineno}")
    return "\n".join(lines)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points; 0 for fewer than two distinct x."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    spread = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / spread if spread else 0.0


def census_report(path: Path, top: int) -> str:
    """Object types whose count grew from the first census to the last, with every look."""
    looks = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    if len(looks) < 2:
        return "census: fewer than two looks (run longer than --look-every)"
    first, last = looks[0]["counts"], looks[-1]["counts"]
    grown = sorted(last, key=lambda k: last[k] - first.get(k, 0), reverse=True)[:top]
    lines = [f"census: objects by type over {len(looks)} looks (first ... last):"]
    for key, what in (("py_blocks", "Python's allocated blocks"), ("sqlite_bytes", "SQLite KB")):
        values = [look.get(key) for look in looks]
        if key == "sqlite_bytes":
            values = [None if v is None else v // 1024 for v in values]
        lines.append(f"  {what}: " + " ".join(str(v) for v in values))
    for name in grown:
        if last[name] - first.get(name, 0) <= 0:
            break
        series = " ".join(str(look["counts"].get(name, 0)) for look in looks)
        lines.append(f"  {last[name] - first.get(name, 0):+7d} {name}: {series}")
    if "holders" in looks[-1]:
        lines.append("census: what refers to the sampled objects, in the last look:")
        held = looks[-1]["holders"]
        lines += [f"  {n:7d} {name}" for name, n in sorted(held.items(), key=lambda i: -i[1])][:top]
    return "\n".join(lines)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/micboardd/"):
        if marker in filename:
            head = "micboardd/" if marker == "/micboardd/" else ""
            return head + filename.split(marker, 1)[1]
    return filename


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="micboardd.bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between rows")
    parser.add_argument("--receivers", type=int, default=25, help="receivers (4 channels each)")
    parser.add_argument("--model", default="ULXD4Q")
    parser.add_argument("--phones", type=int, default=10)
    parser.add_argument("--power-cycle-s", type=float, default=180.0)
    parser.add_argument("--hang-s", type=float, default=240.0)
    parser.add_argument("--redis", action="store_true", help="the daemon joins a Redis")
    parser.add_argument("--second", action="store_true", help="and a second instance too")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="what grew, by allocation site (slow)"
    )
    parser.add_argument("--census", action="store_true", help="what grew, by object type")
    parser.add_argument("--holders", metavar="TYPE", help="census: what refers to TYPE objects")
    parser.add_argument("--look-every", type=float, default=300.0, help="seconds between looks")
    parser.add_argument("--top", type=int, default=15, help="lines of the growth report")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--out", default="bench/soak.json")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="micboardd-soak-"))
    try:
        return asyncio.run(Soak(args, workdir).run())
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
