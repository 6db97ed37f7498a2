"""Sennheiser SSCv2 (EW-DX firmware >= 4.0, HTTPS + Server-Sent Events): the pure parts.

PURE apart from `EventStreamParser`'s own buffer: no I/O, no clock. What is here:
* `EventStreamParser`: Server-Sent Events from a byte stream (any split, CRLF/LF/CR line ends,
  comments, `retry`, `id`), with bounded line and event sizes; it never raises.
* the version document (`GET /api/ssc/version`, no auth) and which protocol it means;
* subscription management: the session's paths, the JSON array bodies of `PUT .../add`,
  `.../remove` and `PUT .../{uuid}`, the `event: open` payload and `Content-Location`;
* `Sscv2Interpreter`: resource bodies (`/api/channel/{i}`, `/api/rf/channels/{i}`,
  `/api/transmitters/{i}/battery` ...; zero-based i) -> normalized `Reading`s for channel i+1.

Sources: the "EW-DX service API" OpenAPI text (SSCv2 spec) as published with the Companion
module, and PROTOCOLS-SENNHEISER.md. No real SSCv2 capture exists (real-captures.md §9), so
every body shape is [U] and read tolerantly: unknown keys are ignored, a value of the wrong
type is unknown.

[U] readings beyond the shared ones in `values` (each pinned by a test whose name says "pins"):
* a transmitter resource that is `null` or `{}` (what an event could say once the link is
  gone; a GET answers 422 "no transmitter is linked") -> no transmitter;
* battery `type` `NoBattery` -> no battery values (gauge and lifetime unknown);
* a meter resource is `{"value": x}`; a bare number is accepted too.
Errors: `BadResource` (a `ProtocolError`) for a body that is not the JSON the spec gives;
`InvalidCommand` for a path or session id we must not put in a URL.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from micboardd.model import JSON, Reading
from micboardd.sennheiser.errors import BadResource, InvalidCommand
from micboardd.sennheiser.values import (
    MAX_EWDX_CHANNELS,
    ChannelMemory,
    Fields,
    antenna,
    dbfs,
    dbm,
    flag,
    frequency_mhz,
    lifetime_minutes,
    model_fields,
    percent,
    rsqi_quality,
    text,
    transmitter_warning_fields,
    warning_fields,
)

__all__ = [
    "API_USER",
    "HTTPS_PORT",
    "SUBSCRIPTIONS_PATH",
    "VERSION_PATH",
    "EventStreamParser",
    "ResourceUpdate",
    "SessionOpen",
    "SscVersion",
    "Sscv2Interpreter",
    "SseEvent",
    "add_path",
    "basic_auth",
    "parse_open",
    "parse_paths",
    "parse_updates",
    "parse_version",
    "paths_body",
    "remove_path",
    "resource_paths",
    "session_from_location",
    "subscription_path",
]

HTTPS_PORT = 443
API_USER = "api"  # the third-party user; its password is set in Sennheiser's control software
VERSION_PATH = "/api/ssc/version"
SUBSCRIPTIONS_PATH = "/api/ssc/state/subscriptions"
SSCV2_MIN_MAJOR = 2
# A resource body is well under 1 KB; an update event carries a few of them. These bound what a
# hostile or broken stream can make us hold.
MAX_LINE_BYTES = 65_536
MAX_EVENT_BYTES = 262_144
MAX_BODY_BYTES = 1_048_576  # a version document or an update payload
MAX_PATHS = 256  # resources in one add/remove body (an EM 4 needs ~45)
_EXCERPT = 60

_UUID_RE = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}\Z")
_RESOURCE_RE = re.compile(r"/api(?:/[A-Za-z0-9_]+)+\Z")
_CHANNEL_RE = re.compile(r"/api/channel/(\d{1,2})(?:/([A-Za-z]+))?\Z")
_RF_CHANNEL_RE = re.compile(r"/api/rf/channels/(\d{1,2})\Z")
_TRANSMITTER_RE = re.compile(r"/api/transmitters/(\d{1,2})(?:/([A-Za-z]+))?\Z")


def _excerpt(data: bytes | str) -> str:
    shown = data[:_EXCERPT]
    return f"{shown!r}{'...' if len(data) > _EXCERPT else ''}"


# --- Server-Sent Events ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: its type (`message` unless named), data and the last event id."""

    event: str
    data: str
    id: str | None = None


