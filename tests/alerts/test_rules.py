"""Every rule with an injected clock: raised once with the right severity, updated while it
lasts, cleared after recovery; flapping inputs never flap alerts; acknowledge works."""

from __future__ import annotations

import logging

import pytest

from micboardd.alerts.model import AlertConfig, Hold, Kind, Severity
from micboardd.alerts.rules import Step, Tracker, Verdict, step
from micboardd.model import Reading, SourceState
from tests.clocked_hub import RX

from .conftest import Rig

DEV = f"{RX}:1"


def test_step_holds_both_edges() -> None:
    hold = Hold(raise_s=2.0, clear_s=3.0)
    t = Tracker(Kind.INTERFERENCE, "x")
    on, off, unknown = Verdict(True, Severity.WARNING, "on"), Verdict(False), Verdict(None)
    assert step(t, on, 0.0, hold, 30) is Step.NONE
    assert step(t, unknown, 1.0, hold, 30) is Step.NONE  # no evidence: the wait starts again
    assert step(t, on, 2.0, hold, 30) is Step.NONE
    assert step(t, on, 4.0, hold, 30) is Step.RAISE
    assert step(t, unknown, 5.0, hold, 30) is Step.NONE  # open alerts hold without evidence
    assert step(t, off, 6.0, hold, 30) is Step.NONE
    assert step(t, on, 7.0, hold, 30) is Step.NONE  # back before clear_s: same alert
    assert t.alert is None  # (step only decides; the engine creates the alert)


async def test_battery_low_then_critical_then_cleared(rig: Rig) -> None:
    rig.read(1, battery_bars=2, battery_minutes=120)
    rig.run(4)
    assert rig.raised() == []  # not yet: a reading must hold
    rig.run(2)
    (low,) = rig.raised("battery")
    assert low["severity"] == "warning" and low["device_id"] == DEV and low["receiver_id"] == RX
    assert "battery low" in low["message"] and "Vox" in low["message"]
    assert rig.counts[DEV] == 1

    rig.read(1, battery_bars=1, battery_minutes=12)
    rig.run(1)
    assert len(rig.raised("battery")) == 1  # the same alert, escalated
    update = [b for _, b in rig.frames if b["state"] == "updated"][-1]
    assert update["id"] == low["id"] and update["severity"] == "critical"
    assert "critical" in update["message"]

    rig.read(1, battery_bars=5, battery_minutes=480)  # a fresh pack
    rig.run(9)
    assert rig.open("battery") == [low["id"]]
    rig.run(2)
    assert rig.open("battery") == []
    assert rig.states("battery") == ["raised", "updated", "cleared"]
    assert rig.counts[DEV] == 0


async def test_escalated_message_follows_the_readings_that_come_just_after(rig: Rig) -> None:
    rig.read(1, battery_bars=2, battery_minutes=120)
    rig.run(6)
    (low,) = rig.raised("battery")
    rig.read(1, battery_bars=1)  # the bars come first, the minutes a moment later
    rig.run(1)
    rig.read(1, battery_minutes=9)
    rig.run(1)
    messages = [b["message"] for _, b in rig.frames if b["id"] == low["id"]]
    assert "1 bar, about 120 min left" in messages[-2], messages
    assert messages[-1].endswith("(1 bar, about 9 min left)"), "not 30 s later: at once"
    rig.read(1, battery_minutes=8)  # later refinements wait for the update throttle again
    rig.run(5)
    assert [b["message"] for _, b in rig.frames if b["id"] == low["id"]][-1] == messages[-1]


async def test_battery_minutes_alone_and_charging(rig: Rig) -> None:
    rig.read(2, battery_bars=None, battery_minutes=14)
    rig.run(6)
    (alert,) = rig.raised("battery")
    assert alert["severity"] == "critical" and alert["device_id"] == f"{RX}:2"
    rig.read(3, battery_bars=2, charging=True)
    rig.run(10)
    assert len(rig.raised("battery")) == 1  # on the charger: nothing to warn about


