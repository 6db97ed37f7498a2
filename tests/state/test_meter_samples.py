"""The hub's short way for meter samples (`Hub._meters`) ends where the general merge does."""

from __future__ import annotations

import random
from typing import Any

from micboardd.model import Family, Reading, SourceState
from micboardd.sources.ports import DeviceChanged, HubEvent
from micboardd.state.hub import Hub

NOW = [1000.0]  # both hubs read the same clock, moved once per sample


def hub_with_events() -> tuple[Hub, list[tuple[str, frozenset[str]]]]:
    hub = Hub(clock=lambda: NOW[0])
    hub.upsert_receiver("rx", address="10.0.0.5", family=Family.ULXD, channels=2)
    hub.set_source_state("rx", SourceState.ONLINE)
    hub.apply("rx", [Reading(1, {"tx_on": True, "battery_bars": 4})])
    events: list[tuple[str, frozenset[str]]] = []

    def listen(event: HubEvent) -> None:
        if isinstance(event, DeviceChanged):
            events.append((event.device_id, event.changes))

    hub.subscribe(listen)
    return hub, events


def samples(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for _ in range(500):
        audio = rng.choice([None, rng.randint(-50, 0), rng.uniform(-50.0, -0.6)])
        out.append(
            {
                "antenna": rng.choice(["A", "B", "AB", None]),
                "rf_signal": rng.choice([None, rng.randint(-100, -40), rng.uniform(-90.0, -50.0)]),
                "audio_level": audio,
                "peak_level": audio if rng.random() < 0.9 else rng.choice([0, -0.2, None]),
            }
        )
    return out


def test_meter_samples_change_devices_and_tell_listeners_as_the_general_merge_does() -> None:
    fast, fast_events = hub_with_events()
    general, general_events = hub_with_events()
    rx = general.receivers["rx"]
    for fields in samples(seed=7):
        NOW[0] += 0.1
        fast.apply("rx", [Reading(1, fields)])
        general.updates_applied += 1
        general._merge("rx:1", rx, fields)
    assert fast.devices["rx:1"] == general.devices["rx:1"]
    assert fast_events == general_events
    # The walk crossed deadbands, RF grades and clipping peaks (the audio_peak hold).
    changed = set().union(*(c for _, c in fast_events))
    assert {"rf_signal", "audio_level", "peak_level", "antenna", "rf_quality"} <= changed
    assert "status" in changed
