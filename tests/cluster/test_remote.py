"""Other instances' devices in our hub, their liveness, and our own outbox (no Redis needed)."""

from __future__ import annotations

import logging

import msgspec
import pytest

from micboardd.cluster import remote
from micboardd.cluster.outbox import Outbox
from micboardd.cluster.remote import Remotes
from micboardd.model import METER_FIELDS, Reading
from micboardd.sources.ports import DeviceChanged, DeviceRemoved
from micboardd.state.hub import Hub

from .stages import Recorder, add_receiver, as_json, message, stage

TTL_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def remotes_for(instance: str, clock: Clock, channels: int = 2) -> Remotes[Hub]:
    hub = stage(instance, f"rx-{instance}", channels)
    return Remotes(hub, instance, "boot-self", ttl_s=TTL_S, clock=clock)


def test_full_message_puts_every_device_with_its_instance(clock: Clock) -> None:
    a = stage("stage-a", "rxA", 4)
    r = remotes_for("stage-b", clock)
    hub = r.hub
    rec = Recorder(hub)
    assert r.apply(message(a)) is False  # a full message says it all: no snapshot to load
    for device_id, dev in a.devices.items():
        assert hub.devices[device_id] == dev
        assert hub.devices[device_id].instance == "stage-a"
    assert {e.device_id for e in rec.events if isinstance(e, DeviceChanged)} == set(a.devices)
    assert all(hub.devices[f"rx-stage-b:{ch}"].instance == "stage-b" for ch in (1, 2))
    assert r.status() == {"stage-a": {"online": True, "devices": 4}}
    # A later full message without a device means that device is gone.
    a.remove_receiver("rxA")
    add_receiver(a, "rxA2", 1)
    rec.events.clear()
    assert r.apply(message(a)) is False
    assert "rxA:1" not in hub.devices and "rxA2:1" in hub.devices
    assert sum(isinstance(e, DeviceRemoved) for e in rec.events) == 4


def test_delta_meters_and_removals(clock: Clock) -> None:
    a = stage("stage-a", "rxA", 2)
    r = remotes_for("stage-b", clock)
    r.apply(message(a))
    rec = Recorder(r.hub)
    a.apply("rxA", [Reading(1, {"rf_signal": -70.0, "audio_level": -10.0})])
    entry = [-70.0, -10.0, -20.0, None, None, a.devices["rxA:1"].last_update]
    r.apply(message(a, "delta", devices=[], meters={"rxA:1": entry, "unknown:9": entry}))
    assert r.hub.devices["rxA:1"].rf_signal == -70.0
    assert "unknown:9" not in r.hub.devices  # meters alone never create a device
    (changed,) = rec.events
    assert isinstance(changed, DeviceChanged)
    assert changed.changes <= {*METER_FIELDS, "rf_antennas", "antenna"}
    a.apply("rxA", [Reading(2, {"name": "Keys"})])
    r.apply(message(a, "delta", devices=[a.devices["rxA:2"]], removed=["rxA:1"]))
    assert r.hub.devices["rxA:2"].name == "Keys"
    assert "rxA:1" not in r.hub.devices


