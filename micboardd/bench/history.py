"""Benchmark: SQLite bytes written per hour by the show history (budget: 5 MB at 100 channels).

An hour of 100 channels metering at 10 Hz is simulated in seconds with an injected clock:
meters random-walk, the hub's 1 dB deadband decides which readings become events (as in the
daemon), a clip now and then flips a status (an event row), and `History` batches once a
minute exactly as it does in the daemon. Retention is set short so trimming runs in steady
state: the measured hour starts at midnight, the previous day's table is dropped a few
minutes in, and its pages are reused by the appends that follow.

Bytes written are what the process handed to write()/pwrite() while measuring (`wchar` in
/proc/self/io): WAL frames plus checkpoint copies into the database, the WAL checkpointed at
the end of the window so every page written is counted in both places. Without /proc the
growth of the database and WAL files is reported instead (a lower bound).

    python -m micboardd.bench.history [--channels 100] [--rate-hz 10] [--minutes 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from micboardd.history.service import History, HistoryConfig
from micboardd.model import Family, SourceState
from micboardd.sources.ports import DeviceChanged
from micboardd.state.hub import Hub
from micboardd.store.database import Store

MIDNIGHT = 1_700_006_400.0  # 2023-11-15T00:00:00Z: the measured hour starts a new day
CHANNELS_PER_RECEIVER = 4  # ULXD4Q, as in the budget's scenario (25 x 4 channels)
DEADBAND_DB = 1.0  # the hub sends a meter only when it moved this much (hub.DEADBAND_DB)
# A clip per channel about every 100 s (sim.venue PEAK_CHANCE at its 0.2 s tick); the tile
# shows audio_peak for 2 s: two status events each.
CLIPS_PER_S = 0.01
PEAK_HOLD_S = 2.0
WARMUP_S = 600.0  # ten minutes before midnight, dropped (retention) early in the hour
RETENTION_S = 300.0  # short, so the previous day is dropped and its pages reused
BUDGET_BYTES_PER_HOUR = 5_000_000


@dataclass(frozen=True, slots=True)
class HistoryBench:
    channels: int
    rate_hz: float
    measured_s: float
    bytes_written: int
    bytes_per_hour: float
    rows_written: int
    batches: int
    db_bytes: int
    wal_bytes: int
    wall_s: float
    method: str

    @property
    def within_budget(self) -> bool:
        return self.bytes_per_hour <= BUDGET_BYTES_PER_HOUR


def _wchar() -> int | None:
    try:
        with open("/proc/self/io", encoding="ascii") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


class _Show:
    """Meters of every channel moving like a show; events only past the deadband."""

    def __init__(self, hub: Hub, rng: random.Random) -> None:
        self.hub = hub
        self.rng = rng
        self.devices = list(hub.devices.items())
        self.sent: dict[str, list[float]] = {d: [-60.0, -30.0] for d, _ in self.devices}
        self.walk: dict[str, list[float]] = {d: [-60.0, -30.0] for d, _ in self.devices}
        self.peak_until: dict[str, float] = {}

    def step(self, now: float, dt: float, history: History) -> None:
        rng = self.rng
        clip_chance = CLIPS_PER_S * dt
        for device_id, dev in self.devices:
            walk, sent = self.walk[device_id], self.sent[device_id]
            walk[0] = min(
                -30.0, max(-95.0, walk[0] + 0.15 * (-60.0 - walk[0]) + rng.uniform(-2, 2))
            )
            walk[1] = min(-3.0, max(-70.0, walk[1] + 0.15 * (-30.0 - walk[1]) + rng.uniform(-4, 4)))
            changes: set[str] = set()
            if abs(walk[0] - sent[0]) >= DEADBAND_DB:
                sent[0] = dev.rf_signal = round(walk[0], 1)
                changes.add("rf_signal")
            if abs(walk[1] - sent[1]) >= DEADBAND_DB:
                sent[1] = dev.audio_level = round(walk[1], 1)
                changes.add("audio_level")
            until = self.peak_until.get(device_id)
            if until is None and rng.random() < clip_chance:
                self.peak_until[device_id] = now + PEAK_HOLD_S
                dev.peak_level, dev.status = -0.2, "audio_peak"
                changes |= {"peak_level", "status"}
            elif until is not None and now >= until:
                del self.peak_until[device_id]
                dev.peak_level, dev.status = -18.0, "good"
                changes |= {"peak_level", "status"}
            if changes:
                history.on_event(DeviceChanged(device_id, frozenset(changes)))


async def measure(
    channels: int = 100,
    rate_hz: float = 10.0,
    measure_s: float = 3600.0,
    *,
    warmup_s: float = WARMUP_S,
    retention_s: float = RETENTION_S,
    seed: int = 0,
    directory: Path | None = None,
) -> HistoryBench:
    with tempfile.TemporaryDirectory(prefix="micboardd-bench-", dir=directory) as tmp:
        db = Path(tmp) / "micboardd.db"
        store = Store(db)
        await store.open()
        try:
            return await _run(store, db, channels, rate_hz, measure_s, warmup_s, retention_s, seed)
        finally:
            await store.close()


async def _run(
    store: Store,
    db: Path,
    channels: int,
    rate_hz: float,
    measure_s: float,
    warmup_s: float,
    retention_s: float,
    seed: int,
) -> HistoryBench:
    start = MIDNIGHT - warmup_s
    now = [start]
    hub = Hub(clock=lambda: now[0])
    receivers = -(-channels // CHANNELS_PER_RECEIVER)
    for r in range(receivers):
        count = min(CHANNELS_PER_RECEIVER, channels - r * CHANNELS_PER_RECEIVER)
        rx = f"10.0.0.{r + 1}"
        hub.upsert_receiver(rx, address=rx, family=Family.ULXD, model="ULXD4Q", channels=count)
        hub.set_source_state(rx, SourceState.ONLINE)
    for dev in hub.devices.values():
        dev.rf_signal, dev.audio_level, dev.peak_level = -60.0, -30.0, -18.0
        dev.battery_level, dev.battery_minutes, dev.status = 90, 500, "good"
    config = HistoryConfig(retention_s=retention_s)
    history = History(hub, store, clock=lambda: now[0], config=config, tick_s=None)
    await history.start()
    show = _Show(hub, random.Random(seed))
    dt = 1.0 / rate_hz
    steps_per_s = round(rate_hz)
    wall = time.perf_counter()

    async def simulate(seconds: float) -> int:
        rows = 0
        for second in range(int(seconds)):
            for _ in range(steps_per_s):
                now[0] += dt
                show.step(now[0], dt, history)
            now[0] = start + round(now[0] - start)  # no float drift over an hour
            history.tick()
            if (second + 1) % int(config.flush_every_s) == 0:  # the daemon: each new minute
                rows += await history.flush()
        return rows

    await simulate(warmup_s)
    await store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = db.with_name(db.name + "-wal")
    before = _wchar()
    size_before = _size(db) + _size(wal)
    batches_before = history.batches_written
    rows = await simulate(measure_s)
    await store.execute("PRAGMA wal_checkpoint(PASSIVE)")
    after = _wchar()
    if before is not None and after is not None:
        written, method = after - before, "write syscalls (/proc/self/io wchar)"
    else:
        written, method = _size(db) + _size(wal) - size_before, "file growth (lower bound)"
    result = HistoryBench(
        channels=channels,
        rate_hz=rate_hz,
        measured_s=measure_s,
        bytes_written=written,
        bytes_per_hour=written * 3600.0 / measure_s,
        rows_written=rows,
        batches=history.batches_written - batches_before,
        db_bytes=_size(db),
        wal_bytes=_size(wal),
        wall_s=round(time.perf_counter() - wall, 1),
        method=method,
    )
    await history.stop()
    return result


def bytes_per_hour(channels: int = 100) -> float:
    """SQLite bytes written per hour at `channels` (the figure `make bench` prints); runs
    its own event loop, so call it outside one."""
    return asyncio.run(measure(channels)).bytes_per_hour


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--minutes", type=float, default=60.0, help="simulated time measured")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.channels, args.rate_hz, args.minutes * 60.0))
    if args.json:
        print(json.dumps({**asdict(result), "within_budget": result.within_budget}))
    else:
        verdict = "ok" if result.within_budget else "OVER BUDGET"
        print(
            f"SQLite bytes written per hour at {result.channels} channels: "
            f"{result.bytes_per_hour / 1e6:.2f} MB (budget 5 MB, {verdict}); "
            f"{result.rows_written} ten-second buckets in {result.batches} batches, "
            f"db {result.db_bytes / 1e6:.1f} MB, measured by {result.method}, "
            f"{result.wall_s} s"
        )
    return 0 if result.within_budget else 1


if __name__ == "__main__":
    raise SystemExit(main())
