"""Micboard `config.json` -> micboardd receivers, performer names and groups.

Micboard (karlcswanson/micboard) keeps one "slot" per microphone channel:
`{"slot": 3, "type": "ulxd", "ip": "192.168.1.20", "channel": 2, "extended_id": "H03",
"extended_name": "Dave"}`, and groups as `{"group": 1, "title": "Band", "slots": [3, 0, 4]}`
where 0 is a blank tile. A slot of type "offline" is a tile for gear with no network: it
becomes placeholder N for slot N (placeholders.py), its extended id the label, its extended
name the name. `convert()` turns that into a `Plan` without touching anything (so
`--dry-run` and the tests see exactly what would be written); `write()` applies a plan to the
store in one transaction. Every slot or group entry that cannot be used is reported with the
reason, never dropped silently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from micboardd.config import SHURE_PORT, ReceiverAddress, parse_receiver
from micboardd.model import Family, make_device_id, split_device_id
from micboardd.sources.store import ReceiverRows, imported_receiver_sql
from micboardd.state.store import group_rows, upsert_group_sql
from micboardd.store.database import Store, performer_sql
from micboardd.tiles.placeholders import LABEL_MAX, device_id_of
from micboardd.tiles.store import PlaceholderRow, placeholder_rows, upsert_placeholder_sql

# Micboard's receiver types, our family, and the most channels that family's largest model has
# (UR4D, QLXD4, ULXD4Q, AD4Q, P10T): a larger channel number is a typo in the file.
MICBOARD_TYPES: Mapping[str, tuple[Family, int]] = {
    "uhfr": (Family.UHFR, 2),
    "qlxd": (Family.QLXD, 1),
    "ulxd": (Family.ULXD, 4),
    "axtd": (Family.AXIENT, 4),
    "p10t": (Family.PSM1000, 2),
}
OFFLINE_TYPE = "offline"  # Micboard's placeholder slot: a name on the board, no receiver
# Same bounds as the REST API and the group store (micboardd/web/api.py, micboardd/state/groups.py).
PERFORMER_MAX = 64
GROUP_TITLE_MAX = 40
GROUP_SLOTS_MAX = 256


class MicboardFormatError(ValueError):
    """The file is not a Micboard config.json at all (as opposed to a few bad entries)."""


@dataclass(frozen=True, slots=True)
class ImportedReceiver:
    id: str
    address: str
    port: int
    family: Family


@dataclass(frozen=True, slots=True)
class ImportedChannel:
    slot: int
    device_id: str
    receiver_id: str
    channel: int
    performer: str | None


@dataclass(frozen=True, slots=True)
class ImportedPlaceholder:
    slot: int  # also its placeholder id: importing twice gives the same placeholders
    label: str
    name: str

    @property
    def device_id(self) -> str:
        return device_id_of(self.slot)


@dataclass(frozen=True, slots=True)
class ImportedGroup:
    id: int
    title: str
    position: int
    slots: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class Skipped:
    what: str  # "slot 7", "group 3"
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    receivers: tuple[ImportedReceiver, ...] = ()
    channels: tuple[ImportedChannel, ...] = ()
    placeholders: tuple[ImportedPlaceholder, ...] = ()
    groups: tuple[ImportedGroup, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def performers(self) -> tuple[ImportedChannel, ...]:
        return tuple(c for c in self.channels if c.performer)


@dataclass(slots=True)
class WriteResult:
    receivers_new: list[str] = field(default_factory=list)
    receivers_known: list[str] = field(default_factory=list)
    performers: int = 0
    placeholders_new: int = 0
    placeholders_replaced: int = 0
    groups_new: int = 0
    groups_replaced: int = 0


# --- reading ---


def load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")  # files saved on Windows may carry a BOM
    except OSError as exc:
        raise MicboardFormatError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise MicboardFormatError(f"{path} is not UTF-8 text") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MicboardFormatError(
            f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from exc


# --- conversion (pure) ---


def _int(value: Any) -> int | None:
    """Micboard writes numbers, but hand-edited files have "3": accept digits, reject bools."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def performer_name(extended_id: str, extended_name: str) -> str | None:
    """Micboard shows the extended id ("BP14") beside the extended name ("Dave"): keep both."""
    name = " ".join(part for part in (extended_id, extended_name) if part)
    return name[:PERFORMER_MAX] or None


