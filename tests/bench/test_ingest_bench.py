"""The ingest benchmark measures the daemon's path: every write takes the fast way and moves
the hub's devices and history as the daemon's would."""

from __future__ import annotations

from micboardd.bench import ingest


def test_the_ingest_bench_replays_writes_through_hub_and_listeners() -> None:
    figure, hub, history = ingest.measure_once()
    assert figure > 0
    assert hub.updates_applied >= ingest.WRITES * ingest.CHANNELS
    levels = {hub.devices[f"rx{r}:1"].rf_signal for r in range(ingest.RECEIVERS)}
    assert len(levels) > 1  # every meter moved: not one value for all
    # The daemon's ticks ran on the bench's clock: ten seconds of 1 ms samples closed.
    ring = history.channels["rx0:1"].ring
    assert ring.count >= ingest.WRITES * ingest.CHANNELS // 1000 - 1


def test_the_cold_figure_runs_the_same_path_one_write_at_a_time() -> None:
    figure = ingest.cold_write_microseconds(writes=3)
    assert 0 < figure < 1_000_000  # CPU was spent, and far less than a second a write
