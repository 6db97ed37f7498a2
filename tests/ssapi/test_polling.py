"""Adaptive polling: 30 s normal, 10 s alert, 60 s offline (injected clock, no sleeping)."""

from __future__ import annotations

from micboardd.ssapi.models import (
    AudioActivity,
    AudioChannel,
    BatteryLevel,
    ChargeState,
    DeviceDetails,
    DeviceInfo,
    DeviceState,
)
from micboardd.ssapi.polling import PollPlan, interval_for

ONLINE = DeviceInfo("a", state=DeviceState.ONLINE)


def details(
    info: DeviceInfo = ONLINE,
    percent: int | None = None,
    state: ChargeState = ChargeState.DISCHARGING,
    clipping: bool = False,
) -> DeviceDetails:
    battery = None if percent is None else BatteryLevel(percent, state, ChargeState.EMPTY, None)
    channels = (AudioChannel("c", 0, activity=AudioActivity.CLIPPING),) if clipping else ()
    return DeviceDetails(info, battery=battery, channels=channels)


def test_intervals_by_state() -> None:
    assert interval_for(details()) == 30.0
    assert interval_for(details(percent=80)) == 30.0
    assert interval_for(details(percent=12)) == 10.0  # low battery: alert
    assert interval_for(details(percent=12, state=ChargeState.CHARGING)) == 30.0  # on charge
    assert interval_for(details(clipping=True)) == 10.0
    offline = DeviceInfo("a", state=DeviceState.OFFLINE)
    assert interval_for(details(offline, percent=12)) == 60.0


def test_plan_schedules_each_device_at_its_own_pace() -> None:
    plan = PollPlan()
    now = 100.0
    plan.track(["a", "b", "c"], now)
    assert sorted(plan.due(now)) == ["a", "b", "c"]  # new devices are due at once
    plan.polled(details(DeviceInfo("a", state=DeviceState.ONLINE)), now)
    plan.polled(details(DeviceInfo("b", state=DeviceState.ONLINE), percent=5), now)
    plan.polled(details(DeviceInfo("c", state=DeviceState.OFFLINE)), now)
    assert plan.due(now) == []
    assert plan.next_due() == 110.0
    assert plan.due(110.0) == ["b"]
    assert plan.due(130.0) == ["b", "a"]  # most overdue first
    assert plan.due(160.0) == ["b", "a", "c"]
    plan.track(["a", "d"], 161.0)  # b and c vanished, d is new
    assert set(plan.due_at) == {"a", "d"} and plan.due(161.0) == ["a", "d"]
    plan.all_due_now(200.0)
    assert plan.next_due() == 200.0