class EventStreamParser:
    """Server-Sent Events from a byte stream (the WHATWG "event stream" rules).

    `feed` never raises: a line longer than `max_line` or an event larger than `max_event` is
    dropped (counted in `garbage_count`, described in `last_error`) and parsing goes on at the
    next line or event. What `feed` returns depends only on the bytes, not on how they were
    split. `retry_ms` is the reconnection time the server last asked for.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES, max_event: int = MAX_EVENT_BYTES) -> None:
        self.max_line = max_line
        self.max_event = max_event
        self.garbage_count = 0
        self.last_error: str | None = None
        self.retry_ms: int | None = None
        self.last_event_id: str | None = None
        self._buf = bytearray()
        self._skip_lf = False  # the last chunk ended in CR: a leading LF belongs to it
        self._skip_line = False  # the current line overflowed: drop it up to its end
        self._started = False  # a leading BOM has been dealt with
        self._event_type = ""
        self._data: list[str] = []
        self._event_size = 0
        self._event_broken = False

    @property
    def pending(self) -> int:
        return len(self._buf)

    def _garbage(self, reason: str) -> None:
        self.garbage_count += 1
        self.last_error = reason

    def feed(self, data: bytes) -> list[SseEvent]:
        events: list[SseEvent] = []
        buf = self._buf
        buf += data
        if not self._started and len(buf) >= 3:
            if buf.startswith(b"\xef\xbb\xbf"):
                del buf[:3]
            self._started = True
        if not self._started:
            return events
        pos = 0
        n = len(buf)
        while pos < n:
            if self._skip_lf:
                self._skip_lf = False
                if buf[pos] == 0x0A:
                    pos += 1
                    continue
            cr = buf.find(b"\r", pos)
            lf = buf.find(b"\n", pos)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                if n - pos > self.max_line:
                    self._overflow(n - pos)
                    self._skip_line = True  # drop the rest of it as it arrives
                    pos = n
                break
            end = min(ends)
            if self._skip_line:
                self._skip_line = False
            elif end - pos > self.max_line:
                self._overflow(end - pos)
            else:
                self._line(bytes(buf[pos:end]), events)
            if buf[end] == 0x0D:
                if end + 1 < n:
                    pos = end + 2 if buf[end + 1] == 0x0A else end + 1
                    continue
                self._skip_lf = True
            pos = end + 1
        del buf[:pos]
        return events

    def _overflow(self, size: int) -> None:
        """A line too long: counted once, and the event it belongs to is dropped."""
        if not self._skip_line:
            self._garbage(f"event-stream line of {size}+ bytes exceeds {self.max_line}")
        self._event_broken = True

    def _line(self, raw: bytes, events: list[SseEvent]) -> None:
        if not raw:
            self._dispatch(events)
            return
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return  # a comment (servers send them as keepalives)
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event_type = value
        elif name == "data":
            self._event_size += len(raw) + 1
            if self._event_size > self.max_event:
                if not self._event_broken:
                    self._garbage(f"event larger than {self.max_event} bytes dropped")
                self._event_broken = True
                self._data.clear()
            elif not self._event_broken:
                self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)

    def _dispatch(self, events: list[SseEvent]) -> None:
        broken, data, kind = self._event_broken, self._data, self._event_type
        self._event_type, self._data, self._event_size, self._event_broken = "", [], 0, False
        if broken or not data:
            return
        events.append(SseEvent(kind or "message", "\n".join(data), self.last_event_id))


# --- version, sessions, subscription bodies -------------------------------------------------


def _json(body: bytes | str, what: str) -> JSON:
    if len(body) > MAX_BODY_BYTES:
        raise BadResource(f"{what}: body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadResource(f"{what}: not JSON: {_excerpt(body)}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every body (json.loads with options builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


@dataclass(frozen=True, slots=True)
class SscVersion:
    """`GET /api/ssc/version`: `{"protocol": "2.3", "schema": "1.7"}`."""

    protocol: str
    schema: str | None

    @property
    def major(self) -> int | None:
        head = self.protocol.split(".", 1)[0].strip()
        return int(head) if head.isascii() and head.isdigit() else None

    @property
    def speaks_sscv2(self) -> bool:
        major = self.major
        return major is not None and major >= SSCV2_MIN_MAJOR


def parse_version(body: bytes | str) -> SscVersion:
    document = _json(body, VERSION_PATH)
    protocol = document.get("protocol") if isinstance(document, dict) else None
    if not isinstance(protocol, str) or not protocol.strip():
        raise BadResource(f"{VERSION_PATH}: no protocol version in {_excerpt(body)}")
    schema = document.get("schema")
    return SscVersion(protocol.strip(), schema if isinstance(schema, str) else None)


def _check_uuid(session: str) -> str:
    if not isinstance(session, str) or not _UUID_RE.match(session):
        raise InvalidCommand(f"not a subscription session id: {session!r}")
    return session.lower()


def subscription_path(session: str) -> str:
    """`GET` (the list), `PUT` (replace it) and `DELETE` (end the session) go here."""
    return f"{SUBSCRIPTIONS_PATH}/{_check_uuid(session)}"


def add_path(session: str) -> str:
    return f"{subscription_path(session)}/add"


def remove_path(session: str) -> str:
    return f"{subscription_path(session)}/remove"


def paths_body(paths: Iterable[str]) -> bytes:
    """The JSON array body of `PUT .../add`, `.../remove` and `PUT .../{uuid}`."""
    chosen = list(dict.fromkeys(paths))
    if not 1 <= len(chosen) <= MAX_PATHS:
        raise InvalidCommand(f"a subscription body holds 1-{MAX_PATHS} paths, got {len(chosen)}")
    for resource in chosen:
        if not isinstance(resource, str) or not _RESOURCE_RE.match(resource):
            raise InvalidCommand(f"not an SSCv2 resource path: {resource!r}")
    return json.dumps(chosen, separators=(",", ":")).encode("ascii")


def parse_paths(body: bytes | str) -> list[str]:
    """A subscription list (`GET .../{uuid}`): the string members of the JSON array."""
    document = _json(body, "subscription list")
    if not isinstance(document, list):
        raise BadResource(f"subscription list is not an array: {_excerpt(body)}")
    return [p for p in document if isinstance(p, str)]


def basic_auth(password: str, user: str = API_USER) -> str:
    """The `Authorization` header value; never log it."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


