"""Placeholder tiles: gear with no network (PSM900 packs, older G3 packs) on the board anyway.

A placeholder has an ID label ("BP14", Micboard's extended id), a name ("Spare", the extended
name) and optionally the gear ("PSM900"); no receiver feeds it. It is a device like any other
for groups, the board and the WebSockets — device id `placeholder:<n>`, `name` its label,
`performer` its name, `model` its gear — with the status `unmonitored` and every reading
null, for good: nothing is known about it, so it never shows OK and raises no alert.
"""

from __future__ import annotations

from dataclasses import dataclass

from micboardd.model import make_device_id, split_device_id
from micboardd.state.groups import Groups
from micboardd.state.hub import Hub
from micboardd.store.database import Store
from micboardd.tiles.photos import Photos
from micboardd.tiles.store import (
    PlaceholderRow,
    delete_placeholder,
    placeholder_rows,
    save_placeholder,
)

PLACEHOLDER_RECEIVER = "placeholder"  # the receiver part of their device ids
MAX_PLACEHOLDERS = 256  # as many as a group has tiles
LABEL_MAX = 16  # an ID on a pack's sticker: "BP14", "IEM 3"
NAME_MAX = 64  # the performer name's bound (web/routes/devices.py PERFORMER_MAX)
MODEL_MAX = 32


def device_id_of(placeholder_id: int) -> str:
    return make_device_id(PLACEHOLDER_RECEIVER, placeholder_id)


def placeholder_id_of(device_id: str) -> int | None:
    try:
        receiver, number = split_device_id(device_id)
    except ValueError:
        return None
    return number if receiver == PLACEHOLDER_RECEIVER else None


@dataclass(frozen=True, slots=True)
class PlaceholderFields:
    label: str
    name: str
    model: str

    @classmethod
    def clean(cls, label: str | None, name: str | None, model: str | None) -> PlaceholderFields:
        """Trimmed fields; ValueError when there is nothing to show on the tile."""
        fields = cls((label or "").strip(), (name or "").strip(), (model or "").strip())
        if not fields.label and not fields.name:
            raise ValueError("a placeholder needs a name or an ID label")
        return fields


def as_dict(row: PlaceholderRow) -> dict[str, object]:
    return {
        "id": row.id,
        "device_id": device_id_of(row.id),
        "label": row.label,
        "name": row.name,
        "model": row.model,
    }


class Placeholders:
    def __init__(self, store: Store, hub: Hub, groups: Groups, photos: Photos) -> None:
        self.store = store
        self.hub = hub
        self.groups = groups
        self.photos = photos
        self.by_id: dict[int, PlaceholderRow] = {}

    async def load(self) -> None:
        for row in await placeholder_rows(self.store):
            self._show(row)

    def ordered(self) -> list[PlaceholderRow]:
        return [self.by_id[k] for k in sorted(self.by_id)]

    async def save(self, placeholder_id: int | None, fields: PlaceholderFields) -> PlaceholderRow:
        if placeholder_id is None:
            placeholder_id = max(self.by_id, default=0) + 1
        row = PlaceholderRow(placeholder_id, fields.label, fields.name, fields.model)
        await save_placeholder(self.store, row)
        self._show(row)
        return row

    async def delete(self, placeholder_id: int) -> bool:
        """Gone from the store, the board, every group and its photo."""
        if placeholder_id not in self.by_id:
            return False
        device_id = device_id_of(placeholder_id)
        for group in self.groups.ordered():
            if device_id in group.slots:
                slots = [s for s in group.slots if s != device_id]
                await self.groups.save(group.id, group.title, slots, group.position)
        await self.photos.delete(device_id)
        await delete_placeholder(self.store, placeholder_id)
        del self.by_id[placeholder_id]
        self.hub.drop_placeholder(device_id)
        return True

    def _show(self, row: PlaceholderRow) -> None:
        self.by_id[row.id] = row
        self.hub.put_placeholder(
            device_id_of(row.id),
            performer=row.name or None,
            name=row.label or None,
            model=row.model or None,
        )
