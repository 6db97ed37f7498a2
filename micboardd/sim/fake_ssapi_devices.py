"""The fake System API's inventory: devices, channels and battery bodies as the real API
shapes them (PROTOCOLS.md section 3), and the demo venue's devices."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any


def channel_id_for(model: str, index: int) -> str:
    """A channel id like a real ADTQ's: base64 of a small JSON object."""
    raw = {"t": "AudioChannel", "c": model, "v": 131088, "s": "CH", "i": index}
    return base64.b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode()


@dataclass
class FakeChannel:
    name: str
    activity: str = "GOOD"


@dataclass
class FakeDevice:
    device_id: str
    model: str
    serial: str
    address: str = "127.0.0.1"
    name: str = ""
    state: str = "ONLINE"
    firmware: str = "6.10.0.12"
    channels: list[FakeChannel] = field(default_factory=list)
    battery: dict[str, Any] | None = None  # the battery-level body
    health: dict[str, Any] | None = None  # the battery-health body
    capabilities: list[str] = field(default_factory=lambda: ["identify", "name", "reboot"])

    def node(self) -> dict[str, Any]:
        caps = list(self.capabilities) + (["audio-channels"] if self.channels else [])
        return {
            "hardwareIdentity": {"deviceId": self.device_id, "serialNumber": self.serial},
            "softwareIdentity": {"model": self.model, "firmwareVersion": self.firmware},
            "communicationProtocol": {"address": self.address, "name": "SHURE_DMP"},
            "deviceState": self.state,
            "compatibility": "COMPATIBLE",
            "capabilities": caps,
        }

    def channel(self, channel_id: str) -> FakeChannel | None:
        for index, channel in enumerate(self.channels):
            if channel_id_for(self.model, index) == channel_id:
                return channel
        return None


def battery_body(
    percentage: int, state: str = "DISCHARGING", minutes: int | None = None, target: str = ""
) -> dict[str, Any]:
    target = target or ("FULL" if state == "CHARGING" else "EMPTY")
    status: dict[str, Any] = {"currentState": state, "targetState": target}
    if minutes is not None:
        status["timeToTargetState"] = f"PT{minutes}M"
    return {"percentage": percentage, "status": status}


def demo_devices(address: str = "127.0.0.1") -> list[FakeDevice]:
    """Devices only the System API can reach: PSM transmitters, a docked pack, a charger."""
    return [
        FakeDevice(
            "ddb03a46-0000-11dd-a000-000eddcccccc",
            "ADTQ",
            "2EK24560748",
            address,
            "IEM Rack",
            channels=[FakeChannel(f"IEM {n}") for n in range(1, 5)],
        ),
        FakeDevice(
            "ddb03a46-0000-11dd-a000-000eddcccc02",
            "ADTD",
            "2EK24560801",
            address,
            "IEM Band",
            channels=[FakeChannel("Drums"), FakeChannel("Keys")],
        ),
        FakeDevice(
            "ddb03a46-0000-11dd-a000-000eddcccc03",
            "ULXD1",
            "3FD11220345",
            address,
            "Pastor pack",
            battery=battery_body(80, "CHARGING", 45),
            health={"percentage": 96, "cycleCount": 42},
        ),
        FakeDevice(
            "ddb03a46-0000-11dd-a000-000eddcccc04", "SBC220", "1AB00000077", address, "Dock"
        ),
    ]
