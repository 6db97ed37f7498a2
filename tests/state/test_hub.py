"""Hub: change detection, deadbands and the status rule table."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from micboardd.isotime import iso
from micboardd.model import (
    DEVICE_FIELDS,
    BatteryStatus,
    Family,
    Reading,
    SourceState,
    battery_status,
)
from micboardd.sources.ports import DeviceChanged, DeviceRemoved, HubEvent
from micboardd.state.hub import Hub
from micboardd.state.status import AUDIO_PEAK_HOLD_S, PREV_STATE_HOLD_S, rf_quality


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def online_hub(channels: int = 2) -> tuple[Hub, Clock, list[HubEvent]]:
    clock = Clock()
    hub = Hub(clock=clock)
    events: list[HubEvent] = []
    hub.subscribe(events.append)
    hub.upsert_receiver(
        "rx", address="10.0.0.5", family=Family.ULXD, model="ULXD4D", channels=channels
    )
    hub.set_source_state("rx", SourceState.ONLINE)
    events.clear()
    return hub, clock, events


def changes(events: list[HubEvent]) -> list[frozenset[str]]:
    return [e.changes for e in events if isinstance(e, DeviceChanged)]


def test_devices_have_every_contract_field() -> None:
    hub, _, _ = online_hub()
    dev = hub.devices["rx:1"]
    assert tuple(msgspec.structs.asdict(dev)) == DEVICE_FIELDS
    assert dev.device_id == "rx:1" and dev.receiver_id == "rx" and dev.channel == 1
    assert dev.manufacturer == "shure" and dev.model == "ULXD4D"


def test_meter_deadband_suppresses_invisible_changes() -> None:
    hub, _, events = online_hub()
    hub.apply("rx", [Reading(1, {"tx_on": True, "rf_signal": -64, "audio_level": -30})])
    assert changes(events)
    events.clear()
    hub.apply("rx", [Reading(1, {"rf_signal": -64.4, "audio_level": -30.9})])
    assert changes(events) == [], "sub-dB moves are invisible and must not be sent"
    hub.apply("rx", [Reading(1, {"rf_signal": -65.2})])
    assert changes(events) == [frozenset({"rf_signal"})]
    assert hub.devices["rx:1"].rf_signal == -65.2
    events.clear()
    # Slow drift is still published once it adds up to a visible step.
    for value in (-65.5, -65.8, -66.1, -66.3):
        hub.apply("rx", [Reading(1, {"rf_signal": value})])
    assert changes(events) == [frozenset({"rf_signal"})]


def test_identical_readings_emit_nothing() -> None:
    hub, _, events = online_hub()
    hub.apply("rx", [Reading(1, {"name": "Vox 1", "battery_bars": 4, "tx_on": True})])
    events.clear()
    hub.apply("rx", [Reading(1, {"name": "Vox 1", "battery_bars": 4, "tx_on": True})])
    assert events == []


def test_battery_status_thresholds() -> None:
    assert battery_status(5, None, None) is BatteryStatus.GOOD
    assert battery_status(2, None, None) is BatteryStatus.REPLACE
    assert battery_status(1, None, None) is BatteryStatus.CRITICAL
    assert battery_status(0, None, None) is BatteryStatus.CRITICAL
    assert battery_status(4, 25, None) is BatteryStatus.REPLACE  # the worse of the two wins
    assert battery_status(4, 10, None) is BatteryStatus.CRITICAL
    assert battery_status(None, None, 20) is BatteryStatus.REPLACE
    assert battery_status(None, None, None) is BatteryStatus.UNKNOWN


def test_rf_quality_bands() -> None:
    assert rf_quality(-55, True) == "excellent"
    assert rf_quality(-65, True) == "good"
    assert rf_quality(-75, True) == "fair"
    assert rf_quality(-90, True) == "poor"
    assert rf_quality(None, True) is None
    assert rf_quality(-55, False) == "none"
    # A family that says whether a transmitter is there has not said yet: dBm is no grade.
    assert rf_quality(-108, None, tells_presence=True) is None
    assert rf_quality(-108, None) == "poor"
    assert rf_quality(-55, True, tells_presence=True) == "excellent"


def test_status_follows_battery_then_prev_then_unknown() -> None:
    hub, clock, _ = online_hub()
    hub.apply("rx", [Reading(1, {"tx_on": True, "battery_bars": 4})])
    assert hub.devices["rx:1"].status == "good"
    hub.apply("rx", [Reading(1, {"battery_bars": 2})])
    assert hub.devices["rx:1"].status == "replace"
    hub.apply("rx", [Reading(1, {"tx_on": False, "battery_bars": None})])
    dev = hub.devices["rx:1"]
    assert dev.status == "prev_replace"
    assert dev.battery_status == "replace"  # last known, shown striped
    assert dev.rf_quality == "none"
    clock.now += PREV_STATE_HOLD_S + 1
    hub.tick()
    assert hub.devices["rx:1"].status == "unknown"
    hub.apply("rx", [Reading(1, {"tx_on": True, "battery_bars": 5})])
    assert hub.devices["rx:1"].status == "good"


def test_tx_off_without_history_and_interference_and_peak() -> None:
    hub, clock, _ = online_hub()
    hub.apply("rx", [Reading(2, {"tx_on": False})])
    assert hub.devices["rx:2"].status == "tx_off"
    hub.apply("rx", [Reading(1, {"tx_on": True, "battery_bars": 5, "interference": True})])
    assert hub.devices["rx:1"].status == "interference"
    hub.apply("rx", [Reading(1, {"interference": False, "peak_level": 0})])
    assert hub.devices["rx:1"].status == "audio_peak"
    clock.now += AUDIO_PEAK_HOLD_S + 0.1
    hub.tick()
    assert hub.devices["rx:1"].status == "good"


def test_receiver_offline_blanks_meters_and_marks_rx_offline() -> None:
    hub, _, events = online_hub()
    hub.apply(
        "rx", [Reading(1, {"tx_on": True, "battery_bars": 5, "rf_signal": -50, "audio_level": -20})]
    )
    events.clear()
    hub.set_source_state("rx", SourceState.DISCONNECTED, error="gone")
    dev = hub.devices["rx:1"]
    assert dev.status == "rx_offline"
    assert dev.rf_signal is None and dev.audio_level is None
    assert any("status" in c for c in changes(events))
    hub.set_source_state("rx", SourceState.ONLINE)
    assert hub.devices["rx:1"].status == "good"


def test_channel_count_from_model_and_removal() -> None:
    hub, _, events = online_hub(channels=1)
    hub.apply("rx", [Reading(0, {"model": "ULXD4Q", "channels": 4})])
    assert sorted(hub.devices) == ["rx:1", "rx:2", "rx:3", "rx:4"]
    assert hub.receivers["rx"].model == "ULXD4Q"
    hub.remove_receiver("rx")
    assert hub.devices == {}
    assert sum(isinstance(e, DeviceRemoved) for e in events) == 4


def test_unknown_fields_and_channels_are_ignored() -> None:
    hub, _, events = online_hub()
    hub.apply("rx", [Reading(9, {"name": "nope"}), Reading(1, {"bogus": 1})])
    hub.apply("nope", [Reading(1, {"name": "x"})])
    assert events == []


def test_user_fields_survive_into_new_devices() -> None:
    hub, _, _ = online_hub()
    hub.set_user("rx:1", performer="Anna")
    assert hub.devices["rx:1"].performer == "Anna"
    hub.remove_receiver("rx")
    hub.upsert_receiver("rx", address="10.0.0.5", channels=2)
    assert hub.devices["rx:1"].performer == "Anna"


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_iso_matches_datetime_to_the_millisecond(ts: float) -> None:
    expected = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    assert iso(ts) == expected.replace("+00:00", "Z")


def test_a_reading_inside_every_deadband_derives_nothing() -> None:
    hub, _, events = online_hub()
    hub.apply("rx", [Reading(1, {"tx_on": True, "rf_signal": -60, "battery_bars": 4})])
    events.clear()
    hub.apply("rx", [Reading(1, {"tx_on": True, "rf_signal": -60.4})])
    assert events == []
    hub.set_source_state("rx", SourceState.DISCONNECTED)
    assert hub.devices["rx:1"].status == "rx_offline", "a state change still re-derives"


def test_a_meter_reading_moves_the_rf_band_and_nothing_else() -> None:
    hub, _, events = online_hub()
    hub.apply("rx", [Reading(1, {"tx_on": True, "rf_signal": -55, "battery_bars": 1})])
    assert hub.devices["rx:1"].rf_quality == "excellent"
    events.clear()
    hub.apply("rx", [Reading(1, {"rf_signal": -85, "audio_level": -30})])
    assert changes(events) == [frozenset({"rf_signal", "audio_level", "rf_quality"})]
    dev = hub.devices["rx:1"]
    assert (dev.rf_quality, dev.status, dev.battery_status) == (
        "poor",
        "critical",
        "critical",
    )


def test_syncing_is_offline_not_good_and_online_settles_it() -> None:
    hub = Hub(clock=Clock())
    hub.upsert_receiver("rx", address="10.0.0.5", family=Family.PSM1000, model="P10T", channels=1)
    hub.set_source_state("rx", SourceState.SYNCING)
    # Connected but nothing read yet is offline: no flash of 'good' before any answer.
    assert hub.devices["rx:1"].status == "rx_offline"
    assert not hub.receivers["rx"].online
    hub.set_source_state("rx", SourceState.ONLINE)
    # A PSM1000 never reports a transmitter: answering and nothing wrong is good.
    assert hub.devices["rx:1"].status == "good"


def test_a_receiver_family_that_has_not_said_whether_a_transmitter_is_there_is_unknown() -> None:
    # An SLX-D+ that refused GET 0 ALL answers REP ERR first: online, nothing known yet.
    hub = Hub(clock=Clock())
    hub.upsert_receiver("rx", address="10.0.0.5", family=Family.SLXD, model="SLXD4D", channels=2)
    hub.set_source_state("rx", SourceState.ONLINE)
    assert [hub.devices[f"rx:{n}"].status for n in (1, 2)] == ["unknown", "unknown"]
    hub.apply("rx", [Reading(1, {"tx_on": True, "battery_bars": 4})])
    assert hub.devices["rx:1"].status == "good"


def test_a_new_connection_forgets_what_the_last_one_said_before_it_counts() -> None:
    hub, _clock, events = online_hub()
    hub.apply("rx", [Reading(1, {"tx_on": True, "battery_bars": 5, "name": "Vox 1"})])
    hub.apply("rx", [Reading(2, {"tx_on": False, "battery_bars": None})])
    assert hub.devices["rx:1"].status == "good"
    hub.set_source_state("rx", SourceState.DISCONNECTED)
    # While offline the last battery stays visible under rx_offline.
    assert (hub.devices["rx:1"].status, hub.devices["rx:1"].battery_bars) == (
        "rx_offline",
        5,
    )
    hub.set_source_state("rx", SourceState.SYNCING)
    events.clear()
    hub.forget_readings("rx")
    assert hub.devices["rx:1"].battery_bars is None
    assert hub.devices["rx:1"].name == "Vox 1"  # identity stays until re-read
    assert hub.devices["rx:1"].status == "rx_offline"
    assert any(isinstance(e, DeviceChanged) and "battery_bars" in e.changes for e in events)
    # The new connection answers only meters so far: nothing says 'good' or 'prev_*' yet.
    hub.apply("rx", [Reading(1, {"rf_signal": -50.0}), Reading(2, {"rf_signal": -50.0})])
    hub.set_source_state("rx", SourceState.ONLINE)
    assert [hub.devices[f"rx:{n}"].status for n in (1, 2)] == ["unknown", "unknown"]
