"""User-defined groups: ordered views of devices with blank spacers (Micboard's "groups").

A group is a title and an ordered list of slots; a slot is a device id or None (a blank tile).
The same device may appear in several groups; its `group` field on the wire is the title of
the first group (by position) that holds it. Groups live in the store and in memory here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from micboardd.state.hub import Hub
from micboardd.state.store import delete_group_sql, group_rows, upsert_group_sql
from micboardd.store.database import Store

MAX_GROUPS = 100
MAX_SLOTS = 256  # a large festival stage has ~100 channels; leave room for blanks
MAX_TITLE = 40


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    title: str
    position: int
    slots: tuple[str | None, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "position": self.position,
            "slots": list(self.slots),
        }

    def devices(self) -> frozenset[str]:
        return frozenset(s for s in self.slots if s)


class Groups:
    def __init__(self, store: Store, hub: Hub) -> None:
        self.store = store
        self.hub = hub
        self.by_id: dict[int, Group] = {}

    async def load(self) -> None:
        rows = await group_rows(self.store)
        self.by_id = {}
        for row in rows:
            try:
                slots = tuple(s if isinstance(s, str) else None for s in json.loads(row["slots"]))
            except (ValueError, TypeError):
                slots = ()
            self.by_id[row["id"]] = Group(row["id"], row["title"], row["position"], slots)
        self._apply_to_hub()

    def ordered(self) -> list[Group]:
        return sorted(self.by_id.values(), key=lambda g: (g.position, g.id))

    def find(self, key: str | int) -> Group | None:
        """By id (`2`, `"2"`) or by exact title."""
        text = str(key)
        if text.isdigit() and int(text) in self.by_id:
            return self.by_id[int(text)]
        return next((g for g in self.ordered() if g.title == text), None)

    async def save(
        self, group_id: int | None, title: str, slots: list[str | None], position: int | None
    ) -> Group:
        if group_id is None:
            group_id = max(self.by_id, default=0) + 1
        if position is None:
            old = self.by_id.get(group_id)
            position = old.position if old else len(self.by_id)
        group = Group(group_id, title, position, tuple(slots))
        await self.store.execute(*upsert_group_sql(group.id, title, position, group.slots))
        self.by_id[group_id] = group
        self._apply_to_hub()
        return group

    async def delete(self, group_id: int) -> bool:
        if group_id not in self.by_id:
            return False
        await self.store.execute(*delete_group_sql(group_id))
        del self.by_id[group_id]
        self._apply_to_hub()
        return True

    def _apply_to_hub(self) -> None:
        titles: dict[str, str] = {}
        for group in self.ordered():
            for device_id in group.slots:
                if device_id and device_id not in titles:
                    titles[device_id] = group.title
        for device_id in set(titles) | {d for d, u in self.hub.user.items() if u.group}:
            user = self.hub.user.get(device_id)
            self.hub.set_user(
                device_id, performer=user.performer if user else None, group=titles.get(device_id)
            )
