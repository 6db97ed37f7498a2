"""CPU per meter sample on the ingest path, in this process: a steadier figure than the
daemon's CPU share on a shared machine (no sockets, no other process, no timer noise).

The path is the daemon's for a ULX-D metering write: the decoder's one-pass check, the
family's sample scan, `Hub.apply_samples`, and the hub's listeners as the daemon wires
them (fan-out, alerts, history), and the ticks the daemon runs on the same clock (history's,
the alert engine's and the hub's, every second for this venue's 100 channels): what the
samples cost, now or later. 25 ULXD4Q, every meter moving on every sample as real receivers jitter (RF and audio random walks), transmitters on air; the
clock advances 1 ms per sample (a thousand samples a second).

`cold_write_microseconds` is the other end: one write at a time, each after a sleep of one
read tick, as a daemon whose receivers wrote one at a time would run it. The difference is
what a wake-up costs beyond itself: the code after it runs with the CPU's caches cold.

Run directly with ``python -m micboardd.bench.ingest``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from micboardd.alerts.service import ALERT_TICK_S, Alerts
from micboardd.daemon.wiring import HUB_TICK_S
from micboardd.feed.fanout import FanOut
from micboardd.history.service import HISTORY_TICK_S, History, tick_parts
from micboardd.model import Family, Reading, SourceState
from micboardd.pacing import READ_TICK_S
from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.families import FAMILIES
from micboardd.shure.families.base import SampleScan
from micboardd.shure.families.ulxd import AUDIO_OFFSET, RF_OFFSET
from micboardd.state.hub import Hub
from micboardd.store.database import Store

RECEIVERS = 25
CHANNELS = 4
WRITES = 2500  # prepared metering writes (10 000 samples), replayed in a loop
RF_STEP_DB = 2  # real receivers' RF jitters by a dB or two per sample
# A working show: every transmitter within reach (the simulator's channels walk around
# -70..-48 dBm), so the alert engine sees what it sees on most evenings.
RF_RANGE_DBM = (-78, -40)
AUDIO_STEP_DB = 4  # speech moves the audio meter by several dB per 100 ms


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _writes(rng: random.Random) -> list[tuple[str, bytes]]:
    """(receiver id, one 4-channel metering write) as ULXD4Q receivers send them."""
    rf = [[-60] * CHANNELS for _ in range(RECEIVERS)]
    audio = [[-30] * CHANNELS for _ in range(RECEIVERS)]
    out: list[tuple[str, bytes]] = []
    for n in range(WRITES):
        r = n % RECEIVERS
        frames = []
        for ch in range(CHANNELS):
            step = rng.randint(-RF_STEP_DB, RF_STEP_DB)
            rf[r][ch] = max(RF_RANGE_DBM[0], min(RF_RANGE_DBM[1], rf[r][ch] + step))
            step = rng.randint(-AUDIO_STEP_DB, AUDIO_STEP_DB)
            audio[r][ch] = max(-49, min(-2, audio[r][ch] + step))
            antenna = "AX" if rng.random() < 0.9 else "XB"
            frames.append(
                f"< SAMPLE {ch + 1} ALL {antenna} {rf[r][ch] + RF_OFFSET:03d} "
                f"{audio[r][ch] + AUDIO_OFFSET:03d} >"
            )
        out.append((f"rx{r}", "".join(frames).encode()))
    return out


async def _parts(store: Store, clock: _Clock) -> tuple[Hub, Alerts, History]:
    """The hub and its listeners, started as the daemon starts them."""
    hub = Hub(clock=clock)
    fanout = FanOut(hub)
    alerts = Alerts(hub, store, fanout.publish_alert, clock=clock, tick_s=None)
    history = History(hub, store, clock=clock, tick_s=None)
    fanout.start()
    await alerts.start()
    await history.start()
    for r in range(RECEIVERS):
        hub.upsert_receiver(
            f"rx{r}", address=f"10.0.0.{r + 1}", family=Family.ULXD, model="ULXD4Q", channels=4
        )
        hub.set_source_state(f"rx{r}", SourceState.ONLINE)
        hub.apply(f"rx{r}", [Reading(ch, {"tx_on": True}) for ch in range(1, CHANNELS + 1)])
    return hub, alerts, history


def microseconds_per_sample(seconds: float = 2.0) -> float:
    """Replay the writes for about `seconds` of CPU; return CPU microseconds per sample."""
    return asyncio.run(_measure(seconds))[0]


def cold_write_microseconds(writes: int = 80) -> float:
    """CPU microseconds of the path for one write (four samples) run alone after a sleep of
    one read tick (`READ_TICK_S`), the sleep not counted."""
    return asyncio.run(_cold(writes))


@dataclass
class _Rig:
    """The daemon's ingest path for RECEIVERS ULXD4Q, fed on a bench clock."""

    clock: _Clock
    hub: Hub
    alerts: Alerts
    history: History
    decoders: dict[str, StreamDecoder]
    scan: SampleScan

    def take(self, receiver_id: str, data: bytes) -> int:
        """One metering write down the path; returns its samples."""
        scan = self.scan
        rows = self.decoders[receiver_id].sample_rows(data, scan.frame, scan.frame_len)
        assert rows is not None
        self.hub.apply_samples(receiver_id, scan.read(rows))
        return len(rows)


