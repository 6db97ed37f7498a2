"""The `receivers` table: what the crew added, removed or approved, and what discovery
brought in, kept across restarts. The receiver manager (`receivers.py`) and the Micboard
importer (`cli/micboard_config.py`) write it only through here (issue 18: no SQL outside
`store/` and the features' own `store.py`). The table is created in `store/migrations.py`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from micboardd.config import ReceiverAddress
from micboardd.store.database import Store


@dataclass(frozen=True, slots=True)
class Identity:
    """What a probe or a session read of a receiver, as the table keeps it."""

    family: str
    model: str | None
    channels: int | None
    name: str | None = None
    serial: str | None = None


class ReceiverRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def all(self) -> list[dict[str, Any]]:
        """Every row, oldest first (the order receivers are started in)."""
        return await self.store.fetchall(
            "SELECT id, address, port, protocol, source, ignored, meter_rate_ms, family, model, "
            "channels FROM receivers ORDER BY created_at"
        )

    async def addresses(self) -> list[dict[str, Any]]:
        return await self.store.fetchall("SELECT id, address, port FROM receivers")

    async def add(
        self, receiver_id: str, address: ReceiverAddress, source: str, family: str | None = None
    ) -> None:
        """Added by hand (or imported): monitored from now on, un-ignored if it was."""
        now = time.time()
        await self.store.execute(
            "INSERT INTO receivers(id, address, port, protocol, family, source, created_at, "
            "updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "ignored = 0, updated_at = excluded.updated_at",
            (receiver_id, address.host, address.port, address.protocol, family, source, now, now),
        )

    async def ignore(self, receiver_id: str, address: ReceiverAddress, source: str) -> None:
        """Removed or ignored: a config-file or discovered receiver must not come back."""
        now = time.time()
        await self.store.execute(
            "INSERT INTO receivers(id, address, port, protocol, source, ignored, created_at, "
            "updated_at) VALUES(?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "ignored = 1, updated_at = excluded.updated_at",
            (receiver_id, address.host, address.port, address.protocol, source, now, now),
        )

    async def set_meter_rate(
        self, receiver_id: str, address: ReceiverAddress, source: str, meter_rate_ms: int | None
    ) -> None:
        """One receiver's own interval; a config-file receiver gets a row for it."""
        now = time.time()
        await self.store.execute(
            "UPDATE receivers SET meter_rate_ms = ?, updated_at = ? WHERE id = ?",
            (meter_rate_ms, now, receiver_id),
        )
        if source == "config":
            await self.store.execute(
                "INSERT OR IGNORE INTO receivers(id, address, port, protocol, source, "
                "meter_rate_ms, created_at, updated_at) VALUES(?, ?, ?, ?, 'config', ?, ?, ?)",
                (
                    receiver_id,
                    address.host,
                    address.port,
                    address.protocol,
                    meter_rate_ms,
                    now,
                    now,
                ),
            )

    async def move(self, receiver_id: str, address: ReceiverAddress) -> None:
        await self.store.execute(
            "UPDATE receivers SET address = ?, port = ?, updated_at = ? WHERE id = ?",
            (address.host, address.port, time.time(), receiver_id),
        )

    async def discovered(
        self, receiver_id: str, address: ReceiverAddress, identity: Identity, source: str
    ) -> None:
        """Discovery brought it in (or an admin approved it): monitored after a restart."""
        now = time.time()
        await self.store.execute(
            "INSERT INTO receivers(id, address, port, family, model, name, serial, channels, "
            "source, created_at, updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET address = excluded.address, port = excluded.port, "
            "ignored = 0, updated_at = excluded.updated_at",
            (
                receiver_id,
                address.host,
                address.port,
                identity.family,
                identity.model,
                identity.name,
                identity.serial,
                identity.channels,
                source,
                now,
                now,
            ),
        )

    async def identified(self, receiver_id: str, identity: Identity) -> None:
        """What its session read on connecting (for the next start's first probe)."""
        await self.store.execute(
            "UPDATE receivers SET family = ?, model = ?, channels = ?, name = ?, updated_at = ? "
            "WHERE id = ?",
            (
                identity.family,
                identity.model,
                identity.channels,
                identity.name,
                time.time(),
                receiver_id,
            ),
        )


def imported_receiver_sql(
    receiver_id: str, address: ReceiverAddress, family: str, now: float
) -> tuple[str, tuple[Any, ...]]:
    """A receiver from a Micboard configuration, for the importer's one transaction: added by
    hand in effect, monitored again if it was ignored, its family kept if already read."""
    return (
        "INSERT INTO receivers(id, address, port, family, source, created_at, updated_at) "
        "VALUES(?, ?, ?, ?, 'manual', ?, ?) ON CONFLICT(id) DO UPDATE SET ignored = 0, "
        "family = COALESCE(receivers.family, excluded.family), "
        "updated_at = excluded.updated_at",
        (receiver_id, address.host, address.port, family, now, now),
    )
