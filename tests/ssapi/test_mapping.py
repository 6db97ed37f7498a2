"""Which receiver a System API device becomes, and what it adds to a direct receiver."""

from __future__ import annotations

from micboardd.model import Family, Reading, SourceState
from micboardd.ssapi import mapping
from micboardd.ssapi.book import DeviceBook
from micboardd.ssapi.models import (
    AudioActivity,
    AudioChannel,
    BatteryHealth,
    BatteryLevel,
    ChargeState,
    DeviceDetails,
    DeviceInfo,
    DeviceState,
    Event,
)
from micboardd.state.hub import Hub

CID = "ddb03a46-0000-11dd-a000-000eddcccccc"
PACK = DeviceDetails(
    DeviceInfo(CID.upper(), "3FD1", "ULXD4", "2.7", "10.0.0.9", DeviceState.ONLINE),
    name="Pastor",
    battery=BatteryLevel(80, ChargeState.CHARGING, ChargeState.FULL, 45),
    health=BatteryHealth(96, 42),
)


def direct_hub(*receivers: tuple[str, str, str | None]) -> Hub:
    hub = Hub()
    for rid, address, model in receivers:
        hub.upsert_receiver(rid, address=address, model=model, channels=1, family=Family.ULXD)
    return hub


def test_match_by_cid_serial_then_unique_address() -> None:
    info = PACK.info
    hub = direct_hub((CID, "10.0.0.1", "ULXD4"), ("10.0.0.9", "10.0.0.9", "ULXD4"))
    assert mapping.find_direct_receiver(hub.receivers, info) == CID  # cid beats address
    hub = direct_hub(("10.0.0.9:2202", "10.0.0.9", "ULXD4D"))
    assert mapping.find_direct_receiver(hub.receivers, info) == "10.0.0.9:2202"
    hub.receivers["10.0.0.9:2202"].serial = None
    hub.upsert_receiver("other", address="10.0.0.1")
    hub.receivers["other"].serial = "3fd1"
    assert mapping.find_direct_receiver(hub.receivers, info) == "other"  # serial beats address
    # Two direct receivers at one address, or another model there: not the same device.
    hub = direct_hub(("a", "10.0.0.9", "ULXD4"), ("b", "10.0.0.9", "ULXD4"))
    assert mapping.find_direct_receiver(hub.receivers, info) is None
    hub = direct_hub(("a", "10.0.0.9", "AD4Q"))
    assert mapping.find_direct_receiver(hub.receivers, info) is None
    # System API receivers never count as direct ones.
    hub = Hub()
    hub.upsert_receiver("x", address="10.0.0.9", source="system_api")
    assert mapping.find_direct_receiver(hub.receivers, info) is None


def test_merged_device_only_adds_what_the_api_alone_has() -> None:
    hub = direct_hub(("10.0.0.9", "10.0.0.9", "ULXD4"))
    hub.set_source_state("10.0.0.9", SourceState.ONLINE)
    hub.apply("10.0.0.9", [Reading(1, {"name": "Direct", "battery_level": 60, "rf_signal": -55})])
    book = DeviceBook(hub, "sapi")
    book.update(PACK)
    dev = hub.devices["10.0.0.9:1"]
    assert dev.charging is True  # added
    assert dev.name == "Direct" and dev.battery_level == 60  # the session's, untouched
    assert dev.rf_signal == -55
    assert set(hub.receivers) == {"10.0.0.9"}  # no second receiver for the same device
    readings = mapping.merged_readings(PACK, 1)
    assert readings[0].fields == {
        "charging": True,
        "battery_time_to_full_minutes": 45,
        "battery_health": 96,
        "battery_cycles": 42,
    }
    assert mapping.merged_readings(PACK, 4) == []  # per-device battery, 4 channels: ambiguous
    # The API goes down: its additions are withdrawn, never left stale.
    book.set_api_error("System API unreachable")
    assert hub.devices["10.0.0.9:1"].charging is None
    # The direct receiver is removed: the device becomes a receiver of its own.
    hub.remove_receiver("10.0.0.9")
    book.set_api_error(None)
    book.sync_all()
    own = mapping.own_receiver_id(PACK.info)
    assert hub.receivers[own].source == "system_api"
    assert hub.devices[f"{own}:1"].battery_level == 80


def test_own_receiver_channels_state_and_events() -> None:
    hub = Hub()
    book = DeviceBook(hub, "sapi.local")
    channels = tuple(AudioChannel(f"c{i}", i, f"IEM {i + 1}", AudioActivity.GOOD) for i in range(4))
    adtq = DeviceDetails(
        DeviceInfo("ADTQ-1", "2EK", "ADTQ", "6.10", None, DeviceState.ONLINE),
        name="Rack",
        channels=channels,
    )
    book.update(adtq)
    rx = hub.receivers["adtq-1"]
    assert (rx.source, rx.channels, rx.address, rx.name, rx.state) == (
        "system_api",
        4,
        "sapi.local",
        "Rack",
        SourceState.ONLINE,
    )
    assert [hub.devices[f"adtq-1:{n}"].name for n in range(1, 5)] == [
        "IEM 1",
        "IEM 2",
        "IEM 3",
        "IEM 4",
    ]
    book.apply_event(Event("AUDIO_CHANNEL_ACTIVITY", "ADTQ-1", "c2", {"audioLevel": "CLIPPING"}))
    assert hub.devices["adtq-1:3"].peak_level == 0.0
    assert hub.devices["adtq-1:3"].status == "audio_peak"
    book.apply_event(Event("DEVICE_STATE_CHANGE", "ADTQ-1", None, {"deviceState": "OFFLINE"}))
    assert hub.receivers["adtq-1"].state is SourceState.DISCONNECTED
    assert hub.devices["adtq-1:1"].status == "rx_offline"
    assert book.apply_event(Event("DEVICE_STATE_CHANGE", "NEW-1", None, {})) is True
    assert (
        book.apply_event(Event("DEVICE_BATTERY_LEVEL", "ADTQ-1", None, {"percentage": "x"}))
        is False
    )
    book.set_inventory([])  # gone from the API: gone from the hub
    assert "adtq-1" not in hub.receivers and not hub.devices