class _Converter:
    def __init__(self) -> None:
        self.receivers: dict[str, ImportedReceiver] = {}
        self.channels: list[ImportedChannel] = []
        self.placeholders: list[ImportedPlaceholder] = []
        self.slot_devices: dict[int, str] = {}  # Micboard slot number -> device id
        self.seen_slots: set[int] = set()
        self.skipped: list[Skipped] = []
        self.notes: list[str] = []

    def skip(self, what: str, reason: str) -> None:
        self.skipped.append(Skipped(what, reason))

    def slot(self, index: int, entry: Any) -> None:
        if not isinstance(entry, dict):
            self.skip(f"slots[{index}]", "not an object")
            return
        number = _int(entry.get("slot"))
        what = f"slot {number}" if number is not None else f"slots[{index}]"
        if number is None or number < 1:
            self.skip(what, "no slot number")
            return
        if number in self.seen_slots:
            self.skip(what, "slot number used twice; kept the first")
            return
        self.seen_slots.add(number)
        kind = _text(entry.get("type")).lower()
        if kind == OFFLINE_TYPE:
            self.placeholder(number, entry)
            return
        if kind not in MICBOARD_TYPES:
            shown = kind or "(none)"
            known = ", ".join([*MICBOARD_TYPES, OFFLINE_TYPE])
            self.skip(what, f"unknown receiver type {shown!r} (known: {known})")
            return
        family, max_channels = MICBOARD_TYPES[kind]
        ip = _text(entry.get("ip"))
        if not ip:
            self.skip(what, "no ip address")
            return
        try:
            address = parse_receiver(ip)
        except ValueError as exc:
            self.skip(what, f"ip {ip!r}: {exc}")
            return
        channel = _int(entry.get("channel"))
        if channel is None or not 1 <= channel <= max_channels:
            self.skip(what, f"channel {entry.get('channel')!r} is not 1..{max_channels} for {kind}")
            return
        receiver = self._receiver(what, address, family, kind)
        if receiver is None:
            return
        device_id = make_device_id(receiver.id, channel)
        twin = next((c for c in self.channels if c.device_id == device_id), None)
        if twin is not None:
            # Same receiver channel in two slots: groups may name either slot number.
            self.slot_devices[number] = device_id
            self.skip(what, f"same receiver channel as slot {twin.slot} ({device_id}); merged")
            return
        performer = performer_name(
            _text(entry.get("extended_id")), _text(entry.get("extended_name"))
        )
        self.channels.append(ImportedChannel(number, device_id, receiver.id, channel, performer))
        self.slot_devices[number] = device_id

    def placeholder(self, number: int, entry: dict[str, Any]) -> None:
        label = _text(entry.get("extended_id"))
        name = _text(entry.get("extended_name"))
        if len(label) > LABEL_MAX:
            self.notes.append(f"slot {number}: ID {label!r} shortened to {LABEL_MAX} characters")
            label = label[:LABEL_MAX]
        name = name[:PERFORMER_MAX]
        if not label and not name:
            label = f"Slot {number}"  # a placeholder needs something to show
        placeholder = ImportedPlaceholder(number, label, name)
        self.placeholders.append(placeholder)
        self.slot_devices[number] = placeholder.device_id

    def _receiver(
        self, what: str, address: ReceiverAddress, family: Family, kind: str
    ) -> ImportedReceiver | None:
        # Until a receiver reports its ACN id or serial, its address is its id (ARCHITECTURE.md).
        receiver_id = str(address)
        known = self.receivers.get(receiver_id)
        if known is None:
            known = ImportedReceiver(receiver_id, address.host, address.port, family)
            self.receivers[receiver_id] = known
        elif known.family is not family:
            self.skip(
                what, f"{receiver_id} is a {known.family.value} in an earlier slot, not {kind}"
            )
            return None
        return known

    def group(self, index: int, entry: Any, position: int) -> ImportedGroup | None:
        number = _int(entry.get("group")) if isinstance(entry, dict) else None
        what = f"group {number}" if number is not None else f"groups[{index}]"
        if not isinstance(entry, dict) or number is None or number < 1:
            self.skip(what, "no group number")
            return None
        raw_slots = entry.get("slots")
        if not isinstance(raw_slots, list):
            raw_slots = []
            self.notes.append(f"{what}: no slot list; imported empty")
        title = _text(entry.get("title")) or f"Group {number}"
        if len(title) > GROUP_TITLE_MAX:
            self.notes.append(f"{what}: title shortened to {GROUP_TITLE_MAX} characters")
            title = title[:GROUP_TITLE_MAX]
        if len(raw_slots) > GROUP_SLOTS_MAX:
            self.notes.append(f"{what}: only the first {GROUP_SLOTS_MAX} tiles kept")
            raw_slots = raw_slots[:GROUP_SLOTS_MAX]
        slots: list[str | None] = []
        for tile in raw_slots:
            slot = _int(tile)
            if slot == 0:  # Micboard's BLANK tile
                slots.append(None)
            elif slot is not None and slot in self.slot_devices:
                slots.append(self.slot_devices[slot])
            else:
                slots.append(None)
                self.notes.append(
                    f"{what} {title!r}: tile {tile!r} is no imported slot; left blank"
                )
        return ImportedGroup(number, title, position, tuple(slots))


