"""Performer photos: one per tile, shown behind it in TV mode (Micboard's backgrounds).

A photo belongs to a *slot* — a device id, the same key as the performer name — not to a
person: whoever wears microphone 3 tonight is shown on microphone 3's tile, and the crew
changes the photo when they change the name. Checked by content (photo_check.py), kept in the
database (store_tiles.py: backed up with everything else), and announced to dashboards as the
device's `photo` field, its version, so a new photo reaches every screen at once.
"""

from __future__ import annotations

import hashlib
import logging

from micboardd.errors import NotFound
from micboardd.state.hub import Hub
from micboardd.store.database import Store
from micboardd.tiles.photo_check import check_photo
from micboardd.tiles.store import PhotoRow, delete_photo, photo_data, photo_rows, save_photo

log = logging.getLogger(__name__)

ETAG_HEX = 20  # 80 bits of SHA-256: unique among a box's photos, short in every device frame


def describe(row: PhotoRow) -> dict[str, object]:
    return {
        "device_id": row.device_id,
        "content_type": row.content_type,
        "width": row.width,
        "height": row.height,
        "size": row.size,
        "version": row.etag,
    }


class Photos:
    def __init__(self, store: Store, hub: Hub) -> None:
        self.store = store
        self.hub = hub

    async def load(self) -> None:
        """Versions into the hub before the first device exists (they pick them up)."""
        for row in await photo_rows(self.store):
            self.hub.set_photo(row.device_id, row.etag)

    async def save(self, device_id: str, data: bytes) -> PhotoRow:
        """Store a photo for a local slot; BadUpload (nothing changed) when it is not one."""
        if not self.hub.knows_locally(device_id):
            raise NotFound(f"no device {device_id!r} on this box")
        info = check_photo(data)
        etag = hashlib.sha256(data).hexdigest()[:ETAG_HEX]
        row = PhotoRow(device_id, info.content_type, etag, info.width, info.height, len(data))
        await save_photo(self.store, row, data)
        self.hub.set_photo(device_id, etag)
        log.info(
            "performer photo of %s: %s %dx%d, %d KiB",
            device_id,
            info.content_type,
            info.width,
            info.height,
            len(data) // 1024,
            extra={"DEVICE_ID": device_id},
        )
        return row

    async def get(self, device_id: str) -> tuple[PhotoRow, bytes] | None:
        return await photo_data(self.store, device_id)

    async def delete(self, device_id: str) -> bool:
        existed = await delete_photo(self.store, device_id)
        self.hub.set_photo(device_id, None)
        return existed
