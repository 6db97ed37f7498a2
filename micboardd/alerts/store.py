"""SQL for the alert log (the `alerts` table; its schema is migration 2 in `store/migrations.py`).

Alerts are few and written one by one (an alert that was raised must survive a crash).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from micboardd.store.database import Store

ALERT_COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "severity",
    "subject",
    "device_id",
    "receiver_id",
    "message",
    "count",
    "started_at",
    "raised_at",
    "updated_at",
    "cleared_at",
    "acked_at",
)


async def upsert_alert(store: Store, row: Mapping[str, Any]) -> None:
    """Insert or replace one alert row (its own transaction: an alert is never batched)."""
    names = ", ".join(ALERT_COLUMNS)
    marks = ", ".join("?" for _ in ALERT_COLUMNS)
    await store.execute(
        f"INSERT OR REPLACE INTO alerts({names}) VALUES({marks})",
        [row[c] for c in ALERT_COLUMNS],
    )


async def select_alerts(
    store: Store,
    *,
    active: bool | None = None,
    since: float | None = None,
    device: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Alerts newest first. `since`: raised, updated or cleared at or after that time;
    `device`: a device id (with its receiver's alerts) or a receiver id."""
    where: list[str] = []
    params: list[Any] = []
    if active is True:
        where.append("cleared_at IS NULL")
    elif active is False:
        where.append("cleared_at IS NOT NULL")
    if since is not None:
        where.append("updated_at >= ?")
        params.append(since)
    if device is not None:
        # A device id: its alerts and its receiver's. A receiver id: everything on it.
        receiver = device.rpartition(":")[0] or device
        where.append(
            "(device_id = ? OR receiver_id = ? OR (device_id IS NULL AND receiver_id = ?))"
        )
        params += [device, device, receiver]
    sql = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY raised_at DESC, id LIMIT ?"
    params.append(limit)
    return await store.fetchall(sql, params)


async def select_alert(store: Store, alert_id: str) -> dict[str, Any] | None:
    rows = await store.fetchall(
        f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE id = ?", (alert_id,)
    )
    return rows[0] if rows else None


async def select_open_alerts(store: Store) -> list[dict[str, Any]]:
    return await store.fetchall(
        f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE cleared_at IS NULL ORDER BY raised_at"
    )


async def alerts_overlapping(
    store: Store, device_id: str, receiver_id: str | None, start: float, end: float
) -> list[dict[str, Any]]:
    """Alerts of a channel (and of its receiver) that were active at some time in [start, end)."""
    return await store.fetchall(
        f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts "
        "WHERE (device_id = ? OR (device_id IS NULL AND receiver_id = ?)) "
        "AND started_at < ? AND (cleared_at IS NULL OR cleared_at >= ?) ORDER BY started_at",
        (device_id, receiver_id, end, start),
    )


async def trim_alerts(store: Store, before: float, limit: int) -> None:
    """Delete up to `limit` alerts cleared before `before` (one small step)."""
    await store.execute(
        "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE cleared_at < ? "
        "ORDER BY cleared_at LIMIT ?)",
        (before, limit),
    )