def test_own_messages_never_loop_back(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    r = remotes_for("stage-b", clock)
    twin = stage("stage-b", "rx-twin", 2)  # another box configured with our name
    before = dict(r.hub.devices)
    clock.now += 5
    assert r.apply(message(twin, boot="boot-self")) is False
    assert r.self_heard == clock.now
    assert r.hub.devices == before and r.peers == {}
    with caplog.at_level(logging.WARNING):
        r.apply(message(twin, boot="other-boot"))
        r.apply(message(twin, boot="other-boot"))
    assert r.hub.devices == before
    warnings = [m for m in caplog.messages if "also calls itself 'stage-b'" in m]
    assert len(warnings) == 1


def test_silent_peer_goes_offline_and_comes_back(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    a = stage("stage-a", "rxA", 2)
    r = remotes_for("stage-b", clock)
    r.apply(message(a))
    clock.now += TTL_S
    assert r.expire() == []  # exactly at the TTL: still alive
    clock.now += 0.5
    with caplog.at_level(logging.WARNING):
        assert r.expire() == ["stage-a"]
    assert "instance 'stage-a' silent for 10 s: its 2 devices show offline" in caplog.messages
    for ch in (1, 2):
        dev = r.hub.devices[f"rxA:{ch}"]
        assert dev.status == "rx_offline"
        assert dev.rf_signal is None and dev.audio_level is None
        assert dev.peak_level is None and dev.rf_quality is None
        assert dev.name == f"Vox {ch}" and dev.battery_status == "good"
    assert r.expire() == []
    # A beat after a silence: the caller must reload the snapshot (quiet devices are stale).
    assert r.apply(message(a, "beat", devices=[])) is True
    assert r.status()["stage-a"]["online"] is True
    r.load("stage-a", as_json(a), alive=True)
    assert r.hub.devices["rxA:1"].status == a.devices["rxA:1"].status != "rx_offline"


def test_snapshot_of_a_dead_peer_loads_offline(clock: Clock) -> None:
    a = stage("stage-a", "rxA", 2)
    r = remotes_for("stage-b", clock)
    r.load("stage-a", as_json(a), alive=False)
    assert all(r.hub.devices[f"rxA:{ch}"].status == "rx_offline" for ch in (1, 2))
    r.load("stage-b", as_json(a), alive=True)  # our own snapshot: ignored
    assert r.status() == {"stage-a": {"online": False, "devices": 2}}


def test_local_device_wins_over_a_remote_copy(clock: Clock) -> None:
    r = remotes_for("stage-b", clock)
    a = stage("stage-a", "rx-stage-b", 2)  # both stages monitor the same receiver
    a.apply("rx-stage-b", [Reading(1, {"name": "Theirs"})])
    r.apply(message(a))
    assert r.hub.devices["rx-stage-b:1"].name == "Vox 1"
    assert r.hub.devices["rx-stage-b:1"].instance == "stage-b"
    # And a receiver first seen remotely, then monitored here, becomes ours.
    c = stage("stage-c", "rxC", 1)
    r.apply(message(c))
    add_receiver(r.hub, "rxC", 1)
    r.hub.apply("rxC", [Reading(1, {"name": "Ours"})])
    assert r.hub.devices["rxC:1"].instance == "stage-b"
    assert r.hub.devices["rxC:1"].name == "Ours"
    c.apply("rxC", [Reading(1, {"name": "Theirs"})])
    r.apply(message(c, "delta"))
    assert r.hub.devices["rxC:1"].name == "Ours"
    r.hub.tick()  # local status rules run on local devices only
    r.apply(message(c, "full", devices=[]))
    assert "rxC:1" in r.hub.devices  # a peer cannot remove our device


def test_two_peers_claiming_one_device(clock: Clock) -> None:
    a = stage("stage-a", "shared", 1)
    c = stage("stage-c", "shared", 1)
    r = remotes_for("stage-b", clock)
    r.apply(message(a))
    r.apply(message(c, boot="boot-c"))
    assert r.hub.devices["shared:1"].instance == "stage-a"
    clock.now += TTL_S + 1
    r.apply(message(c, "beat", boot="boot-c", devices=[]))
    r.expire()  # stage-a silent, stage-c just spoke
    r.apply(message(c, "delta", boot="boot-c"))
    assert r.hub.devices["shared:1"].instance == "stage-c"
    assert r.status() == {
        "stage-a": {"online": False, "devices": 0},
        "stage-c": {"online": True, "devices": 1},
    }


def test_remote_devices_and_peers_are_bounded(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(remote, "MAX_REMOTE_DEVICES", 3)
    monkeypatch.setattr(remote, "MAX_PEERS", 2)
    r = remotes_for("stage-b", clock)
    with caplog.at_level(logging.WARNING):
        r.apply(message(stage("stage-a", "rxA", 4)))
        r.apply(message(stage("stage-c", "rxC", 1)))
        r.apply(message(stage("stage-d", "rxD", 1)))
    assert len(r.owner) == 3 and "stage-d" not in r.peers
    assert len([m for m in caplog.messages if "more than 3 remote devices" in m]) == 1
    assert len([m for m in caplog.messages if "more than 2 instances" in m]) == 1


def test_outbox_tracks_local_changes_only_while_active() -> None:
    hub = stage("stage-a", "rxA", 3)
    out = Outbox(hub, "stage-a")
    hub.subscribe(out.on_event)
    hub.apply("rxA", [Reading(1, {"name": "Early"})])
    assert not out.take()  # not connected: nothing tracked
    other = stage("stage-b", "rxB", 1)
    hub.put_remote(other.devices["rxB:1"])
    assert {d.device_id for d in out.start()} == {"rxA:1", "rxA:2", "rxA:3"}

    for level in range(-40, -10):  # a burst of meter samples: one entry, latest values
        hub.apply("rxA", [Reading(1, {"audio_level": float(level)})])
    hub.apply("rxA", [Reading(2, {"audio_level": -5.0}), Reading(2, {"name": "Keys"})])
    hub.put_remote(
        msgspec.structs.replace(other.devices["rxB:1"], name="Remote")
    )  # not ours to publish
    assert out.changed.is_set()
    batch = out.take()
    assert not out.changed.is_set()
    assert [d.device_id for d in batch.devices] == ["rxA:2"]  # name changed: whole device
    assert batch.meters == {
        "rxA:1": [-50.0, -11.0, -20.0, None, None, hub.devices["rxA:1"].last_update]
    }
    assert not out.take()
    assert [d.device_id for d in out.take_snapshot_stale()] == ["rxA:1"]
    assert out.take_snapshot_stale() == []

    hub.remove_receiver("rxA")
    assert out.take().removed == ["rxA:1", "rxA:2", "rxA:3"]
    out.pause()
    add_receiver(hub, "rxA", 1)
    assert not out.take()