async def test_battery_wobbling_at_a_boundary_raises_once_and_clears_once(rig: Rig) -> None:
    for _ in range(8):  # 2 bars under load, 3 at rest: 6 s low, 2 s good, for a minute
        rig.read(1, battery_bars=2, battery_minutes=None)
        rig.run(6)
        rig.read(1, battery_bars=3)
        rig.run(2)
    assert rig.states("battery") == ["raised"]
    rig.run(10)
    assert rig.states("battery") == ["raised", "cleared"]


async def test_tx_off_after_confirm_time_and_cleared_when_back(rig: Rig) -> None:
    rig.read(2, tx_on=False)
    rig.run(2.5)
    assert rig.raised() == []
    rig.run(1)
    (off,) = rig.raised()
    assert off["kind"] == "tx_off" and off["severity"] == "warning"
    assert off["device_id"] == f"{RX}:2" and "switched off" in off["message"]
    rig.read(2, tx_on=True)
    rig.run(3)
    assert rig.states("tx_off") == ["raised", "cleared"]
    assert rig.raised("rf_lost") == []


async def test_spare_channel_never_on_raises_nothing(rig: Rig) -> None:
    rig.hub.upsert_receiver(
        "rx2", address="127.0.0.2", model="ULXD4", channels=1
    )  # a spare: no transmitter since it came up
    rig.hub.set_source_state("rx2", SourceState.ONLINE)
    rig.hub.apply("rx2", [Reading(1, {"tx_on": False})])
    rig.run(30)
    assert rig.raised() == []


async def test_short_dropout_is_rf_lost_critical_then_cleared(rig: Rig) -> None:
    gone = rig.clock.t
    rig.read(3, tx_on=False, rf_signal=-108.0)
    rig.run(1.2)
    rig.read(3, tx_on=True, rf_signal=-55.0)
    (lost,) = rig.raised()
    assert lost["kind"] == "rf_lost" and lost["severity"] == "critical"
    assert "dropout" in lost["message"] and "1.2 s" in lost["message"]
    assert rig.alerts.active()[0].started_at == pytest.approx(gone)
    rig.run(9)
    assert rig.open("rf_lost") == [lost["id"]]
    rig.run(2)
    assert rig.states("rf_lost") == ["raised", "cleared"]
    assert rig.raised("tx_off") == []


async def test_flapping_dropouts_make_one_alert(rig: Rig) -> None:
    for _ in range(30):  # at the edge of range: gone half a second, back half a second
        rig.read(3, tx_on=False)
        rig.run(0.5, step=0.25)
        rig.read(3, tx_on=True)
        rig.run(0.5, step=0.25)
    assert rig.states("rf_lost") == ["raised"]
    assert rig.alerts.active()[0].count > 10
    rig.run(11)
    assert rig.states("rf_lost") == ["raised", "cleared"]
    assert rig.raised("tx_off") == []


async def test_fading_out_of_range_is_rf_lost_at_once(rig: Rig) -> None:
    rig.read(4, rf_signal=-88.0)
    rig.run(2)
    rig.read(4, rf_signal=-91.0)
    rig.run(1)
    rig.read(4, tx_on=False, rf_signal=-108.0)
    rig.run(1)
    lost = rig.raised("rf_lost")
    assert len(lost) == 1 and "out of range" in lost[0]["message"]
    rig.run(10)
    assert rig.raised("tx_off") == [] and rig.open("rf_lost")
    rig.read(4, tx_on=True, rf_signal=-60.0)
    rig.run(11)
    assert rig.open("rf_lost") == []


async def test_rf_weak_hold_and_value_hysteresis(rig: Rig) -> None:
    rig.read(1, rf_signal=-88.0)
    rig.run(4)
    assert rig.raised() == []
    rig.run(2)
    (weak,) = rig.raised("rf_weak")
    assert weak["severity"] == "warning" and "-88 dBm" in weak["message"]
    rig.read(1, rf_signal=-82.0)  # better, but inside the hysteresis band: still weak
    rig.run(20)
    assert rig.open("rf_weak") == [weak["id"]]
    rig.read(1, rf_signal=-70.0)
    rig.run(6)
    assert rig.states("rf_weak") == ["raised", "cleared"]


