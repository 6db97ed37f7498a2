"""A hub on a clock that moves only when a test says so, with one online receiver: the rig
the alerts and history tests share (their conftests make the fixtures)."""

from __future__ import annotations

from typing import Any

from micboardd.history.service import History, HistoryConfig
from micboardd.model import Family, SourceState
from micboardd.state.hub import Hub
from micboardd.store.database import Store

RX = "rx1"
T0 = 1_700_000_040.0  # 2023-11-14T22:14:00Z: a whole minute
# A healthy transmitter: what a receiver reports after `GET 0 ALL`.
ON_AIR: dict[str, Any] = {
    "tx_on": True,
    "name": "Vox",
    "battery_bars": 5,
    "battery_minutes": 300,
    "battery_level": 100,
    "rf_signal": -55.0,
    "audio_level": -30.0,
    "peak_level": -18.0,
    "interference": False,
    "encryption_error": False,
}


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_hub(clock: Clock, channels: int = 4) -> Hub:
    hub = Hub(clock=clock)
    hub.upsert_receiver(
        RX, address="127.0.0.1", family=Family.ULXD, model="ULXD4Q", channels=channels
    )
    hub.set_source_state(RX, SourceState.ONLINE)
    return hub


def make_history(hub: Hub, store: Store, clock: Clock, **config: Any) -> History:
    return History(hub, store, clock=clock, config=HistoryConfig(**config), tick_s=None)