def convert(data: Any) -> Plan:
    """A Micboard config (parsed JSON) -> what to import, what was skipped and why."""
    if not isinstance(data, dict) or not isinstance(data.get("slots", None), list):
        raise MicboardFormatError('no "slots" list: not a Micboard config.json')
    conv = _Converter()
    for index, entry in enumerate(data["slots"]):
        conv.slot(index, entry)

    groups: list[ImportedGroup] = []
    raw_groups = data.get("groups", [])
    if not isinstance(raw_groups, list):
        conv.skip("groups", "not a list")
        raw_groups = []
    # Micboard's group number is what its keyboard shortcuts use: keep it as our group id and
    # order groups by it.
    numbered = sorted(
        enumerate(raw_groups),
        key=lambda pair: (_int(pair[1].get("group")) if isinstance(pair[1], dict) else None) or 0,
    )
    seen: set[int] = set()
    for index, entry in numbered:
        group = conv.group(index, entry, len(groups))
        if group is None:
            continue
        if group.id in seen:
            conv.skip(f"group {group.id}", "group number used twice; kept the first")
            continue
        seen.add(group.id)
        groups.append(group)

    ignored = sorted(k for k in data if k not in {"slots", "groups"})
    if ignored:
        conv.notes.append("Micboard settings not imported: " + ", ".join(ignored))
    return Plan(
        receivers=tuple(conv.receivers.values()),
        channels=tuple(conv.channels),
        placeholders=tuple(conv.placeholders),
        groups=tuple(groups),
        skipped=tuple(conv.skipped),
        notes=tuple(conv.notes),
    )


def remap_receivers(plan: Plan, ids: Mapping[str, str]) -> Plan:
    """Use existing receiver ids (e.g. a serial learned earlier) instead of addresses."""
    if not ids:
        return plan

    def dev(device_id: str) -> str:
        receiver_id, channel = split_device_id(device_id)
        return make_device_id(ids.get(receiver_id, receiver_id), channel)

    return replace(
        plan,
        receivers=tuple(replace(r, id=ids.get(r.id, r.id)) for r in plan.receivers),
        channels=tuple(
            replace(
                c, receiver_id=ids.get(c.receiver_id, c.receiver_id), device_id=dev(c.device_id)
            )
            for c in plan.channels
        ),
        groups=tuple(
            replace(g, slots=tuple(None if s is None else dev(s) for s in g.slots))
            for g in plan.groups
        ),
    )


# --- writing ---