async def test_rf_hovering_at_the_threshold_never_alerts(rig: Rig) -> None:
    for i in range(120):
        rig.read(2, rf_signal=-86.0 if i % 2 else -84.0)
        rig.run(0.5)
    assert rig.raised() == []


async def test_rf_lost_while_transmitter_on(rig: Rig) -> None:
    rig.read(1, rf_signal=-101.0)  # ShowLink still sees the pack: it is on, no RF
    rig.run(2)
    lost = rig.raised("rf_lost")
    assert len(lost) == 1 and lost[0]["severity"] == "critical"
    assert "while the transmitter is on" in lost[0]["message"]


async def test_switched_on_with_rf_not_yet_measured(rig: Rig) -> None:
    rig.read(1, tx_on=False, rf_signal=-108.0)
    rig.run(5)
    (off,) = rig.raised("tx_off")
    rig.read(1, tx_on=True)  # the REP; the RF held is still the noise floor read while off
    rig.run(30)
    assert rig.raised() == [off], "no rf_lost nor rf_weak from an RF read while it was off"
    assert rig.open("tx_off") == []
    rig.read(1, rf_signal=-101.0)  # a sample: it is on, and really has no RF
    rig.run(1)
    lost = rig.raised("rf_lost")
    assert len(lost) == 1 and "while the transmitter is on" in lost[0]["message"]


async def test_interference_raised_cleared_and_not_flapping(rig: Rig) -> None:
    for _ in range(10):  # on 3 s, off 2 s
        rig.read(2, interference=True)
        rig.run(3)
        rig.read(2, interference=False)
        rig.run(2)
    assert rig.states("interference") == ["raised"]
    (alert,) = rig.raised("interference")
    assert alert["severity"] == "warning" and "interference" in alert["message"]
    rig.run(9)
    assert rig.states("interference") == ["raised", "cleared"]


async def test_short_interference_blips_never_alert(rig: Rig) -> None:
    for _ in range(30):
        rig.read(2, interference=True)
        rig.run(1)
        rig.read(2, interference=False)
        rig.run(1)
    assert rig.raised() == []


async def test_encryption_mismatch_is_critical(rig: Rig) -> None:
    rig.read(3, encryption_error=True)
    rig.run(1)
    (alert,) = rig.raised()
    assert alert["kind"] == "encryption" and alert["severity"] == "critical"
    rig.read(3, encryption_error=False)
    rig.run(5)
    assert rig.states("encryption") == ["raised", "cleared"]


async def test_receiver_offline_and_back(rig: Rig) -> None:
    rig.read(1, battery_bars=2)
    rig.run(6)
    battery_alerts = len(rig.raised("battery"))
    rig.hub.set_source_state(RX, SourceState.DISCONNECTED, error="connection reset")
    rig.run(4.5)
    assert rig.raised("rx_offline") == []
    rig.run(1)
    (off,) = rig.raised("rx_offline")
    assert off["severity"] == "critical" and off["receiver_id"] == RX
    assert off["device_id"] is None and "connection reset" in off["message"]
    rig.run(30)  # nothing per channel while the receiver cannot be heard
    assert len(rig.raised()) == battery_alerts + 1
    assert rig.open("battery")  # the low battery did not go away with the receiver
    rig.hub.set_source_state(RX, SourceState.ONLINE)
    rig.run(6)
    assert rig.states("rx_offline") == ["raised", "cleared"]
    assert len(rig.raised()) == battery_alerts + 1


async def test_receiver_offline_flapping_is_one_alert(rig: Rig) -> None:
    for _ in range(6):  # reconnects every 7 s, drops again 2 s later
        rig.hub.set_source_state(RX, SourceState.DISCONNECTED)
        rig.run(7)
        rig.hub.set_source_state(RX, SourceState.ONLINE)
        rig.run(2)
    assert rig.states("rx_offline") == ["raised"]


