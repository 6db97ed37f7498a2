"""The `groups` table (created in `store/migrations.py`): `groups.py` and the Micboard
importer read and write it only through here."""

from __future__ import annotations

import json
from typing import Any

from micboardd.store.database import Store


async def group_rows(store: Store) -> list[dict[str, Any]]:
    return await store.fetchall("SELECT id, title, position, slots FROM groups")


def upsert_group_sql(
    group_id: int, title: str, position: int, slots: tuple[str | None, ...]
) -> tuple[str, tuple[Any, ...]]:
    """A group written whole (a statement, for one transaction with others)."""
    return (
        "INSERT INTO groups(id, title, position, slots) VALUES(?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET title = excluded.title, position = excluded.position, "
        "slots = excluded.slots",
        (group_id, title, position, json.dumps(list(slots))),
    )


def delete_group_sql(group_id: int) -> tuple[str, tuple[int]]:
    return ("DELETE FROM groups WHERE id = ?", (group_id,))