@dataclass(frozen=True, slots=True)
class SessionOpen:
    """The `event: open` payload: the session id to manage the subscription with."""

    session: str
    path: str | None


def parse_open(data: str) -> SessionOpen:
    document = _json(data, "open event")
    if not isinstance(document, dict):
        raise BadResource(f"open event is not an object: {_excerpt(data)}")
    session = document.get("sessionUUID")
    where = document.get("path")
    if not isinstance(session, str) or not _UUID_RE.match(session):
        # Some servers may give only the path: its last segment is the id.
        tail = where.rstrip("/").rsplit("/", 1)[-1] if isinstance(where, str) else None
        if tail is None or not _UUID_RE.match(tail):
            raise BadResource(f"open event without a session id: {_excerpt(data)}")
        session = tail
    return SessionOpen(session.lower(), where if isinstance(where, str) else None)


def session_from_location(value: str) -> str:
    """The session id in a `Content-Location` header (a path ending in it, or the id)."""
    tail = value.strip().rstrip("/").rsplit("/", 1)[-1]
    if not _UUID_RE.match(tail):
        raise BadResource(f"Content-Location without a session id: {_excerpt(value)}")
    return tail.lower()


@dataclass(frozen=True, slots=True)
class ResourceUpdate:
    """One resource in an `event: message` payload `{"/api/...": {...}}`."""

    path: str
    body: JSON


