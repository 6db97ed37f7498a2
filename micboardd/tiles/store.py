"""SQL of what a tile shows beyond a receiver's channels: placeholders and performer photos.

Schema 3 of the store (`store/migrations.py`). Photos live in the database, not beside it: the
documented online backup (`sqlite3 micboardd.db .backup`, docs/operations.md) then keeps them
with the names and groups they belong to, consistent at one instant, and a restore brings back
both or neither.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from micboardd.store.database import Store


@dataclass(frozen=True, slots=True)
class PlaceholderRow:
    id: int
    label: str
    name: str
    model: str


@dataclass(frozen=True, slots=True)
class PhotoRow:
    device_id: str
    content_type: str
    etag: str
    width: int
    height: int
    size: int


# --- placeholders ---


async def placeholder_rows(store: Store) -> list[PlaceholderRow]:
    rows = await store.fetchall("SELECT id, label, name, model FROM placeholders ORDER BY id")
    return [PlaceholderRow(r["id"], r["label"], r["name"], r["model"]) for r in rows]


def upsert_placeholder_sql(row: PlaceholderRow, now: float) -> tuple[str, tuple[Any, ...]]:
    """One statement, for a transaction of several (the Micboard import) or alone."""
    return (
        "INSERT INTO placeholders(id, label, name, model, created_at, updated_at) "
        "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET label = excluded.label, "
        "name = excluded.name, model = excluded.model, updated_at = excluded.updated_at",
        (row.id, row.label, row.name, row.model, now, now),
    )


async def save_placeholder(store: Store, row: PlaceholderRow) -> None:
    await store.execute(*upsert_placeholder_sql(row, time.time()))


async def delete_placeholder(store: Store, placeholder_id: int) -> None:
    await store.execute("DELETE FROM placeholders WHERE id = ?", (placeholder_id,))


# --- photos ---


async def photo_rows(store: Store) -> list[PhotoRow]:
    """Every photo's description, without the image data."""
    rows = await store.fetchall(
        "SELECT device_id, content_type, etag, width, height, size FROM photos"
    )
    return [
        PhotoRow(r["device_id"], r["content_type"], r["etag"], r["width"], r["height"], r["size"])
        for r in rows
    ]


async def photo_data(store: Store, device_id: str) -> tuple[PhotoRow, bytes] | None:
    rows = await store.fetchall(
        "SELECT device_id, content_type, etag, width, height, size, data FROM photos "
        "WHERE device_id = ?",
        (device_id,),
    )
    if not rows:
        return None
    r = rows[0]
    row = PhotoRow(r["device_id"], r["content_type"], r["etag"], r["width"], r["height"], r["size"])
    return row, bytes(r["data"])


async def save_photo(store: Store, row: PhotoRow, data: bytes) -> None:
    await store.execute(
        "INSERT INTO photos(device_id, content_type, etag, width, height, size, data, updated_at) "
        "VALUES(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET "
        "content_type = excluded.content_type, etag = excluded.etag, width = excluded.width, "
        "height = excluded.height, size = excluded.size, data = excluded.data, "
        "updated_at = excluded.updated_at",
        (
            row.device_id,
            row.content_type,
            row.etag,
            row.width,
            row.height,
            row.size,
            data,
            time.time(),
        ),
    )


async def delete_photo(store: Store, device_id: str) -> bool:
    existed = bool(await store.fetchall("SELECT 1 FROM photos WHERE device_id = ?", (device_id,)))
    await store.execute("DELETE FROM photos WHERE device_id = ?", (device_id,))
    return existed
