"""The hub's short ways for meter samples (`Hub._meters`, `Hub.apply_samples`) end where the
general merge does, and hand meters to a meter sink whatever the family or source."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import msgspec

from micboardd.model import Family, Reading, SourceState
from micboardd.sources.ports import DeviceChanged, HubEvent, MeterDelivery
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


def int_samples(seed: int) -> list[tuple[int, str | None, int | None, int | None, int | None]]:
    """What a family's sample scan gives: whole numbers or None, on either channel."""
    rng = random.Random(seed)
    out: list[tuple[int, str | None, int | None, int | None, int | None]] = []
    for _ in range(600):
        audio = rng.choice([None, rng.randint(-50, -1)])
        peak = audio if rng.random() < 0.9 else rng.choice([0, -1, None])
        rf = rng.choice([None, rng.randint(-100, -40)])
        out.append((rng.choice([1, 2, 3]), rng.choice(["A", "B", None]), rf, audio, peak))
    return out


def test_a_write_of_samples_ends_where_the_general_merge_does() -> None:
    fast, fast_events = hub_with_events()
    general, general_events = hub_with_events()
    rx = general.receivers["rx"]
    batch = int_samples(seed=11)
    for start in range(0, len(batch), 4):  # four samples a write, as a ULXD4Q sends them
        NOW[0] += 0.1
        write = batch[start : start + 4]
        fast.apply_samples("rx", write)
        for channel, antenna, rf, audio, peak in write:
            general.updates_applied += 1
            if channel > rx.channels:
                continue  # no such channel: ignored
            fields = {"antenna": antenna, "rf_signal": rf, "audio_level": audio}
            general._merge(f"rx:{channel}", rx, {**fields, "peak_level": peak})
    for device_id in ("rx:1", "rx:2"):
        assert fast.devices[device_id] == general.devices[device_id]
    assert fast_events == general_events
    assert fast.updates_applied == general.updates_applied
    changed = set().union(*(c for _, c in fast_events))
    assert {"rf_signal", "audio_level", "peak_level", "antenna", "rf_quality"} <= changed


def test_samples_grade_no_rf_before_the_receiver_says_whether_a_transmitter_is_there() -> None:
    # A ULX-D meters before `GET 0 ALL` is answered: the noise floor of an absent
    # transmitter must not read as a link (status.rf_quality, tells_presence).
    hub = Hub(clock=lambda: NOW[0])
    hub.upsert_receiver("rx", address="10.0.0.5", family=Family.ULXD, channels=2)
    hub.set_source_state("rx", SourceState.ONLINE)
    hub.apply_samples("rx", [(1, "A", -55, -30, -30)])
    hub.apply("rx", [Reading(2, {"rf_signal": -90, "audio_level": -40, "antenna": "B"})])
    assert hub.devices["rx:1"].rf_signal == -55
    assert hub.devices["rx:1"].rf_quality is None
    assert hub.devices["rx:2"].rf_quality is None
    hub.apply("rx", [Reading(1, {"tx_on": True})])
    assert hub.devices["rx:1"].rf_quality == "excellent"


def test_a_listener_without_samples_gets_them_through_its_meter_sink() -> None:
    hub = Hub(clock=lambda: NOW[0])
    hub.upsert_receiver("rx", address="10.0.0.5", family=Family.ULXD, channels=2)
    hub.set_source_state("rx", SourceState.ONLINE)
    hub.apply("rx", [Reading(ch, {"tx_on": True}) for ch in (1, 2)])
    told: list[tuple[str, frozenset[str]]] = []

    def listen(event: HubEvent) -> None:
        if isinstance(event, DeviceChanged):
            told.append((event.device_id, event.changes))

    hub.subscribe(listen, meters=MeterDelivery.SINK)
    sink: list[Any] = []
    hub.meter_sinks["rx:1"] = sink
    NOW[0] += 0.1
    # Channel 1 twice in one write: each reading as its change left the device.
    hub.apply_samples(
        "rx", [(1, "A", -60, -30, -30), (2, "A", -61, -31, -31), (1, "B", -70, -20, -20)]
    )
    # Channel 2 has no sink: its change is an event like any other, nothing is lost.
    assert [d for d, _ in told] == ["rx:2"]
    assert [(t, r, a, p) for t, _, r, a, p in sink] == [
        (NOW[0], -60, -30, -30),
        (NOW[0], -70, -20, -20),
    ]
    assert all(c >= {"rf_signal", "audio_level", "peak_level"} for _, c, *_ in sink)
    NOW[0] += 0.1
    hub.apply_samples("rx", [(1, "B", -70, -20, 0)])  # a clipping peak: the general way
    assert [d for d, _ in told] == ["rx:2", "rx:1"] and len(sink) == 2
    assert "status" in told[-1][1]
    # A meter reading the general way (any family's, `apply`) goes to the sink too.
    hub.apply("rx", [Reading(1, {"rf_signal": -80, "antenna": "A"})])
    assert len(told) == 2
    assert sink[-1][1] >= {"rf_signal", "antenna"} and sink[-1][2] == -80


def test_every_family_and_a_peer_instance_feed_the_meter_sink_the_same_way() -> None:
    hub = Hub(clock=lambda: NOW[0])
    hub.upsert_receiver("ad", address="10.0.0.6", family=Family.AXIENT, channels=1)
    hub.set_source_state("ad", SourceState.ONLINE)
    hub.apply("ad", [Reading(1, {"tx_on": True, "battery_bars": 4})])
    everyone: list[frozenset[str]] = []
    history: list[frozenset[str]] = []

    def into(told: list[frozenset[str]]) -> Callable[[HubEvent], None]:
        def listen(event: HubEvent) -> None:
            if isinstance(event, DeviceChanged):
                told.append(event.changes)

        return listen

    hub.subscribe(into(everyone))
    hub.subscribe(into(history), meters=MeterDelivery.SINK)
    sink: list[Any] = []
    hub.meter_sinks["ad:1"] = sink
    NOW[0] += 0.1
    # An Axient Digital reads each antenna's RF: rf_antennas is a meter too.
    hub.apply("ad", [Reading(1, {"rf_antennas": [-60, -70], "audio_level": -20})])
    assert history == [] and len(sink) == 1
    assert everyone == [sink[0][1]] and sink[0][1] >= {"rf_antennas", "audio_level"}
    hub.apply("ad", [Reading(1, {"battery_bars": 2})])  # not a meter: an event for all
    assert len(history) == 1 and len(sink) == 1
    # A device of another instance (cluster): its meters go the same way.
    remote = msgspec.structs.replace(
        hub.devices["ad:1"], device_id="far:1", receiver_id="far", rf_signal=-50
    )
    assert hub.put_remote(remote)
    far: list[Any] = []
    hub.meter_sinks["far:1"] = far
    NOW[0] += 0.1
    assert hub.put_remote(msgspec.structs.replace(remote, rf_signal=-65, audio_level=-12))
    assert len(history) == 2  # its arrival was an event; its meters are not
    assert [(r, a) for _, _, r, a, _ in far] == [(-65, -12)]
