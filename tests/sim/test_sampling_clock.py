"""A simulated receiver samples its meters on its own clock (`peers.last_sampling_instant`):
every client of one receiver on the same instants, receivers spread over the period."""

from __future__ import annotations

import math

from micboardd.sim.peers import last_sampling_instant

PERIOD = 0.1


def test_clients_connecting_at_different_times_share_the_receivers_instants() -> None:
    address = "127.0.0.7:40123"
    first = last_sampling_instant(1000.0123, PERIOD, address)
    second = last_sampling_instant(1003.777, PERIOD, address)
    assert first <= 1000.0123 < first + PERIOD
    assert second <= 1003.777 < second + PERIOD
    steps = (second - first) / PERIOD
    assert math.isclose(steps, round(steps), abs_tol=1e-6)  # the same grid


def test_receivers_are_spread_over_the_period_not_in_step() -> None:
    addresses = [f"127.0.0.{n}:{40000 + n}" for n in range(1, 26)]
    phases = {round(last_sampling_instant(5000.0, PERIOD, a) % PERIOD, 4) for a in addresses}
    assert len(phases) >= 20  # nearly every one on its own instant
    assert max(phases) - min(phases) > PERIOD / 2
