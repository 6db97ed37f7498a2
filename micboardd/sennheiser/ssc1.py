"""Sennheiser Sound Control Protocol v1 (EW-DX over UDP 45): requests out, datagrams in.

PURE: no I/O, no clock. Requests are built from paths (`("rx1", "name")`, or `path("rx1/name")`);
`parse_datagram` turns one datagram into typed messages; `Ssc1Interpreter` maps messages to
normalized `Reading`s. The only exceptions leaving this module are `BadDatagram` (bytes that
are not one bounded JSON object) and `InvalidCommand` (a request we must not send).

Wire facts (PROTOCOLS-SENNHEISER.md "EW-DX", real-captures.md §8):
* One JSON object per datagram, no framing; a trailing CR/LF is tolerated. Replies go to the
  sender's source port; any source port is answered.
* Get: the tree with null leaves, `{"rx1":{"name":null}}`; the reply holds the values. Set: the
  tree with values; the reply echoes what was applied. Key order is not request order.
* Errors: `{"osc":{"error":[{<path as nested object>:[code,{"desc":...}]}]}}`, one entry per
  failed leaf (several leaves may share one object), or a bare `{"osc":{"error":[400,{...}]}}`
  for a message not understood at all (seen on a Neumann SSC device).
* Subscriptions: `{"osc":{"state":{"subscribe":[{"#":{"min","max","count","lifetime"},<tree>}]}}}`;
  the device echoes the request with the granted parameters, sends the current values, then
  changes; meters (`m/...`) arrive one leaf per datagram, on change. On expiry each leaf gets
  its own `310 subscription terminates` error. `"#":{"cancel":true}` cancels.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from micboardd.model import JSON, Reading
from micboardd.sennheiser.errors import BadDatagram, InvalidCommand
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
    "DEFAULT_COUNT",
    "DEFAULT_LIFETIME_S",
    "ERROR_DESCRIPTIONS",
    "FAILED_DEPENDENCY",
    "IDENTITY_PATHS",
    "MAX_DATAGRAM_BYTES",
    "MESSAGE_NOT_UNDERSTOOD",
    "NOT_FOUND",
    "SSC_PORT",
    "SUBSCRIPTION_TERMINATES",
    "Message",
    "Meter",
    "Path",
    "Ssc1Interpreter",
    "SscError",
    "SubscribeParams",
    "SubscriptionAck",
    "Value",
    "cancel_request",
    "channel_paths",
    "get_request",
    "meter_paths",
    "parse_datagram",
    "path",
    "set_request",
    "subscribe_request",
    "transmitter_paths",
]

SSC_PORT = 45
# The largest reply we provoke (a get of every monitored leaf of an EM 4) is ~2 KB; 16 KB leaves
# 8x headroom yet bounds what one hostile datagram can make us parse.
MAX_DATAGRAM_BYTES = 16_384
# Nesting depth of real messages: osc/error/[..]/mates/tx1/battery/gauge/[code] is 8 levels.
MAX_DEPTH = 16
# What the device grants when a subscription names no parameters (developer's guide).
DEFAULT_LIFETIME_S = 10
DEFAULT_COUNT = 1000
# Bounds of the subscription parameters we send: a lifetime of an hour is far beyond any
# renewal schedule; periods are milliseconds and a minute is the slowest useful meter.
MAX_LIFETIME_S = 3600
MAX_PERIOD_MS = 60_000
MAX_COUNT = 1_000_000

SUBSCRIPTION_TERMINATES = 310
MESSAGE_NOT_UNDERSTOOD = 400
NOT_FOUND = 404
NOT_ACCEPTABLE = 406
FAILED_DEPENDENCY = 424
# Codes seen from real units and what they mean to us; others are reported with their number.
ERROR_DESCRIPTIONS: Mapping[int, str] = {
    SUBSCRIPTION_TERMINATES: "subscription terminates",
    MESSAGE_NOT_UNDERSTOOD: "message not understood",
    NOT_FOUND: "address not found",
    NOT_ACCEPTABLE: "value not acceptable",
    FAILED_DEPENDENCY: "failed dependency (no transmitter linked or it is off)",
    454: "refused (code 454, meaning undocumented)",
}

Path = tuple[str, ...]
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EXCERPT = 60

IDENTITY_PATHS: tuple[Path, ...] = (
    ("device", "name"),
    ("device", "identity", "product"),
    ("device", "identity", "version"),
    ("device", "identity", "serial"),
)


def channel_paths(channel: int) -> tuple[Path, ...]:
    """What a monitor reads and subscribes for one receiver channel."""
    rx = f"rx{channel}"
    return ((rx, "name"), (rx, "frequency"), (rx, "mute"), (rx, "warnings"))


def transmitter_paths(channel: int) -> tuple[Path, ...]:
    """The transmitter linked to a channel; each leaf answers 424 while none is on."""
    tx = ("mates", f"tx{channel}")
    return (
        (*tx, "battery", "gauge"),
        (*tx, "battery", "lifetime"),
        (*tx, "battery", "type"),
        (*tx, "type"),
        (*tx, "name"),
        (*tx, "mute"),
        (*tx, "warnings"),
    )


def meter_paths(channel: int) -> tuple[Path, ...]:
    """The meters of a channel: only ever sent under a subscription."""
    rx = f"rx{channel}"
    return (("m", rx, "rssi"), ("m", rx, "rsqi"), ("m", rx, "divi"), ("m", rx, "af"))


def path(text: str) -> Path:
    """`"mates/tx1/battery/gauge"` -> `("mates", "tx1", "battery", "gauge")`."""
    return _check_path(tuple(p for p in text.strip("/").split("/")))


def _check_path(parts: Sequence[str]) -> Path:
    if not parts or not all(isinstance(p, str) and _KEY_RE.match(p) for p in parts):
        raise InvalidCommand(f"not an SSC path: {'/'.join(map(str, parts))!r}")
    return tuple(parts)


# --- requests -------------------------------------------------------------------------------


def _tree(leaves: Iterable[tuple[Path, JSON]]) -> dict[str, JSON]:
    """Nested objects from (path, leaf value) pairs; a path that is also a container of
    another, or two values for one leaf, cannot be said in one tree."""
    root: dict[str, JSON] = {}
    for given, leaf in leaves:
        parts = _check_path(given)
        node = root
        for key in parts[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise InvalidCommand(f"{'/'.join(parts)}: a parent of it is itself a leaf")
            node = child
        last = parts[-1]
        if last in node and (isinstance(node[last], dict) or node[last] != leaf):
            raise InvalidCommand(f"{'/'.join(parts)} appears twice or also as a container")
        node[last] = leaf
    if not root:
        raise InvalidCommand("a request needs at least one path")
    return root


def _encode(message: Mapping[str, JSON]) -> bytes:
    data = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("ascii")
    if len(data) > MAX_DATAGRAM_BYTES:
        raise InvalidCommand(f"request of {len(data)} bytes exceeds {MAX_DATAGRAM_BYTES}")
    return data


def get_request(paths: Iterable[Path]) -> bytes:
    """Read leaves: `{"rx1":{"name":null,"frequency":null}}`."""
    return _encode(_tree((p, None) for p in paths))


def _check_value(where: Path, value: JSON) -> JSON:
    if isinstance(value, str):
        if not all(" " <= c <= "~" for c in value):
            raise InvalidCommand(f"{'/'.join(where)}: strings are printable ASCII only")
        return value
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise InvalidCommand(f"{'/'.join(where)}: cannot send {type(value).__name__}")


def set_request(values: Mapping[Path, JSON]) -> bytes:
    """Write leaves: `{("rx1", "mute"): True}` -> `{"rx1":{"mute":true}}`."""
    return _encode(_tree((p, _check_value(p, v)) for p, v in values.items()))


@dataclass(frozen=True, slots=True)
class SubscribeParams:
    """The `#` object of a subscription (requested, or as granted in the device's echo).

    `min_ms`/`max_ms` are notification periods (0: on change, unthrottled), `count` how many
    notifications the subscription lives for, `lifetime_s` how long it lives without renewal.
    None: not stated.
    """

    min_ms: int | None = None
    max_ms: int | None = None
    count: int | None = None
    lifetime_s: int | None = None
    cancel: bool = False

    def wire(self) -> dict[str, JSON]:
        if self.cancel:
            return {"cancel": True}
        named = {
            "min": self.min_ms,
            "max": self.max_ms,
            "count": self.count,
            "lifetime": self.lifetime_s,
        }
        return {k: v for k, v in named.items() if v is not None}


def _check_range(name: str, value: int | None, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise InvalidCommand(f"subscription {name} must be an int in 0..{high}, got {value!r}")


def subscribe_request(
    paths: Iterable[Path],
    *,
    lifetime_s: int | None = DEFAULT_LIFETIME_S,
    min_ms: int | None = 0,
    max_ms: int | None = 0,
    count: int | None = DEFAULT_COUNT,
) -> bytes:
    """Subscribe (or renew: the same request again) to leaves; see `SubscribeParams`."""
    _check_range("lifetime", lifetime_s, MAX_LIFETIME_S)
    _check_range("min", min_ms, MAX_PERIOD_MS)
    _check_range("max", max_ms, MAX_PERIOD_MS)
    _check_range("count", count, MAX_COUNT)
    if min_ms and max_ms and min_ms > max_ms:
        raise InvalidCommand(f"subscription min {min_ms} ms is above max {max_ms} ms")
    params = SubscribeParams(min_ms, max_ms, count, lifetime_s)
    return _subscribe(params, paths)


def cancel_request(paths: Iterable[Path]) -> bytes:
    """End a subscription to leaves before its lifetime runs out."""
    return _subscribe(SubscribeParams(cancel=True), paths)


def _subscribe(params: SubscribeParams, paths: Iterable[Path]) -> bytes:
    entry: dict[str, JSON] = {"#": params.wire()}
    entry.update(_tree((p, None) for p in paths))
    return _encode({"osc": {"state": {"subscribe": [entry]}}})


# --- messages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    """One leaf the device reported (a get reply, a set echo or a subscription update)."""

    path: Path
    value: JSON


@dataclass(frozen=True, slots=True)
class Meter:
    """One meter leaf (`m/rx1/rssi`); meters arrive only under a subscription."""

    path: Path
    value: JSON


@dataclass(frozen=True, slots=True)
class SubscriptionAck:
    """The device's echo of one subscription entry: granted parameters and the leaves."""

    params: SubscribeParams
    paths: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class SscError:
    """An error the device answered: at a leaf (`path`), or for the whole message (None)."""

    path: Path | None
    code: int
    desc: str | None = None

    @property
    def meaning(self) -> str:
        return ERROR_DESCRIPTIONS.get(self.code, f"error {self.code}")

    @property
    def transmitter_absent(self) -> bool:
        return self.code == FAILED_DEPENDENCY

    @property
    def subscription_ended(self) -> bool:
        return self.code == SUBSCRIPTION_TERMINATES


Message = Value | Meter | SubscriptionAck | SscError


def _excerpt(data: bytes) -> str:
    shown = data[:_EXCERPT]
    return f"{shown!r}{'...' if len(data) > _EXCERPT else ''}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every datagram (json.loads with options builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_datagram(data: bytes) -> list[Message]:
    """One datagram -> its messages, in document order.

    Unknown keys and odd shapes inside a valid object degrade to plain `Value`s or are
    skipped; only bytes that are not one bounded JSON object raise `BadDatagram`.
    """
    if len(data) > MAX_DATAGRAM_BYTES:
        raise BadDatagram(f"datagram of {len(data)} bytes exceeds {MAX_DATAGRAM_BYTES}")
    try:
        document = _DECODER.decode(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = type(exc).__name__ if isinstance(exc, RecursionError) else str(exc)
        raise BadDatagram(f"not a JSON datagram ({reason}): {_excerpt(data)}") from None
    if not isinstance(document, dict):
        raise BadDatagram(f"not a JSON object: {_excerpt(data)}")
    messages: list[Message] = []
    try:
        for key, node in document.items():
            if key == "osc" and isinstance(node, dict):
                messages += _osc(node)
            elif key == "m":
                messages += [Meter(p, v) for p, v in _leaves(node, ("m",))]
            else:
                messages += [Value(p, v) for p, v in _leaves(node, (key,))]
    except _TooDeep:
        raise BadDatagram(f"nested deeper than {MAX_DEPTH} levels: {_excerpt(data)}") from None
    return messages


class _TooDeep(Exception):
    """Internal: a walk went deeper than MAX_DEPTH (turned into BadDatagram)."""


def _leaves(
    node: JSON, prefix: Path, out: list[tuple[Path, JSON]] | None = None
) -> list[tuple[Path, JSON]]:
    """Every non-object value under `node` with its path; `{}` has none."""
    found = [] if out is None else out
    if type(node) is not dict:
        found.append((prefix, node))
        return found
    if len(prefix) >= MAX_DEPTH:
        raise _TooDeep
    for key, child in node.items():
        _leaves(child, (*prefix, key), found)
    return found


def _osc(node: dict[str, JSON]) -> list[Message]:
    out: list[Message] = []
    for key, child in node.items():
        if key == "error":
            out += _errors(child)
        elif key == "state" and isinstance(child, dict) and "subscribe" in child:
            for sub_key, sub in child.items():
                if sub_key == "subscribe":
                    entries = sub if isinstance(sub, list) else [sub]
                    out += [_ack(e) for e in entries if isinstance(e, dict)]
                else:
                    out += [Value(p, v) for p, v in _leaves(sub, ("osc", "state", sub_key))]
        else:
            out += [Value(p, v) for p, v in _leaves(child, ("osc", key))]
    return out


def _int(value: JSON) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _code_and_desc(value: JSON) -> tuple[int, str | None] | None:
    """`[424, {"desc": "failed dependency"}]` -> (424, "failed dependency")."""
    if not isinstance(value, list) or not value or _int(value[0]) is None:
        return None
    code = value[0]
    desc = None
    for extra in value[1:]:
        if isinstance(extra, dict) and isinstance(extra.get("desc"), str):
            desc = extra["desc"]
    return code, desc


def _errors(node: JSON) -> list[Message]:
    bare = _code_and_desc(node)
    if bare is not None:
        return [SscError(None, *bare)]
    items = node if isinstance(node, list) else [node]
    out: list[Message] = []
    for item in items:
        bare = _code_and_desc(item)
        if bare is not None:
            out.append(SscError(None, *bare))
        elif isinstance(item, dict):
            out += _leaf_errors(item, ())
    return out


def _leaf_errors(node: dict[str, JSON], prefix: Path) -> list[Message]:
    if len(prefix) >= MAX_DEPTH:
        raise _TooDeep
    out: list[Message] = []
    for key, child in node.items():
        where = (*prefix, key)
        found = _code_and_desc(child)
        if found is not None:
            out.append(SscError(where, *found))
        elif isinstance(child, dict):
            out += _leaf_errors(child, where)
    return out


def _ack(entry: dict[str, JSON]) -> SubscriptionAck:
    raw = entry.get("#")
    params = SubscribeParams()
    if isinstance(raw, dict):
        params = SubscribeParams(
            min_ms=_int(raw.get("min")),
            max_ms=_int(raw.get("max")),
            count=_int(raw.get("count")),
            lifetime_s=_int(raw.get("lifetime")),
            cancel=raw.get("cancel") is True,
        )
    paths = tuple(
        p for key, child in entry.items() if key != "#" for p, _ in _leaves(child, (key,))
    )
    return SubscriptionAck(params, paths)


# --- readings -------------------------------------------------------------------------------


# "rx1" -> 1 ... "rx9" -> 9: a dict lookup per meter leaf, not a regex match.
_RX: Mapping[str, int] = {f"rx{n}": n for n in range(1, 10)}
_TX: Mapping[str, int] = {f"tx{n}": n for n in range(1, 10)}


def _index(table: Mapping[str, int], key: str, limit: int) -> int | None:
    number = table.get(key)
    return number if number is not None and number <= limit else None


class Ssc1Interpreter:
    """Messages of one connection -> normalized readings (never raises).

    Receiver-level values become channel-0 readings (`model`, `channels`, `name`, `firmware`,
    `serial`, `encryption`); `rx{n}`, `mates/tx{n}` and `m/rx{n}` become channel n. Presence
    (`tx_on`) combines the channel's `NoLink` warning and its transmitter leaves (a value: a
    transmitter is linked; 424: none).
    """

    def __init__(self, max_channels: int = MAX_EWDX_CHANNELS) -> None:
        self.max_channels = max_channels
        self._memory: dict[int, ChannelMemory] = {}

    def memory(self, channel: int) -> ChannelMemory:
        found = self._memory.get(channel)
        if found is None:
            found = self._memory[channel] = ChannelMemory()
        return found

    def interpret(self, message: Message) -> list[Reading]:
        if isinstance(message, Meter):
            return self._meter(message.path, message.value)
        if isinstance(message, Value):
            return self._value(message.path, message.value)
        if isinstance(message, SscError):
            return self._error(message)
        return []

    def interpret_all(self, messages: Iterable[Message]) -> list[Reading]:
        return [r for m in messages for r in self.interpret(m)]

    def _reading(self, channel: int, fields: Fields) -> list[Reading]:
        return [Reading(channel, fields)] if fields else []

    def _meter(self, where: Path, value: JSON) -> list[Reading]:
        if len(where) != 3:
            return []
        channel = _index(_RX, where[1], self.max_channels)
        if channel is None:
            return []
        leaf = where[2]
        fields: Fields = {}
        if leaf == "rssi":
            fields = {"rf_signal": dbm(value)}
        elif leaf == "rsqi":
            fields = {"rf_quality": rsqi_quality(value)}
        elif leaf == "divi":
            fields = {"antenna": antenna(value)}
        elif leaf == "af":
            level = dbfs(value)
            fields = {"audio_level": level, "peak_level": level}
        return self._reading(channel, fields)

    def _value(self, where: Path, value: JSON) -> list[Reading]:
        head = where[0]
        if head == "device":
            return self._reading(0, _device(where[1:], value))
        if head == "mates" and len(where) >= 3:
            channel = _index(_TX, where[1], self.max_channels)
            if channel is None:
                return []
            return self._reading(channel, self._transmitter(channel, where[2:], value))
        channel = _index(_RX, head, self.max_channels)
        if channel is None or len(where) != 2:
            return []
        return self._reading(channel, self._channel(channel, where[1], value))

    def _channel(self, channel: int, leaf: str, value: JSON) -> Fields:
        if leaf == "name":
            return {"name": text(value)}
        if leaf == "frequency":
            return {"frequency_mhz": frequency_mhz(value)}
        if leaf == "mute":
            return self.memory(channel).mute("rx", flag(value))
        if leaf == "warnings":
            return warning_fields(self.memory(channel), value, source="link")
        return {}

    def _transmitter(self, channel: int, rest: Path, value: JSON) -> Fields:
        memory = self.memory(channel)
        if value is None:
            return {}
        fields: Fields = {}
        if rest == ("battery", "gauge"):
            fields = {"battery_level": percent(value)}
        elif rest == ("battery", "lifetime"):
            fields = {"battery_minutes": lifetime_minutes(value)}
        elif rest == ("type",):
            fields = {"tx_model": text(value)}
        elif rest == ("mute",):
            fields = memory.mute("tx", flag(value))
        elif rest == ("warnings",):
            fields = transmitter_warning_fields(value)
        return fields | memory.present("mates", True)

    def _error(self, error: SscError) -> list[Reading]:
        where = error.path
        if not error.transmitter_absent or where is None or len(where) < 3:
            return []
        if where[0] != "mates":
            return []
        channel = _index(_TX, where[1], self.max_channels)
        if channel is None:
            return []
        memory = self.memory(channel)
        fields: Fields = {"battery_level": None, "battery_minutes": None, "tx_model": None}
        fields |= memory.mute("tx", None)
        return self._reading(channel, fields | memory.present("mates", False))


def _device(rest: Path, value: JSON) -> Fields:
    if rest == ("name",):
        return {"name": text(value)}
    if rest == ("identity", "product"):
        return model_fields(value)
    if rest == ("identity", "version"):
        return {"firmware": text(value)}
    if rest == ("identity", "serial"):
        serial = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        return {"serial": text(serial)}
    if rest == ("encryption",):
        on = flag(value)
        return {"encryption": None if on is None else ("on" if on else "off")}
    return {}
