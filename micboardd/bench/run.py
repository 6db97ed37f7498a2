"""The benchmark: daemon as its own process, simulated receivers in another, N WebSocket
clients here (permessage-deflate negotiated as a browser does). Prints one table and writes
bench/results.json.

Latency is simulator send -> client receive: the simulator logs the time and rf_signal of
every SAMPLE it writes; a client that receives value v for device d at time t is matched with
the latest send of (d, v) before t. Wire bytes are counted where the socket hands them to the
WebSocket protocol, i.e. compressed, frames and all.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from micboardd.bench.cputime import process_cpu_s, wakeups
from micboardd.bench.light import light_client
from micboardd.bench.quota import CpuQuota, QuotaUnavailable
from micboardd.feed import meterframe

BENCH_PASSWORD = "bench-only-password"  # a throwaway state directory's admin password
# A daemon starts in a second or two; a busy shared machine can make it much slower.
DAEMON_START_S = 60.0
# 250 receivers connect, probe and sync: generous on a loaded machine.
ONLINE_WITHIN_S = 120.0
# Fifty phones connect and get their snapshots: seconds under a CPU quota on a busy machine.
LIVE_WITHIN_S = 60.0
_LISTENING = re.compile(r"listening on http://[\d.]+:(\d+)")


@dataclass
class Probe:
    """Per-client figures."""

    wire_bytes: int = 0
    frames: int = 0
    received: list[tuple[float, str, float]] = field(default_factory=list)  # (t, device, rf)
    # Has the snapshot of its subscription and a frame after it: what the window measures.
    live: bool = False


def _count_wire(ws: ClientConnection, probe: Probe) -> None:
    original = ws.data_received

    def data_received(data: bytes) -> None:
        probe.wire_bytes += len(data)
        original(data)

    ws.data_received = data_received  # type: ignore[method-assign]


async def client(
    url: str, subscribe: dict[str, Any] | None, probe: Probe, parse: bool, stop: asyncio.Event
) -> None:
    async with connect(url, compression="deflate", max_size=None, open_timeout=20) as ws:
        _count_wire(ws, probe)
        layout = _Layout()
        layout.take(json.loads(await ws.recv()))  # initial_data
        snapshots = 0  # the subscription's own initial_data is still to come
        if subscribe is not None:
            await ws.send(json.dumps({"type": "subscribe", **subscribe}))
            snapshots = 1
        while not stop.is_set():
            try:
                async with asyncio.timeout(0.5):  # look at `stop` twice a second
                    data = await ws.recv()
            except TimeoutError:
                continue
            now = time.time()
            probe.frames += 1
            if not probe.live:
                if isinstance(data, str) and '"initial_data"' in data[:40]:
                    snapshots -= 1
                elif snapshots <= 0:
                    probe.live = True
            if isinstance(data, bytes):
                if parse:
                    probe.received.extend((now, d, rf) for d, rf in layout.meters(data))
                continue
            if not parse and '"initial_data"' not in data[:40]:
                continue
            msg = json.loads(data)
            _take_json(msg, now, probe.received, layout)


class _Layout:
    """What a binary-meter client knows: its layout's number and device order."""

    def __init__(self) -> None:
        self.number: int | None = None
        self.ids: list[str] = []

    def take(self, msg: dict[str, Any]) -> None:
        # /ws/connections/ and /ws/health/ snapshots carry no devices: nothing to lay out
        # (the soak's phones hold those sockets too; a KeyError here closed them at once).
        if msg.get("type") == "initial_data" and "devices" in msg:
            self.ids = [d["device_id"] for d in msg["devices"]]
            self.number = msg.get("meter_layout")

    def meters(self, data: bytes) -> list[tuple[str, float]]:
        decoded = meterframe.decode(data, len(self.ids))
        if decoded.layout != self.number:
            return []  # an older layout: a fresh initial_data is on its way
        return [(self.ids[i], float(m[0])) for i, m in decoded.meters.items() if m[0] is not None]