async def test_repeated_clipping_but_not_a_single_peak(rig: Rig) -> None:
    rig.read(1, peak_level=-0.2)
    rig.read(1, peak_level=-12.0)
    rig.run(15)
    assert rig.raised() == []
    for _ in range(3):
        rig.read(1, peak_level=0.0)
        rig.run(1)
        rig.read(1, peak_level=-10.0)
        rig.run(1)
    (clip,) = rig.raised("clipping")
    assert clip["severity"] == "warning" and "clipping" in clip["message"]
    rig.run(29)
    assert rig.open("clipping")
    rig.run(3)
    assert rig.states("clipping") == ["raised", "cleared"]


async def test_sustained_clipping_counts_as_repeated(rig: Rig) -> None:
    rig.read(2, peak_level=0.0)
    rig.run(4)
    assert len(rig.raised("clipping")) == 1


async def test_system_api_down_hook(rig: Rig) -> None:
    url = "https://ssapi.local:10000"
    rig.alerts.system_api_health(url, "down", "connection refused")
    rig.run(9)
    assert rig.raised() == []
    rig.run(2)
    (down,) = rig.raised("ssapi_down")
    assert down["severity"] == "warning" and "connection refused" in down["message"]
    assert down["device_id"] is None and down["receiver_id"] is None
    rig.alerts.system_api_health(url, "healthy")
    rig.run(11)
    assert rig.states("ssapi_down") == ["raised", "cleared"]


async def test_ack_silences_until_it_gets_worse(rig: Rig) -> None:
    rig.read(1, battery_bars=2)
    rig.run(6)
    (low,) = rig.raised("battery")
    acked = await rig.alerts.ack(low["id"])
    assert acked is not None and acked.acked_at is not None and acked.active
    assert rig.frames[-1][1]["state"] == "acked" and rig.frames[-1][1]["acked"] is True
    again = await rig.alerts.ack(low["id"])
    assert again is not None and again.acked_at == acked.acked_at  # idempotent
    assert await rig.alerts.ack("0123456789abcdef") is None
    stored = await rig.alerts.query(active=True)
    assert [a.acked_at for a in stored] == [acked.acked_at]
    rig.read(1, battery_bars=1)  # worse than what was acknowledged
    rig.run(1)
    (alert,) = rig.alerts.active()
    assert alert.severity is Severity.CRITICAL and alert.acked_at is None


async def test_ack_of_a_cleared_alert(rig: Rig) -> None:
    rig.read(1, encryption_error=True)
    rig.run(2)
    rig.read(1, encryption_error=False)
    rig.run(6)
    (alert,) = await rig.alerts.query(active=False)
    done = await rig.alerts.ack(alert.id)
    assert done is not None and done.acked_at is not None and not done.active
    (stored,) = await rig.alerts.query()
    assert stored.acked_at == done.acked_at


async def test_one_log_record_per_raise_and_clear(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="micboardd.alerts.service")
    rig.read(3, encryption_error=True)
    rig.run(2)
    rig.read(3, encryption_error=False)
    rig.run(6)
    records = [r for r in caplog.records if r.name == "micboardd.alerts.service"]
    assert [r.getMessage().split(":")[0] for r in records] == ["alert raised", "alert cleared"]
    raised, cleared = records
    assert raised.levelno == logging.ERROR and cleared.levelno == logging.INFO
    for r in records:
        assert r.__dict__["ALERT_KIND"] == "encryption"
        assert r.__dict__["SEVERITY"] == "critical"
        assert r.__dict__["DEVICE_ID"] == f"{RX}:3"
        assert r.__dict__["RECEIVER_ID"] == RX
        assert len(r.__dict__["ALERT_ID"]) == 16


async def test_removed_receiver_closes_its_alerts(rig: Rig) -> None:
    rig.read(1, interference=True)
    rig.run(3)
    assert rig.open("interference")
    rig.hub.remove_receiver(RX)
    assert rig.alerts.active() == []
    assert rig.frames[-1][1]["state"] == "cleared"
    assert "removed" in rig.frames[-1][1]["message"]


def test_config_is_documented_defaults() -> None:
    cfg = AlertConfig()
    assert (cfg.battery_low_bars, cfg.battery_low_minutes) == (2, 30)
    assert (cfg.battery_critical_bars, cfg.battery_critical_minutes) == (1, 15)
    assert cfg.rf_weak_clear_dbm > cfg.rf_weak_dbm > cfg.rf_lost_dbm
