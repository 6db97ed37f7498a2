"""Pure parsing of System API replies and events: JSON values in, typed values out.

No I/O, no clock. Shapes that are off raise `BadResponse`; single unknown values (a new
enum member, a missing optional field) degrade to UNKNOWN/None instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from micboardd.ssapi.errors import BadResponse
from micboardd.ssapi.models import (
    AudioActivity,
    AudioChannel,
    BatteryHealth,
    BatteryLevel,
    ChargeState,
    DeviceInfo,
    DeviceState,
    Event,
    Page,
)

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration_minutes(value: Any) -> int | None:
    """ISO-8601 duration (`PT385M`, `PT6H25M`, `P1DT2H`) -> whole minutes; None if not one."""
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    match = _DURATION.match(text)
    if match is None or text.endswith("T") or not any(match.groupdict().values()):
        return None
    days, hours, minutes, seconds = (match.group(k) for k in "dhms")
    total = int(days or 0) * 1440 + int(hours or 0) * 60 + int(minutes or 0)
    return total + int(float(seconds or 0) // 60)


def _str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _percent(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0, min(100, round(value)))


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise BadResponse(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _sub(node: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = node.get(key)
    return value if isinstance(value, Mapping) else {}


def parse_device(node: Any) -> DeviceInfo | None:
    """A device node, nested (real server) or flat (trimmed captures); None without an id."""
    if not isinstance(node, Mapping):
        return None
    hw, sw, comm = (
        _sub(node, "hardwareIdentity"),
        _sub(node, "softwareIdentity"),
        _sub(node, "communicationProtocol"),
    )
    device_id = _str(hw.get("deviceId")) or _str(node.get("deviceId")) or _str(node.get("id"))
    if device_id is None:
        return None
    caps = node.get("capabilities")
    return DeviceInfo(
        device_id=device_id,
        serial=_str(hw.get("serialNumber")) or _str(node.get("serial")),
        model=_str(sw.get("model")) or _str(node.get("model")),
        firmware=_str(sw.get("firmwareVersion")) or _str(node.get("firmwareVersion")),
        address=_str(comm.get("address")) or _str(node.get("address")),
        state=DeviceState(node.get("deviceState") or node.get("state") or "UNKNOWN"),
        capabilities=frozenset(c for c in caps if isinstance(c, str))
        if isinstance(caps, list)
        else frozenset(),
    )


def parse_device_page(data: Any) -> Page:
    """`GET /v1/devices`: a Relay connection (`pageInfo`, `edges[].node`) or a bare array."""
    if isinstance(data, list):
        return Page(tuple(d for d in map(parse_device, data) if d is not None))
    body = _object(data, "device list")
    edges = body.get("edges")
    if not isinstance(edges, list):
        raise BadResponse("device list: neither an array nor a page with edges")
    nodes = (e.get("node") if isinstance(e, Mapping) else None for e in edges)
    devices = tuple(d for d in map(parse_device, nodes) if d is not None)
    info = _sub(body, "pageInfo")
    cursor = _str(info.get("endCursor"))
    if not cursor and edges and isinstance(edges[-1], Mapping):
        cursor = _str(edges[-1].get("cursor"))
    more = info.get("hasNextPage") is True and cursor is not None and bool(edges)
    return Page(devices, cursor if more else None)


def parse_battery_level(data: Any) -> BatteryLevel:
    body = _object(data, "battery-level")
    status = _sub(body, "status")
    return BatteryLevel(
        percentage=_percent(body.get("percentage")),
        current=ChargeState(status.get("currentState") or "UNKNOWN"),
        target=ChargeState(status.get("targetState") or "UNKNOWN"),
        minutes_to_target=parse_duration_minutes(status.get("timeToTargetState")),
    )


def parse_battery_health(data: Any) -> BatteryHealth:
    body = _object(data, "battery-health")
    return BatteryHealth(_percent(body.get("percentage")), _count(body.get("cycleCount")))


def parse_name(data: Any) -> str | None:
    return _str(_object(data, "name").get("name"))


def parse_activity(data: Any) -> AudioActivity:
    return AudioActivity(_object(data, "activity").get("audioLevel") or "UNKNOWN")


def decode_channel_index(channel_id: str) -> int | None:
    """The `i` of a channel id (base64 of `{"t":"AudioChannel",...,"i":0}`), if it decodes."""
    try:
        padded = channel_id + "=" * (-len(channel_id) % 4)
        decoded = json.loads(base64.b64decode(padded, altchars=b"-_", validate=False))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    index = decoded.get("i") if isinstance(decoded, dict) else None
    return index if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else None


def parse_audio_channels(data: Any) -> tuple[AudioChannel, ...]:
    if not isinstance(data, list):
        raise BadResponse("audio-channels: expected an array")
    channels: list[AudioChannel] = []
    for position, item in enumerate(data):
        if not isinstance(item, Mapping):
            continue
        channel_id = _str(item.get("id"))
        if channel_id is None:
            continue
        caps = item.get("capabilities")
        index = decode_channel_index(channel_id)
        channels.append(
            AudioChannel(
                channel_id=channel_id,
                index=position if index is None else index,
                name=_str(item.get("name")),
                capabilities=frozenset(c for c in caps if isinstance(c, str))
                if isinstance(caps, list)
                else frozenset(),
            )
        )
    channels.sort(key=lambda c: c.index)
    return tuple(channels)


def parse_transport_id(text: str | bytes) -> str:
    """The first message of the subscription WebSocket: `{"transportId": "<uuid>"}`."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadResponse("subscription socket: first message is not JSON") from exc
    transport_id = _str(data.get("transportId")) if isinstance(data, Mapping) else None
    if transport_id is None:
        raise BadResponse("subscription socket: first message has no transportId")
    return transport_id


def parse_event(text: str | bytes) -> Event | None:
    """`{"envelope":{"eventName","deviceId","audioChannelId"},"body":{...}}`; None if not one."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, Mapping):
        return None
    envelope = _sub(data, "envelope")
    name = _str(envelope.get("eventName"))
    if name is None:
        return None
    body = data.get("body")
    return Event(
        name=name.upper(),
        device_id=_str(envelope.get("deviceId")),
        channel_id=_str(envelope.get("audioChannelId")),
        body=body if isinstance(body, Mapping) else {},
    )