def _take_json(
    msg: dict[str, Any], now: float, received: list[tuple[float, str, float]], layout: _Layout
) -> None:
    kind = msg.get("type")
    if kind == "initial_data":
        layout.take(msg)
    elif kind == "meters":
        for device, values in msg["d"].items():
            if values[0] is not None:
                received.append((now, device, float(values[0])))
    elif kind == "device_update" and "rf_signal" in msg.get("changes", ()):
        if msg.get("rf_signal") is not None:
            received.append((now, msg["device_id"], float(msg["rf_signal"])))
    elif kind == "batch_update":
        for u in msg["updates"]:
            if "rf_signal" in u.get("changes", ()) and u.get("rf_signal") is not None:
                received.append((now, u["device_id"], float(u["rf_signal"])))


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def start_daemon(
    state: Path,
    config: Path,
    log_path: Path,
    extra: Sequence[str] = (),
    launcher: Sequence[str] = ("-m", "micboardd"),
) -> tuple[subprocess.Popen[bytes], int]:
    """`micboardd run` on a free loopback port, its log (stderr) in `log_path`: the process
    and its port. `launcher` replaces `-m micboardd` (the soak's tracemalloc wrapper)."""
    # The bench edits a group, which needs an admin session like any change.
    subprocess.run(
        [sys.executable, "-m", "micboardd", "passwd", "--stdin", "--state-dir", str(state)],
        input=(BENCH_PASSWORD + "\n").encode(),
        check=True,
        capture_output=True,
    )
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                *launcher,
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--state-dir",
                str(state),
                "--no-discovery",
                "--config",
                str(config),
                "--max-clients",
                "1000",
                # Every bench client comes from 127.0.0.1: a venue's worth of phones from
                # one address, which the per-address caps would otherwise refuse.
                "--max-clients-per-address",
                "1000",
                "--max-connections-per-address",
                "2000",
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + DAEMON_START_S
    while time.monotonic() < deadline:
        match = _LISTENING.search(log_path.read_text(errors="replace"))
        if match:
            return proc, int(match.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}; see {log_path}")
        await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"daemon did not listen within {DAEMON_START_S:.0f} s; see {log_path}")


