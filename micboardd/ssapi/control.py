"""Commands for devices that are receivers of their own: rename and identify.

Reached through the hub (REST -> hub -> the owning source), like receiver sessions.
"""

from __future__ import annotations

from collections.abc import Callable

from micboardd.errors import NotFound
from micboardd.ssapi.client import SystemApiClient
from micboardd.ssapi.inventory import channel_path, device_path
from micboardd.ssapi.models import DeviceDetails


class SystemApiCommander:
    def __init__(
        self, client: SystemApiClient, lookup: Callable[[str], DeviceDetails | None], device_id: str
    ) -> None:
        self.client = client
        self.lookup = lookup
        self.device_id = device_id

    def _details(self) -> DeviceDetails:
        details = self.lookup(self.device_id)
        if details is None:
            raise NotFound(f"System API device {self.device_id} is gone")
        return details

    async def rename(self, channel: int, name: str) -> None:
        details = self._details()
        if not details.channels:
            await self.client.patch(device_path(self.device_id, "name"), {"name": name})
            return
        if not 1 <= channel <= len(details.channels):
            raise NotFound(f"System API device {self.device_id} has no channel {channel}")
        chan = details.channels[channel - 1]
        await self.client.patch(
            channel_path(self.device_id, chan.channel_id, "name"), {"name": name}
        )

    async def identify(self, channel: int | None) -> None:
        self._details()
        await self.client.post(device_path(self.device_id, "identify", "start"))