@contextlib.asynccontextmanager
async def _rig() -> AsyncIterator[_Rig]:
    spec = FAMILIES[Family.ULXD]
    assert spec.sample_scan is not None
    clock = _Clock()
    with tempfile.TemporaryDirectory(prefix="micboardd-ingest-") as tmp:
        store = Store(Path(tmp) / "bench.db")
        await store.open()
        try:
            hub, alerts, history = await _parts(store, clock)
            decoders = {f"rx{r}": StreamDecoder(spec.framing) for r in range(RECEIVERS)}
            yield _Rig(clock, hub, alerts, history, decoders, spec.sample_scan)
            await alerts.stop()
            await history.stop()
        finally:
            await store.close()


async def _cold(count: int) -> float:
    writes = _writes(random.Random(17))[:count]
    spent = 0.0
    async with _rig() as rig:
        for receiver_id, data in writes:
            time.sleep(READ_TICK_S)  # a real sleep: the process leaves the CPU
            start = time.thread_time()
            rig.clock.now += READ_TICK_S
            rig.take(receiver_id, data)
            spent += time.thread_time() - start
    return spent / len(writes) * 1e6


def measure_once() -> tuple[float, Hub, History]:
    """One pass over the writes (for tests): the figure, the hub it fed and its history."""
    return asyncio.run(_measure(0.0))


async def _measure(seconds: float) -> tuple[float, Hub, History]:
    writes = _writes(random.Random(17))
    async with _rig() as rig:
        clock, hub, alerts, history = rig.clock, rig.hub, rig.alerts, rig.history
        take, samples = rig.take, 0
        parts = tick_parts(RECEIVERS * CHANNELS)
        part, history_due = 0, clock.now + HISTORY_TICK_S / parts
        alerts_due, hub_due = clock.now + ALERT_TICK_S, clock.now + HUB_TICK_S
        start = time.process_time()
        while samples == 0 or time.process_time() - start < seconds:
            for receiver_id, data in writes:
                clock.now += 0.001 * CHANNELS
                samples += take(receiver_id, data)
                if clock.now >= history_due:  # the daemon's timers, on this clock
                    history.tick(part, parts)
                    part = (part + 1) % parts
                    history_due += HISTORY_TICK_S / parts
                if clock.now >= alerts_due:
                    alerts.tick()
                    alerts_due += ALERT_TICK_S
                if clock.now >= hub_due:
                    hub.tick()
                    hub_due += HUB_TICK_S
        figure = (time.process_time() - start) / samples * 1e6
    return figure, hub, history


if __name__ == "__main__":
    print(f"{microseconds_per_sample():.2f} µs CPU per sample (ingest path, in process, warm)")
    print(
        f"{cold_write_microseconds():.0f} µs CPU per write of {CHANNELS} samples, "
        f"each alone after a {READ_TICK_S * 1000:g} ms sleep (cold)"
    )
