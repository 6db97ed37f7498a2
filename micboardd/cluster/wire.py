"""What instances say to each other through Redis: key names and the message format.

One pub/sub channel carries every instance's messages, JSON-encoded:

    {"v": 1, "instance": "stage-a", "boot": "3f9c…", "kind": "delta",
     "devices": [<whole device>...],                  # any non-meter field changed
     "meters": {"<device_id>": [rf_signal, audio_level, peak_level, rf_antennas, antenna,
                                last_update]},                # only meters moved
     "removed": ["<device_id>"...]}

`kind` is "full" (every device this instance has; the receiver drops the ones not listed),
"delta" (only what changed) or "beat" (nothing changed; I am alive). `boot` is new on every
start, so two boxes configured with the same name are noticed. Pure: no I/O, no clock.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from micboardd.model import DEVICE_FIELDS, METER_FIELDS, Device

VERSION = 1  # bumped on an incompatible change; other versions are ignored, not guessed at
KEY_PREFIX = "micboardd"
CHANNEL = f"{KEY_PREFIX}:devices"
REGISTRY_KEY = f"{KEY_PREFIX}:instances"  # set of instance names that have published
# Bigger than a full message of 2000 devices (~600 bytes each); anything larger is not ours.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_DEVICE_ID_LEN = 300  # same bound as device ids in REST bodies
MAX_INSTANCE_NAME_LEN = 64  # a tile label, and part of Redis key names
DEFAULT_INSTANCE = "micboardd"  # when neither the setting nor the host name says anything

Kind = Literal["full", "delta", "beat"]
# Fields carried by a meters entry besides device_id: the ones that move with every sample.
# A change to anything else sends the whole device.
METER_ENTRY: tuple[str, ...] = (*METER_FIELDS, "rf_antennas", "antenna", "last_update")


class Message(msgspec.Struct, kw_only=True, omit_defaults=True):
    v: int
    instance: str
    boot: str
    kind: Kind
    devices: list[dict[str, Any]] = []
    meters: dict[str, list[Any]] = {}
    removed: list[str] = []


class BadMessage(ValueError):
    """A message on our channel that we cannot use (garbage, too big, other version)."""


def snapshot_key(instance: str) -> str:
    """Hash device_id -> device JSON: everything `instance` has now."""
    return f"{KEY_PREFIX}:instance:{instance}:devices"


def alive_key(instance: str) -> str:
    """Exists (holding the boot id) while `instance` keeps beating; expires otherwise."""
    return f"{KEY_PREFIX}:instance:{instance}:alive"


def new_boot_id() -> str:
    return secrets.token_hex(8)


def instance_name(configured: str, hostname: str | None = None) -> str:
    """The `instance` setting, else the short host name (README: default host name)."""
    host = socket.gethostname() if hostname is None else hostname
    name = configured.strip() or host.split(".")[0].strip()
    return (name or DEFAULT_INSTANCE)[:MAX_INSTANCE_NAME_LEN]


def plural(n: int, word: str) -> str:
    """`1 device`, `2 devices`: log lines read as sentences."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def meter_entry(dev: Device) -> list[Any]:
    return [getattr(dev, key) for key in METER_ENTRY]


def encode(message: Message) -> bytes:
    return msgspec.json.encode(message)


def encode_device(dev: Device) -> bytes:
    return msgspec.json.encode(dev)


def decode(data: bytes) -> Message:
    if len(data) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        message = msgspec.json.decode(data, type=Message)
    except msgspec.DecodeError as exc:
        raise BadMessage(str(exc)) from None
    if message.v != VERSION:
        raise BadMessage(f"version {message.v}, we speak {VERSION}")
    if not message.instance or len(message.instance) > MAX_INSTANCE_NAME_LEN:
        raise BadMessage("no usable instance name")
    return message


def decode_device(data: bytes) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise BadMessage(str(exc)) from None
    if not isinstance(value, dict):
        raise BadMessage("device is not a JSON object")
    return value


def clean_device(raw: Mapping[str, Any], instance: str) -> Device | None:
    """A remote device with exactly the contract's fields, owned by `instance`; None if
    unusable (no id, or a field of the wrong type: a peer's word is checked, not trusted)."""
    device_id = raw.get("device_id")
    if not isinstance(device_id, str) or not 0 < len(device_id) <= MAX_DEVICE_ID_LEN:
        return None
    fields = {key: raw.get(key) for key in DEVICE_FIELDS}
    fields["instance"] = instance  # a peer speaks only for itself
    try:
        return msgspec.convert(fields, Device)
    except msgspec.ValidationError:
        return None


def with_meters(dev: Device, entry: list[Any]) -> Device | None:
    """`dev` with a meters entry applied; None if the entry has the wrong shape."""
    if len(entry) != len(METER_ENTRY):
        return None
    fields = msgspec.structs.asdict(dev) | dict(zip(METER_ENTRY, entry, strict=True))
    try:
        return msgspec.convert(fields, Device)
    except msgspec.ValidationError:
        return None
