"""The hub keeps the meters of a quiet channel from the alert engine (`Hub.meter_quiet`):
what the engine decides is the same as when it is told of every sample."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from micboardd.alerts.model import AlertConfig
from micboardd.alerts.rules import quiet_band
from micboardd.sources.ports import DeviceChanged, HubEvent, MeterDelivery
from micboardd.state.hub import METER_CHANGE_KEYS
from micboardd.store.database import Store
from tests.clocked_hub import RX, Clock

from .conftest import Rig, engine_on_hub, without_id


def test_a_quiet_channel_is_marked_and_a_weak_one_is_not(rig: Rig) -> None:
    band = quiet_band(AlertConfig())
    assert rig.hub.meter_quiet == {f"{RX}:{ch}": band for ch in range(1, 5)}
    told: list[str] = []

    def meters_told(event: HubEvent) -> None:  # subscribed as the engine is
        if isinstance(event, DeviceChanged) and event.changes <= METER_CHANGE_KEYS:
            told.append(event.device_id)

    rig.hub.subscribe(meters_told, meters=MeterDelivery.OUTSIDE_QUIET)
    rig.hub.apply_samples(RX, [(1, "A", -58, -25, -20), (2, "A", -57, -26, -21)])
    assert told == []  # inside the band: nothing to look at
    rig.hub.apply_samples(RX, [(1, "A", -90, -25, -20)])  # RF into the weak band
    assert told == [f"{RX}:1"]
    assert f"{RX}:1" not in rig.hub.meter_quiet  # weak RF being timed: every sample counts
    rig.hub.apply_samples(RX, [(1, "A", -89, -25, -20), (2, "A", -60, -25, -2)])
    assert told == [f"{RX}:1", f"{RX}:1"]  # channel 2's peak stayed below clipping
    # A clipping peak takes the general way (a status change, an event for every listener):
    # the engine times the peaks, and the channel is no longer quiet.
    rig.hub.apply_samples(RX, [(2, "A", -60, -25, 0)])
    assert f"{RX}:2" not in rig.hub.meter_quiet
    rig.hub.apply_samples(RX, [(2, "A", -62, -25, -20)])
    assert told[-1] == f"{RX}:2"
    # A receiver that grades its own link (an EW-DX's RSQI) says no transmitter, the RF
    # still strong: a change of meters alone, told because the grade moved.
    rig.read(3, rf_quality="none")
    assert told[-1] == f"{RX}:3" and f"{RX}:3" not in rig.hub.meter_quiet


@pytest.mark.parametrize("seed", range(3))
async def test_alerts_are_the_same_whether_or_not_quiet_meters_are_told(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    clock = Clock()
    stores = [Store(tmp_path / f"{name}.db") for name in ("gated", "told")]
    for store in stores:
        await store.open()
    try:
        (hub, alerts, frames), (hub_all, alerts_all, frames_all) = [
            await engine_on_hub(clock, store) for store in stores
        ]
        rf = [-55] * 5
        for step in range(6000):
            clock.t += 0.025
            samples = []
            for ch in rng.sample(range(1, 5), rng.randint(1, 4)):
                # RF walks, now and then into the weak band and out of the transmitter's
                # reach (fades, dropouts); peaks now and then clip.
                rf[ch] = max(-110, min(-40, rf[ch] + rng.choice([-9, -3, -1, 1, 3, 8])))
                peak = rng.choice([-30, -20, -12, -6, 0]) if rng.random() < 0.02 else -20
                samples.append((ch, rng.choice(["A", "B"]), rf[ch], -25, peak))
            hub.apply_samples(RX, samples)
            hub_all.meter_quiet.clear()  # told of every sample, as before the band
            hub_all.apply_samples(RX, samples)
            if step % 40 == 0:  # the daemon's one-second ticks
                for h, a in ((hub, alerts), (hub_all, alerts_all)):
                    h.tick()
                    a.tick()
                hub_all.meter_quiet.clear()
        await alerts.stop()
        await alerts_all.stop()
        kinds = {body["kind"] for _, body in frames}
        assert len(frames) > 10 and {"rf_weak", "rf_lost"} & kinds, kinds
        # Everything but the ids (random, new_alert_id) is the same, in the same order.
        assert [without_id(body) for _, body in frames] == [
            without_id(body) for _, body in frames_all
        ]
        assert alerts._watches == alerts_all._watches
    finally:
        for store in stores:
            await store.close()
