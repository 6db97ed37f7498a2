"""Reading devices from the System API: the paginated list and each device's endpoints.

`list_devices` follows Relay pagination (`?after=<endCursor>`) and accepts a bare array.
`DetailsReader` fetches what a device offers (name, battery level and health, audio
channels with their names and activity). Which endpoints a device lacks is learned from
404s and remembered until the device's node changes, so polling does not ask again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from micboardd.ssapi.client import SystemApiClient
from micboardd.ssapi.errors import BadResponse, NotAvailable
from micboardd.ssapi.models import AudioChannel, DeviceDetails, DeviceInfo, DeviceState
from micboardd.ssapi.parse import (
    parse_activity,
    parse_audio_channels,
    parse_battery_health,
    parse_battery_level,
    parse_device,
    parse_device_page,
    parse_name,
)

# A server that keeps saying "there is another page" is broken; stop rather than loop.
MAX_PAGES = 500

T = TypeVar("T")


def device_path(device_id: str, *parts: str) -> str:
    return "/".join(["/v1/devices", quote(device_id, safe=""), *parts])


def channel_path(device_id: str, channel_id: str, *parts: str) -> str:
    return device_path(device_id, "audio-channels", quote(channel_id, safe=""), *parts)


async def list_devices(client: SystemApiClient) -> list[DeviceInfo]:
    devices: list[DeviceInfo] = []
    seen_cursors: set[str] = set()
    path = "/v1/devices"
    for _ in range(MAX_PAGES):
        page = parse_device_page(await client.get(path))
        devices.extend(page.devices)
        if page.next_cursor is None:
            return devices
        if page.next_cursor in seen_cursors:
            raise BadResponse(f"GET {path}: pagination repeats cursor {page.next_cursor!r}")
        seen_cursors.add(page.next_cursor)
        path = f"/v1/devices?after={quote(page.next_cursor, safe='')}"
    raise BadResponse(f"GET /v1/devices: more than {MAX_PAGES} pages")


class DetailsReader:
    def __init__(self, client: SystemApiClient) -> None:
        self.client = client
        self._missing: dict[str, set[str]] = {}  # device id -> paths that answered 404
        self._node: dict[str, DeviceInfo] = {}

    async def device(self, device_id: str) -> DeviceInfo:
        """One node (`GET /v1/devices/{id}`); NotAvailable when the device is gone."""
        info = parse_device(await self.client.get(device_path(device_id)))
        if info is None:
            raise BadResponse(f"GET {device_path(device_id)}: node without a device id")
        return info

    async def details(self, info: DeviceInfo, previous: DeviceDetails | None) -> DeviceDetails:
        if self._node.get(info.device_id) != info:
            self._missing.pop(info.device_id, None)  # a changed node may offer new endpoints
            self._node[info.device_id] = info
        if info.state is not DeviceState.ONLINE:
            # An offline device's endpoints answer with errors or stale values: keep ours.
            base = previous or DeviceDetails(info)
            return DeviceDetails(info, base.name, base.battery, base.health, base.channels)
        did = info.device_id
        name = await self._optional(did, device_path(did, "name"), parse_name)
        battery = await self._optional(did, device_path(did, "battery-level"), parse_battery_level)
        health = await self._optional(did, device_path(did, "battery-health"), parse_battery_health)
        channels: tuple[AudioChannel, ...] = ()
        if "audio-channels" in info.capabilities or not info.capabilities:
            listed = await self._optional(
                did, device_path(did, "audio-channels"), parse_audio_channels
            )
            channels = tuple([await self._channel(did, c) for c in listed or ()])
        return DeviceDetails(info, name, battery, health, channels)

    async def _channel(self, device_id: str, channel: AudioChannel) -> AudioChannel:
        caps = channel.capabilities
        name, activity = channel.name, channel.activity
        if "name" in caps or not caps:
            path = channel_path(device_id, channel.channel_id, "name")
            name = await self._optional(device_id, path, parse_name) or name
        if "activity" in caps or not caps:
            path = channel_path(device_id, channel.channel_id, "activity")
            activity = await self._optional(device_id, path, parse_activity) or activity
        return AudioChannel(channel.channel_id, channel.index, name, activity, caps)

    async def _optional(self, device_id: str, path: str, parse: Callable[[Any], T]) -> T | None:
        missing = self._missing.setdefault(device_id, set())
        if path in missing:
            return None
        try:
            return parse(await self.client.get(path))
        except NotAvailable:
            missing.add(path)
            return None

    def forget(self, device_id: str) -> None:
        self._missing.pop(device_id, None)
        self._node.pop(device_id, None)
