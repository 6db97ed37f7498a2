"""The bench's floor: an empty event loop on a tick, measured in a child process."""

from __future__ import annotations

from micboardd.bench.floor import empty_loop_percent


def test_an_empty_loop_on_a_tick_costs_some_cpu_and_far_from_a_core() -> None:
    figure = empty_loop_percent(window_s=0.5, period_s=0.005)
    # 200 wake-ups a second do cost something, and an empty loop is nowhere near busy.
    assert 0.0 < figure < 50.0