def parse_updates(data: str) -> list[ResourceUpdate]:
    document = _json(data, "message event")
    if not isinstance(document, dict):
        raise BadResource(f"message event is not an object: {_excerpt(data)}")
    return [ResourceUpdate(str(k), v) for k, v in document.items()]


def parse_add_error(body: bytes | str) -> tuple[str | None, int | None]:
    """A refused add/remove (HTTP 400): `{"path": "/api/x", "error": 404}` -> its parts."""
    try:
        document = _json(body, "subscription error")
    except BadResource:
        return None, None
    if not isinstance(document, dict):
        return None, None
    where, code = document.get("path"), document.get("error")
    return (
        where if isinstance(where, str) else None,
        code if isinstance(code, int) and not isinstance(code, bool) else None,
    )


# --- resources ------------------------------------------------------------------------------

DEVICE_RESOURCES: tuple[str, ...] = (
    "/api/device/identity",
    "/api/device/site",
    "/api/firmware/update/state",
    "/api/rf/encryption",
)
CHANNEL_RESOURCES: tuple[str, ...] = (
    "/api/channel/{i}",
    "/api/channel/{i}/warnings",
    "/api/channel/{i}/signalStrengthIndicator",
    "/api/channel/{i}/signalQualityIndicator",
    "/api/channel/{i}/diversityIndicator",
    "/api/channel/{i}/level",
    "/api/rf/channels/{i}",
    "/api/transmitters/{i}",
    "/api/transmitters/{i}/battery",
    "/api/transmitters/{i}/warnings",
)
# Channel resources that are meters ("FastResource" in the spec): sent often, on change.
METER_SUFFIXES = frozenset(
    {"signalStrengthIndicator", "signalQualityIndicator", "diversityIndicator", "level"}
)


def resource_paths(channels: int) -> list[str]:
    """Everything a monitor subscribes to on a receiver with `channels` channels."""
    out = list(DEVICE_RESOURCES)
    for index in range(max(0, min(channels, MAX_EWDX_CHANNELS))):
        out += [p.format(i=index) for p in CHANNEL_RESOURCES]
    return out


def _meter_value(body: JSON) -> JSON:
    """`{"value": x}` -> x; a bare number is taken as itself."""
    if isinstance(body, dict):
        return body.get("value")
    return body


def _absent(body: JSON) -> bool:
    return body is None or body == {}