class Rig:
    """Simulator process + daemon process for one channel count.

    The soak asks for more: more simulated receivers than this daemon monitors (`monitored`,
    the others are for a second instance), extra simulator and daemon options, the send
    records streamed (`stream`) and scenario verbs on the simulator's stdin.
    """

    def __init__(
        self,
        receivers: int,
        model: str,
        workdir: Path,
        *,
        monitored: int | None = None,
        sim_args: Sequence[str] = (),
        daemon_args: Sequence[str] = (),
        launcher: Sequence[str] = ("-m", "micboardd"),
        stream: bool = False,
        every_sample: bool = False,
    ) -> None:
        self.receivers = receivers
        self.monitored = receivers if monitored is None else monitored
        self.model = model
        self.workdir = workdir
        # Real receivers: every RF and audio value moves on every sample (they jitter), and
        # a battery loses a minute a minute (the demo drains them 30 times faster).
        real = ["--every-sample", "--battery-minute-s", "60"] if every_sample else []
        self.sim_args = list(sim_args) + real
        self.daemon_args = list(daemon_args)
        self.launcher = list(launcher)
        self.stream = stream
        self.sim_log = workdir / f"sim-{receivers}.log"
        self.daemon_log = workdir / f"daemon-{receivers}.log"
        self.state = workdir / f"state-{receivers}"
        self.sim: subprocess.Popen[str] | None = None
        self.daemon: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.addresses: list[str] = []

    async def start(self) -> None:
        where = ["--stream", "--commands"] if self.stream else ["--log", str(self.sim_log)]
        self.sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "micboardd.bench.simworker",
                "--receivers",
                str(self.receivers),
                "--model",
                self.model,
                *where,
                *self.sim_args,
            ],
            stdin=subprocess.PIPE if self.stream else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.sim.stdout is not None
        line = await asyncio.to_thread(self.sim.stdout.readline)
        if not line.startswith("READY"):
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.addresses = line.split()[1:]
        config = self.workdir / f"bench-{self.receivers}.toml"
        mine = self.addresses[: self.monitored]
        config.write_text("receivers = [" + ", ".join(f'"{a}"' for a in mine) + "]\n")
        self.daemon, self.port = await start_daemon(
            self.state, config, self.daemon_log, self.daemon_args, self.launcher
        )
        await wait_online(self.url, self.monitored, self.monitored * self._channels())

    def command(self, line: str) -> None:
        """A scenario verb for the simulator (`stream` rigs only); answered on its stdout."""
        assert self.sim is not None and self.sim.stdin is not None
        self.sim.stdin.write(line + "\n")
        self.sim.stdin.flush()

    def _channels(self) -> int:
        return {"ULXD4Q": 4, "AD4Q": 4, "ULXD4D": 2, "ULXD4": 1}.get(self.model, 4)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> list[tuple[float, str, float]]:
        procs: list[subprocess.Popen[Any]] = [p for p in (self.daemon, self.sim) if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            await asyncio.to_thread(proc.wait, 30)
        sends: list[tuple[float, str, float]] = []
        if self.sim_log.exists():
            for line in self.sim_log.read_text().splitlines():
                t, d, v = line.split()
                sends.append((float(t), d, float(v)))
        return sends


async def wait_online(url: str, receivers: int, devices: int) -> None:
    """Until the daemon at `url` has every receiver online and (at least) every device."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        deadline = time.monotonic() + ONLINE_WITHIN_S
        while time.monotonic() < deadline:
            h = (await c.get("/api/health")).json()
            if h["sources"]["receivers_online"] == receivers and h["devices"] >= devices:
                return
            await asyncio.sleep(0.2)
    raise RuntimeError("receivers did not all come online")


def latencies_ms(
    sends: list[tuple[float, str, float]], received: list[tuple[float, str, float]]
) -> list[float]:
    index: dict[tuple[str, float], list[float]] = {}
    for t, d, v in sends:
        index.setdefault((d, v), []).append(t)
    out: list[float] = []
    for t, d, v in received:
        times = index.get((d, v))
        if not times:
            continue
        i = bisect.bisect_right(times, t) - 1
        if i >= 0 and t - times[i] < 5.0:
            out.append((t - times[i]) * 1000)
    return out


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]


@dataclass
class Result:
    name: str
    channels: int
    clients: int
    fmt: str
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    kb_per_s: float | None = None
    cpu_percent: float | None = None
    rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def scenario(
    rig: Rig,
    name: str,
    clients: int,
    subscribe: dict[str, Any] | None,
    seconds: float,
    parse_clients: int = 3,
    quota: CpuQuota | None = None,
) -> tuple[Result, list[Probe]]:
    assert rig.daemon is not None
    stop = asyncio.Event()
    probes = [Probe() for _ in range(clients)]
    url = rig.url.replace("http", "ws") + "/ws/devices/"
    # A few full clients measure latency; the rest only count (light.py).
    tasks = [
        asyncio.create_task(
            client(url, subscribe, p, True, stop)
            if i < parse_clients
            else light_client(url, subscribe, p, stop)
        )
        for i, p in enumerate(probes)
    ]
    await _all_live(probes, tasks)
    for p in probes:
        p.wire_bytes, p.frames, p.received = 0, 0, []
    throttled0 = quota.throttled_s() if quota is not None else 0.0
    woke0 = wakeups(rig.daemon.pid)
    cpu0, t0 = process_cpu_s(rig.daemon.pid), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = process_cpu_s(rig.daemon.pid), time.monotonic()
    woke1 = wakeups(rig.daemon.pid)
    throttled1 = quota.throttled_s() if quota is not None else 0.0
    load_1m = os.getloadavg()[0]  # other processes on a shared machine weigh on latency
    rss = proc_rss_mb(rig.daemon.pid)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    span = t1 - t0
    sub = subscribe or {}
    fmt = "-" if not clients else "binary" if sub.get("binary") else sub.get("format", "full")
    result = Result(
        name=name,
        channels=rig.receivers * rig._channels(),
        clients=clients,
        fmt=fmt + (" group" if "group" in sub else ""),
        kb_per_s=statistics.mean(p.wire_bytes for p in probes) / span / 1024 if probes else None,
        cpu_percent=(cpu1 - cpu0) / span * 100,
        rss_mb=rss,
    )
    if quota is not None:  # in the window only: the clients' snapshots before it are not
        result.extra["throttled_s"] = throttled1 - throttled0
    result.extra["load_1m"] = load_1m
    result.extra["wakeups_per_s"] = (woke1 - woke0) / span
    if probes:
        result.extra["frames_per_s_per_client"] = statistics.mean(p.frames for p in probes) / span
    result.extra["window"] = (
        time.time() - (time.monotonic() - t0),
        time.time() - (time.monotonic() - t1),
    )
    return result, probes


async def _all_live(probes: list[Probe], tasks: list[asyncio.Task[None]]) -> None:
    """Until every client has the snapshot of its subscription and a frame after it.

    The window must not open while the daemon still sends snapshots: under the Pi-class
    quota fifty of them took longer than the fixed 2 s this replaced, and their latency was
    counted as the daemon's."""
    deadline = time.monotonic() + LIVE_WITHIN_S
    while not all(p.live for p in probes):
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise RuntimeError(f"a bench client failed: {failed[0].exception()!r}")
        if time.monotonic() > deadline:
            late = sum(not p.live for p in probes)
            raise RuntimeError(f"{late} clients had no live frame within {LIVE_WITHIN_S:.0f} s")
        await asyncio.sleep(0.05)


def samples_per_s(sends: list[tuple[float, str, float]], window: tuple[float, float]) -> float:
    """Meter samples the simulator sent per second in a scenario's window."""
    t0, t1 = window
    return sum(1 for t, _, _ in sends if t0 <= t < t1) / (t1 - t0)


def _finish(result: Result, probes: list[Probe], sends: list[tuple[float, str, float]]) -> None:
    received = sorted(r for p in probes for r in p.received)
    lat = latencies_ms(sends, received)
    result.p50_ms, result.p95_ms, result.p99_ms = pct(lat, 50), pct(lat, 95), pct(lat, 99)
    result.extra["latency_samples"] = len(lat)
    result.extra["samples_per_s"] = samples_per_s(sends, result.extra["window"])
    half = len(received) // 2
    result.extra["p95_first_half_ms"] = pct(latencies_ms(sends, received[:half]), 95)
    result.extra["p95_second_half_ms"] = pct(latencies_ms(sends, received[half:]), 95)


ALL_JSON = {"format": "compact"}
ALL_BINARY = {"format": "compact", "binary": True}
# Alternated within each round (A/B on a shared machine: loads vary minute to minute).
ROUND: tuple[tuple[str, int, dict[str, Any] | None], ...] = (
    ("no client", 0, None),
    ("binary x10", 10, ALL_BINARY),
    ("binary x100", 100, ALL_BINARY),
    ("compact json x10", 10, ALL_JSON),
    ("compact json x100", 100, ALL_JSON),
)


async def _group(rig: Rig) -> str:
    async with httpx.AsyncClient(base_url=rig.url, timeout=10) as c:
        login = await c.post("/api/login", json={"password": BENCH_PASSWORD})
        login.raise_for_status()
        c.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        devices = [d["device_id"] for d in (await c.get("/api/devices")).json()][:8]
        made = await c.post("/api/groups", json={"title": "Bench", "slots": devices})
        return str(made.json()["id"])


async def run_small(work: Path, seconds: float, rounds: int, calm: bool) -> list[Result]:
    """100 channels: the rounds of ROUND, then the single-client formats."""
    rig = Rig(25, "ULXD4Q", work, every_sample=not calm)
    await rig.start()
    runs: list[tuple[Result, list[Probe]]] = []
    try:
        gid = await _group(rig)
        for round_no in range(rounds):
            for name, clients, sub in ROUND:
                result, probes = await scenario(rig, name, clients, sub, seconds)
                result.extra["round"] = round_no
                runs.append((result, probes))
        singles = (
            ("full x1", None),
            ("8ch group binary x1", {**ALL_BINARY, "group": gid}),
            ("8ch group json x1", {**ALL_JSON, "group": gid}),
        )
        for name, sub in singles:
            runs.append(await scenario(rig, name, 1, sub, seconds, parse_clients=1))
    finally:
        sends = await rig.stop()
    for result, probes in runs:
        _finish(result, probes, sends)
    return [r for r, _ in runs]


async def run_pi(
    work: Path, seconds: float, share: float, calm: bool, period_us: int = 0
) -> Result:
    """The daemon alone under a CPU quota (a Pi-class core): 100 channels, 50 phones.
    `period_us`: the quota's accounting period (default quota.PERIOD_US, systemd's)."""
    quota = CpuQuota.open(share, period_us=period_us)
    rig = Rig(25, "ULXD4Q", work / "pi", every_sample=not calm)
    (work / "pi").mkdir()
    try:
        await rig.start()
        assert rig.daemon is not None
        quota.add(rig.daemon.pid)
        before = await _readings(rig)
        throttled = quota.throttled_s()
        result, probes = await scenario(
            rig, f"pi-class x50 ({share:.0%} core)", 50, ALL_BINARY, seconds, quota=quota
        )
        await asyncio.sleep(1.0)  # what was read late still counts as read
        result.extra["readings"] = await _readings(rig) - before
        # The clients connecting and their snapshots, before the window.
        result.extra["throttled_total_s"] = quota.throttled_s() - throttled
    finally:
        sends = await rig.stop()
        quota.close()
    _finish(result, probes, sends)
    t0, t1 = result.extra["window"]
    # Readings counted from just before the window to a second after it: whatever the
    # simulator sent in between and the daemon never applied is lost (or still queued).
    sent = sum(1 for t, _, _ in sends if t0 - 2.5 <= t < t1)
    result.extra["samples_lost"] = max(0, sent - result.extra["readings"])
    return result


async def _readings(rig: Rig) -> int:
    async with httpx.AsyncClient(base_url=rig.url, timeout=10) as c:
        login = await c.post("/api/login", json={"password": BENCH_PASSWORD})
        login.raise_for_status()
        text = (await c.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("micboardd_readings_total "):
            return int(float(line.split()[1]))
    raise RuntimeError("no micboardd_readings_total in /metrics")


async def run_big(work: Path, seconds: float, calm: bool) -> Result:
    big = Rig(250, "ULXD4Q", work, every_sample=not calm)
    await big.start()
    try:
        res, probes = await scenario(big, "1000ch binary x50", 50, ALL_BINARY, seconds * 2)
    finally:
        sends = await big.stop()
    _finish(res, probes, sends)
    return res


def _fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summary(results: list[Result]) -> list[str]:
    """The issue-17 figures from the alternated rounds: medians, and ratios to the same run's
    no-client baseline."""
    by: dict[str, list[Result]] = {}
    for r in results:
        by.setdefault(r.name, []).append(r)

    def cpu(name: str) -> float | None:
        return _median([r.cpu_percent for r in by.get(name, []) if r.cpu_percent is not None])

    base = cpu("no client")
    if not base:
        return []
    rate = _median([r.extra["samples_per_s"] for r in by["no client"]]) or 1.0
    woke = _median([r.extra.get("wakeups_per_s", 0.0) for r in by["no client"]]) or 0.0
    lines = [
        f"no client: {base:.2f} % of a core at {rate:.0f} samples/s = "
        f"{base / (rate / 1000):.2f} % per 1000 samples/s (target <= 2 %); "
        f"the daemon wakes {woke:.0f} times a second"
    ]
    for kind in ("binary", "compact json"):
        c10, c100 = cpu(f"{kind} x10"), cpu(f"{kind} x100")
        if c10 is None or c100 is None:
            continue
        per = (c100 - c10) / 90
        lines.append(
            f"{kind}: x10 {c10:.2f} % ({c10 / base:.2f} x baseline), x100 {c100:.2f} % "
            f"({c100 / base:.2f} x baseline); x100/x10 = {c100 / c10:.2f} (target <= 2); "
            f"marginal per client {per:.3f} % ({per / base:.3f} x baseline)"
        )
    return lines


def table(results: list[Result], extras: dict[str, Any]) -> str:
    head = f"{'scenario':<26} {'ch':>5} {'cl':>4} {'format':<14} {'p50ms':>6} {'p95ms':>6} {'p99ms':>6} {'KB/s/cl':>8} {'cpu%':>6} {'xbase':>6} {'rssMB':>6}"
    lines = [head, "-" * len(head)]
    base = _median([r.cpu_percent or 0.0 for r in results if r.name == "no client"])
    for r in results:
        ratio = "-" if not base or r.cpu_percent is None else f"{r.cpu_percent / base:.2f}"
        lines.append(
            f"{r.name:<26} {r.channels:>5} {r.clients:>4} {r.fmt:<14} {_fmt(r.p50_ms):>6} {_fmt(r.p95_ms):>6} "
            f"{_fmt(r.p99_ms):>6} {_fmt(r.kb_per_s, 2):>8} {_fmt(r.cpu_percent):>6} {ratio:>6} {_fmt(r.rss_mb):>6}"
        )
    lines += summary(results)
    for r in results:
        if r.name.startswith(("1000ch", "pi-class")):
            lines.append(
                f"{r.name}: p95 first half {_fmt(r.extra['p95_first_half_ms'])} ms, "
                f"second half {_fmt(r.extra['p95_second_half_ms'])} ms (lag must not grow); "
                f"machine load {r.extra['load_1m']:.1f} on {os.cpu_count()} cores"
            )
        if "samples_lost" in r.extra:
            lines.append(
                f"{r.name}: samples lost {r.extra['samples_lost']} (must be 0), "
                f"throttled {r.extra['throttled_s']:.2f} s by the quota in the window "
                f"({r.extra['throttled_total_s']:.2f} s with the clients connecting)"
            )
    for key, value in extras.items():
        lines.append(f"{key}: {value}")
    return "\n".join(lines)


async def run(args: argparse.Namespace, extras: dict[str, Any]) -> list[Result]:
    seconds = 5.0 if args.quick else 10.0
    rounds = args.rounds or (2 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="micboardd-bench-") as tmp:
        work = Path(tmp)
        out = await run_small(work, seconds, rounds, args.calm)
        if not args.small_only:
            try:
                period_us = round(args.pi_period_ms * 1000)
                out.append(await run_pi(work, seconds * 2, PI_SHARE, args.calm, period_us))
            except QuotaUnavailable as exc:
                extras["pi-class scenario"] = f"not run: {exc}"
            out.append(await run_big(work, seconds, args.calm))
    return out


# The Pi-class scenario's CPU quota: a Pi 4 core runs Python several times slower than the
# build machine, so a quarter of one of its cores stands in for a whole Pi core.
PI_SHARE = 0.25


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="micboardd.bench")
    parser.add_argument("--quick", action="store_true", help="5 s windows instead of 10 s")
    parser.add_argument("--out", default="bench/results.json")
    parser.add_argument(
        "--small-only", action="store_true", help="skip the Pi-class and 1000-channel rigs"
    )
    parser.add_argument("--rounds", type=int, default=0, help="alternated rounds (2 quick, 3)")
    parser.add_argument(
        "--calm", action="store_true", help="meters move only with the simulator's slow walk"
    )
    parser.add_argument(
        "--pi-period-ms",
        type=float,
        default=0,
        help="the Pi-class quota's CFS period (default 100 ms, systemd's; 10 ms spreads the "
        "same share evenly)",
    )
    args = parser.parse_args(argv)
    from micboardd.bench.codec import frames_per_second
    from micboardd.bench.floor import empty_loop_percent
    from micboardd.bench.ingest import CHANNELS, cold_write_microseconds, microseconds_per_sample
    from micboardd.pacing import READ_TICK_S

    extras: dict[str, Any] = {
        "codec frames/s (AD4Q stream, one core)": f"{frames_per_second(1.0):,.0f}",
        "ingest path, CPU us per sample (in process, warm)": f"{microseconds_per_sample():.1f}",
        f"ingest path, CPU us per write of {CHANNELS} samples alone after a "
        f"{READ_TICK_S * 1000:g} ms "
        "sleep (cold)": f"{cold_write_microseconds():.0f}",
        f"an empty event loop waking every {READ_TICK_S * 1000:g} ms, % of a core "
        "(this machine's floor)": f"{empty_loop_percent():.2f}",
    }
    results = asyncio.run(run(args, extras))
    try:
        from micboardd.bench.history import bytes_per_hour  # type: ignore[import-not-found,unused-ignore]

        extras["SQLite bytes written per hour, 100 channels"] = f"{bytes_per_hour():,.0f}"
    except ImportError:
        pass
    print(table(results, extras))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"results": [r.__dict__ for r in results], "extras": extras}, indent=2, default=str
        )
    )
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
