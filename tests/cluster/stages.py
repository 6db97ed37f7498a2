"""Hubs that look like a stage: receivers online, channels with names, battery and meters."""

from __future__ import annotations

from typing import Any

import msgspec

from micboardd.cluster.wire import Message
from micboardd.model import Device, Reading, SourceState
from micboardd.sources.ports import HubEvent
from micboardd.state.hub import Hub


def add_receiver(hub: Hub, receiver_id: str, channels: int = 2) -> list[str]:
    """A receiver online with a transmitter on every channel; returns its device ids."""
    hub.upsert_receiver(receiver_id, address="10.0.0.1", channels=channels)
    hub.set_source_state(receiver_id, SourceState.ONLINE)
    hub.apply(
        receiver_id,
        [
            Reading(
                ch,
                {
                    "name": f"Vox {ch}",
                    "battery_bars": 5,
                    "tx_on": True,
                    "rf_signal": -50.0,
                    "audio_level": -30.0,
                    "peak_level": -20.0,
                },
            )
            for ch in range(1, channels + 1)
        ],
    )
    return [f"{receiver_id}:{ch}" for ch in range(1, channels + 1)]


def stage(instance: str, receiver_id: str, channels: int = 2) -> Hub:
    hub = Hub(instance=instance)
    add_receiver(hub, receiver_id, channels)
    return hub


def message(
    hub: Hub,
    kind: str = "full",
    *,
    boot: str = "boot-a",
    devices: list[Device] | None = None,
    **extra: Any,
) -> Message:
    """What `hub`'s instance would publish: by default a full message of its local devices."""
    assert hub.instance
    if devices is None:
        devices = [d for d in hub.devices.values() if d.instance == hub.instance]
    return Message(
        v=1,
        instance=hub.instance,
        boot=boot,
        kind=kind,  # type: ignore[arg-type]
        devices=[msgspec.structs.asdict(d) for d in devices],
        **extra,
    )


class Recorder:
    """Collects hub events."""

    def __init__(self, hub: Hub) -> None:
        self.events: list[HubEvent] = []
        hub.subscribe(self.events.append)


def as_json(hub: Hub) -> list[dict[str, Any]]:
    """`hub`'s devices as a peer's snapshot in Redis holds them (JSON objects)."""
    return [msgspec.structs.asdict(d) for d in hub.devices.values()]
