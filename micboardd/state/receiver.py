"""What the hub knows about one receiver (or System API source): identity, link state.

Its two views are the `receivers` list of `initial_data` and the `connection_update` body of
`/ws/connections/` (ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from micboardd.isotime import iso
from micboardd.model import Family, SourceState


@dataclass(slots=True)
class ReceiverState:
    id: str
    address: str
    port: int
    family: Family = Family.UNKNOWN
    model: str | None = None
    name: str | None = None
    firmware: str | None = None
    rf_band: str | None = None
    serial: str | None = None
    channels: int = 0
    source: str = "receiver"
    state: SourceState = SourceState.DISCONNECTED
    latency_ms: float | None = None
    error: str | None = None
    last_update: float | None = None
    instance: str = ""

    @property
    def online(self) -> bool:
        """Answering on its current connection. SYNCING (connected, nothing read yet) is
        not online: a receiver that accepts and answers nothing must never look alive."""
        return self.state is SourceState.ONLINE

    def as_dict(self) -> dict[str, Any]:
        return {
            "receiver_id": self.id,
            "manufacturer": self.family.manufacturer,
            "address": self.address,
            "port": self.port,
            "family": self.family.value,
            "model": self.model,
            "name": self.name,
            "firmware": self.firmware,
            "rf_band": self.rf_band,
            "serial": self.serial,
            "channels": self.channels,
            "source": self.source,
            "status": self.state.value,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "last_update": iso(self.last_update) if self.last_update else None,
        }

    def connection(self) -> dict[str, Any]:
        """The `connection_update` body for `/ws/connections/`."""
        return {
            "manufacturer": self.family.manufacturer,
            "source": self.source,
            "id": self.id,
            "address": self.address if self.port == 2202 else f"{self.address}:{self.port}",
            "status": self.state.wire_status,
            "latency_ms": self.latency_ms,
            "last_update": iso(self.last_update) if self.last_update else None,
            "error": self.error,
        }