async def write(store: Store, plan: Plan, now: float | None = None) -> tuple[Plan, WriteResult]:
    """Apply `plan` in one transaction; returns the plan as written (ids remapped) and counts.

    Receivers already in the store (same address and port) keep their id and row; an ignored
    one is monitored again, since importing it says so. Performer names overwrite; a slot
    without a name leaves an existing name alone. Groups replace the group with the same number,
    placeholders the placeholder with the same number (Micboard's slot number).
    """
    now = time.time() if now is None else now
    rows = await ReceiverRows(store).addresses()
    by_address = {(r["address"], int(r["port"])): str(r["id"]) for r in rows}
    ids = {
        r.id: by_address[(r.address, r.port)]
        for r in plan.receivers
        if (r.address, r.port) in by_address and by_address[(r.address, r.port)] != r.id
    }
    plan = remap_receivers(plan, ids)
    existing_ids = {str(r["id"]) for r in rows}
    group_ids = {int(r["id"]) for r in await group_rows(store)}
    placeholder_ids = {row.id for row in await placeholder_rows(store)}

    result = WriteResult()
    statements: list[tuple[str, tuple[Any, ...]]] = []
    for rx in plan.receivers:
        (result.receivers_known if rx.id in existing_ids else result.receivers_new).append(rx.id)
        statements.append(
            imported_receiver_sql(rx.id, ReceiverAddress(rx.address, rx.port), rx.family.value, now)
        )
    for ch in plan.performers:
        result.performers += 1
        statements.append(
            performer_sql(ch.device_id, ch.receiver_id, ch.channel, ch.performer, now)
        )
    for ph in plan.placeholders:
        if ph.slot in placeholder_ids:
            result.placeholders_replaced += 1
        else:
            result.placeholders_new += 1
        statements.append(
            upsert_placeholder_sql(PlaceholderRow(ph.slot, ph.label, ph.name, ""), now)
        )
    for group in plan.groups:
        if group.id in group_ids:
            result.groups_replaced += 1
        else:
            result.groups_new += 1
        statements.append(upsert_group_sql(group.id, group.title, group.position, group.slots))
    await store.transaction(statements)
    return plan, result


# --- report ---


def report(plan: Plan, result: WriteResult | None) -> list[str]:
    """Lines for the operator; `result` None means a dry run."""
    verb = "would import" if result is None else "imported"
    lines: list[str] = []
    if result is None:
        lines.append(f"receivers: {verb} {len(plan.receivers)}")
    else:
        known = f", {len(result.receivers_known)} already known" if result.receivers_known else ""
        lines.append(f"receivers: {len(result.receivers_new)} new{known}")
    for rx in plan.receivers:
        port = "" if rx.port == SHURE_PORT else f" port {rx.port}"
        lines.append(f"  {rx.id}  {rx.family.value}  {rx.address}{port}")
    lines.append(f"performer names: {verb} {len(plan.performers)}")
    for ch in plan.performers:
        lines.append(f"  {ch.device_id}  {ch.performer}  (slot {ch.slot})")
    if result is None:
        lines.append(f"placeholders (offline slots): {verb} {len(plan.placeholders)}")
    else:
        lines.append(
            f"placeholders (offline slots): {result.placeholders_new} new, "
            f"{result.placeholders_replaced} replaced"
        )
    for ph in plan.placeholders:
        shown = " ".join(part for part in (ph.label, ph.name) if part)
        lines.append(f"  {ph.device_id}  {shown}  (slot {ph.slot})")
    if result is None:
        lines.append(f"groups: {verb} {len(plan.groups)}")
    else:
        lines.append(f"groups: {result.groups_new} new, {result.groups_replaced} replaced")
    for g in plan.groups:
        blanks = sum(1 for s in g.slots if s is None)
        lines.append(f"  {g.id}  {g.title!r}  {len(g.slots)} tiles ({blanks} blank)")
    if plan.skipped:
        lines.append(f"skipped: {len(plan.skipped)}")
        lines.extend(f"  {s.what}: {s.reason}" for s in plan.skipped)
    if plan.notes:
        lines.append("notes:")
        lines.extend(f"  {n}" for n in plan.notes)
    return lines