class Sscv2Interpreter:
    """Resource bodies of one session -> normalized readings (never raises).

    Channel `i` of a path is zero-based; readings are for channel i+1. Presence (`tx_on`)
    combines the channel's `NoLink` warning and the transmitter resources.
    """

    def __init__(self, max_channels: int = MAX_EWDX_CHANNELS) -> None:
        self.max_channels = max_channels
        self._memory: dict[int, ChannelMemory] = {}

    def memory(self, channel: int) -> ChannelMemory:
        found = self._memory.get(channel)
        if found is None:
            found = self._memory[channel] = ChannelMemory()
        return found

    def _channel(self, index: str) -> int | None:
        number = int(index) + 1
        return number if number <= self.max_channels else None

    def interpret(self, path: str, body: JSON) -> list[Reading]:
        if path in _DEVICE_HANDLERS:
            fields = _DEVICE_HANDLERS[path](body)
            return [Reading(0, fields)] if fields else []
        for pattern, handler in (
            (_CHANNEL_RE, self._channel_resource),
            (_RF_CHANNEL_RE, self._rf_resource),
            (_TRANSMITTER_RE, self._transmitter_resource),
        ):
            found = pattern.match(path)
            if found is None:
                continue
            channel = self._channel(found.group(1))
            if channel is None:
                return []
            suffix = found.group(2) if found.lastindex and found.lastindex >= 2 else None
            fields = handler(channel, suffix, body)
            return [Reading(channel, fields)] if fields else []
        return []

    def interpret_updates(self, updates: Iterable[ResourceUpdate]) -> list[Reading]:
        return [r for u in updates for r in self.interpret(u.path, u.body)]

    def transmitter_absent(self, index: int) -> list[Reading]:
        """What a 422 on `GET /api/transmitters/{index}[/battery]` says: none is linked."""
        channel = index + 1
        if not 1 <= channel <= self.max_channels:
            return []
        return [Reading(channel, self._no_transmitter(channel))]

    def _no_transmitter(self, channel: int) -> Fields:
        memory = self.memory(channel)
        fields: Fields = {"battery_level": None, "battery_minutes": None, "tx_model": None}
        return fields | memory.mute("tx", None) | memory.present("transmitter", False)

    def _channel_resource(self, channel: int, suffix: str | None, body: JSON) -> Fields:
        memory = self.memory(channel)
        if suffix is None:
            if not isinstance(body, dict):
                return {}
            fields: Fields = {}
            if "name" in body:
                fields["name"] = text(body["name"])
            if "mute" in body:
                fields |= memory.mute("rx", flag(body["mute"]))
            return fields
        if suffix == "warnings":
            return warning_fields(memory, body, source="link")
        value = _meter_value(body)
        if suffix == "signalStrengthIndicator":
            return {"rf_signal": dbm(value)}
        if suffix == "signalQualityIndicator":
            return {"rf_quality": rsqi_quality(value)}
        if suffix == "diversityIndicator":
            return {"antenna": antenna(value)}
        if suffix == "level":
            level = dbfs(value)
            return {"audio_level": level, "peak_level": level}
        return {}

    def _rf_resource(self, channel: int, suffix: str | None, body: JSON) -> Fields:
        if not isinstance(body, dict) or "frequency" not in body:
            return {}
        return {"frequency_mhz": frequency_mhz(body["frequency"])}

    def _transmitter_resource(self, channel: int, suffix: str | None, body: JSON) -> Fields:
        memory = self.memory(channel)
        if suffix == "warnings":
            return transmitter_warning_fields(body)
        if suffix not in (None, "battery"):
            return {}
        if _absent(body):
            return self._no_transmitter(channel)
        if not isinstance(body, dict):
            return {}
        fields: Fields = {}
        if suffix == "battery":
            if body.get("type") == "NoBattery":
                fields = {"battery_level": None, "battery_minutes": None}
            else:
                if "gauge" in body:
                    fields["battery_level"] = percent(body["gauge"])
                if "lifetime" in body:
                    fields["battery_minutes"] = lifetime_minutes(body["lifetime"])
        else:
            if "type" in body:
                fields["tx_model"] = text(body["type"])
            if "mute" in body:
                fields |= memory.mute("tx", flag(body["mute"]))
        return fields | memory.present("transmitter", True)


def _identity(body: JSON) -> Fields:
    if not isinstance(body, dict):
        return {}
    fields = model_fields(body.get("product")) if "product" in body else {}
    if "serial" in body:
        fields["serial"] = text(body["serial"])
    return fields


def _site(body: JSON) -> Fields:
    if not isinstance(body, dict) or "deviceName" not in body:
        return {}
    return {"name": text(body["deviceName"])}


def _firmware(body: JSON) -> Fields:
    if not isinstance(body, dict) or "deviceVersion" not in body:
        return {}
    return {"firmware": text(body["deviceVersion"])}


def _encryption(body: JSON) -> Fields:
    if not isinstance(body, dict) or "enabled" not in body:
        return {}
    on = flag(body["enabled"])
    return {"encryption": None if on is None else ("on" if on else "off")}


_DEVICE_HANDLERS: Mapping[str, Any] = {
    "/api/device/identity": _identity,
    "/api/device/site": _site,
    "/api/firmware/update/state": _firmware,
    "/api/rf/encryption": _encryption,
}
