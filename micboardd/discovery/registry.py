"""One record per physical device across SLP, mDNS, the System API and manual entries (pure).

Every source reports `Sighting`s. A sighting belongs to the record that shares its ACN cid,
else its serial, else its MAC, else its address (unless that record is provably another
device). The record's `receiver_id` is fixed when it is created or, at the latest, when the
owner pins it (a confirmed candidate): the cid, lower-cased, when known, else the serial,
else the address. A device whose SLP announcements stop for `SILENCE_S` is marked
`announced=False` (`Silent`); that says nothing about whether it is online, which only its
session knows.

A new address is only a claim. Until a record is handed out (pinned) it simply follows the
latest sighting: nothing connects to it yet. A pinned record stays where it is: a sighting
of it at another address becomes a separate *claim* record (`claim_of` names the device it
claims to be), which the confirmer probes; only when the probe reads back the same identity
does `follow` move the device there (`Moved`, same id). Anybody can announce somebody
else's cid; nobody can thereby take its place.

No I/O and no clock of its own: callers pass `now` (monotonic seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from micboardd.discovery import SHURE_PORT
from micboardd.model import Family

# Shure receivers announce every ~2 s; micboard forgets one after 30 s of silence, which
# rides out a dropped packet or a busy switch without calling a live receiver silent.
SILENCE_S = 30.0
# A venue has a few hundred receivers at most; beyond this a (spoofed) flood of new devices
# replaces the longest-silent unpinned records instead of growing memory.
MAX_RECORDS = 2048

# Only SLP repeats itself (every ~2 s); mDNS answers once and then only on TTL refresh,
# so an mDNS sighting says nothing about whether a device is still announcing.
ANNOUNCING_SOURCES = frozenset({"slp"})


@dataclass(frozen=True, slots=True)
class Sighting:
    """What one source saw of a device at one moment."""

    via: str  # "slp", "mdns", "system_api", "manual"
    address: str
    port: int | None = None  # None: not said (SLP), the record keeps its port (2202)
    cid: str | None = None
    serial: str | None = None
    mac: str | None = None
    model: str | None = None
    family: Family | None = None
    channels: int | None = None
    name: str | None = None
    band: str | None = None

    @property
    def announces(self) -> bool:
        return self.via in ANNOUNCING_SOURCES


@dataclass(slots=True, eq=False)
class DeviceRecord:
    """The merged view of one device; compared and hashed by identity."""

    receiver_id: str
    address: str
    port: int
    cid: str | None = None
    serial: str | None = None
    mac: str | None = None
    model: str | None = None
    family: Family | None = None
    channels: int | None = None
    name: str | None = None
    band: str | None = None
    via: set[str] = field(default_factory=set)
    first_seen: float = 0.0
    last_seen: float = 0.0
    last_announced: float | None = None
    announced: bool = False
    pinned: bool = False  # the id was handed out; it never changes again
    ignored: bool = False
    claim_of: str | None = None  # an address claiming to be this (pinned) device

    def names(self) -> set[str]:
        """Everything this record can be named by (ignore lists match any of these)."""
        found = {self.receiver_id, self.address, f"{self.address}:{self.port}"}
        found.update(k for k in (self.cid, self.serial, self.mac) if k)
        return found


@dataclass(frozen=True, slots=True)
class Found:
    """A device not seen before (or seen again after being un-ignored).

    `record` is the live record: its id may still become stronger until it is pinned.
    """

    record: DeviceRecord


@dataclass(frozen=True, slots=True)
class Moved:
    """A known device now answers at another address (DHCP); its id stays."""

    receiver_id: str
    old_address: str
    new_address: str
    record: DeviceRecord


@dataclass(frozen=True, slots=True)
class Silent:
    """No announcement for `SILENCE_S`; its session alone decides online/offline."""

    receiver_id: str


@dataclass(frozen=True, slots=True)
class Returned:
    """A silent device announces itself again."""

    receiver_id: str


@dataclass(frozen=True, slots=True)
class Heard:
    """A device already handed out (pinned) was seen again where it was: SLP every ~2 s,
    mDNS when it answers. News for a receiver waiting to retry, nothing more."""

    receiver_id: str
    address: str


Event = Found | Moved | Silent | Returned | Heard


def _norm(value: str | None) -> str | None:
    text = value.strip().lower() if value else ""
    return text or None


def _mac(value: str | None) -> str | None:
    text = _norm(value)
    if text is None:
        return None
    digits = "".join(c for c in text if c in "0123456789abcdef")
    if len(digits) != 12:
        return text
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _strong_keys(cid: str | None, serial: str | None, mac: str | None) -> list[tuple[str, str]]:
    keys = [("cid", _norm(cid)), ("serial", _norm(serial)), ("mac", _mac(mac))]
    return [(kind, value) for kind, value in keys if value]


def receiver_id_for(cid: str | None, serial: str | None, address: str, port: int) -> str:
    """The stable id rule of ARCHITECTURE.md: ACN cid, else serial, else address."""
    if cid:
        return cid
    if serial:
        return serial
    return address if port == SHURE_PORT else f"{address}:{port}"


class Registry:
    """The merged view; `observe` a sighting, `tick` the clock, act on the returned events."""

    def __init__(
        self,
        ignored: Iterable[str] = (),
        *,
        silence_s: float = SILENCE_S,
        max_records: int = MAX_RECORDS,
    ) -> None:
        self.silence_s = silence_s
        self.max_records = max_records
        self.dropped = 0  # sightings of new devices refused because the registry was full
        self._records: dict[str, DeviceRecord] = {}
        self._strong: dict[tuple[str, str], DeviceRecord] = {}  # ("cid", value) -> record
        self._at: dict[str, list[DeviceRecord]] = {}  # address -> records
        self._ignored: set[str] = {k.strip().lower() for k in ignored if k.strip()}
        # Told of every record that goes (forgotten, evicted, followed): what others keep
        # about a record (its probe, its rejection) goes with it.
        self.on_delete: Callable[[DeviceRecord], None] | None = None

    # --- lookup ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> list[DeviceRecord]:
        return list(self._records.values())

    def get(self, receiver_id: str) -> DeviceRecord | None:
        return self._records.get(receiver_id)

    def match(self, sighting: Sighting) -> DeviceRecord | None:
        """The record this sighting belongs to: cid, serial, MAC, then address."""
        strong = _strong_keys(sighting.cid, sighting.serial, sighting.mac)
        for key in strong:
            found = self._strong.get(key)
            if found is not None:
                return found
        for record in self._at.get(sighting.address, ()):
            # The same address with a different strong identity is another device that
            # inherited the address (DHCP); it gets its own record.
            mine = dict(_strong_keys(record.cid, record.serial, record.mac))
            if any(kind in mine and mine[kind] != value for kind, value in strong):
                continue
            return record
        return None

    # --- indexes -------------------------------------------------------------------------

    def _index(self, record: DeviceRecord) -> None:
        for key in _strong_keys(record.cid, record.serial, record.mac):
            self._strong.setdefault(key, record)
        here = self._at.setdefault(record.address, [])
        if record not in here:
            here.append(record)

    def _unindex_address(self, record: DeviceRecord, address: str) -> None:
        here = self._at.get(address, [])
        if record in here:
            here.remove(record)
        if not here:
            self._at.pop(address, None)

    def _delete(self, record: DeviceRecord) -> None:
        if self._records.get(record.receiver_id) is record:
            del self._records[record.receiver_id]
        for key in _strong_keys(record.cid, record.serial, record.mac):
            if self._strong.get(key) is record:
                del self._strong[key]
        self._unindex_address(record, record.address)
        if record.claim_of is None:
            for claim in self.claims(record):  # nothing left to claim to be
                self._delete(claim)
        if self.on_delete is not None:
            self.on_delete(record)

    # --- ignore list ---------------------------------------------------------------------

    def is_ignored(self, record: DeviceRecord) -> bool:
        return bool({k.lower() for k in record.names()} & self._ignored)

    def ignore(self, key: str) -> list[str]:
        """Ignore a device by id, cid, serial, MAC or address; returns the ids it matched."""
        self._ignored.add(key.strip().lower())
        hit = []
        for record in self._records.values():
            if self.is_ignored(record):
                record.ignored = True
                hit.append(record.receiver_id)
        return hit

    def unignore(self, key: str) -> list[str]:
        """Stop ignoring; the next sighting of a matching device is `Found` again."""
        self._ignored.discard(key.strip().lower())
        back = [r for r in self._records.values() if r.ignored and not self.is_ignored(r)]
        for record in back:
            self._delete(record)  # forgotten: found afresh when next seen
        return [r.receiver_id for r in back]

    @property
    def ignored_keys(self) -> frozenset[str]:
        return frozenset(self._ignored)

    # --- updates --------------------------------------------------------------------------

    def pin(self, record: DeviceRecord) -> None:
        """The id was handed out (a confirmed candidate): it must never change again."""
        record.pinned = True

    def observe(self, sighting: Sighting, now: float) -> tuple[DeviceRecord | None, list[Event]]:
        """Merge one sighting: the record it landed in (None if refused) and what changed.

        A sighting of a pinned device at another address lands in that address's claim
        record (made if needed), never in the device's own.
        """
        record = self.match(sighting)
        if record is None:
            return self._create(sighting, now)
        if record.pinned and record.address != sighting.address:
            return self._claim(record, sighting, now)
        events: list[Event] = []
        old_address = record.address
        self._merge(record, sighting, now)
        if sighting.announces:
            was_silent = record.last_announced is not None and not record.announced
            record.last_announced, record.announced = now, True
            if was_silent and not record.ignored and record.claim_of is None:
                events.append(Returned(record.receiver_id))
        if record.ignored:
            return record, []
        if record.address != old_address:
            events.append(Moved(record.receiver_id, old_address, record.address, record))
        elif record.pinned:
            events.append(Heard(record.receiver_id, record.address))
        return record, events

    def claims(self, record: DeviceRecord) -> list[DeviceRecord]:
        """The claim records of a device: other addresses announcing its identity."""
        return [r for r in self._records.values() if r.claim_of == record.receiver_id]

    def _claim(
        self, owner: DeviceRecord, sighting: Sighting, now: float
    ) -> tuple[DeviceRecord | None, list[Event]]:
        claim = next(
            (r for r in self._at.get(sighting.address, ()) if r.claim_of == owner.receiver_id),
            None,
        )
        events: list[Event] = []
        if claim is None:
            if len(self._records) >= self.max_records and not self._evict():
                self.dropped += 1
                return None, []
            port = sighting.port or SHURE_PORT
            receiver_id = receiver_id_for(None, None, sighting.address, port)
            if receiver_id in self._records:
                receiver_id = f"{receiver_id}#{owner.receiver_id}"
            claim = DeviceRecord(
                receiver_id, sighting.address, port, first_seen=now, claim_of=owner.receiver_id
            )
            self._records[receiver_id] = claim
            events.append(Found(claim))
        # Only what describes it; the strong keys are the owner's and stay indexed to it.
        descriptive = Sighting(
            sighting.via,
            sighting.address,
            sighting.port,
            model=sighting.model,
            family=sighting.family,
            channels=sighting.channels,
            name=sighting.name,
            band=sighting.band,
        )
        self._merge(claim, descriptive, now)
        if sighting.announces:
            claim.last_announced, claim.announced = now, True
        claim.ignored = owner.ignored or claim.ignored
        return claim, [] if claim.ignored else events

    def follow(self, claim: DeviceRecord) -> Moved | None:
        """A probe read the claimed identity at the claim's address: the device moves there
        (keeping its id) and the claim record goes. None if the device was forgotten."""
        owner = self._records.get(claim.claim_of or "")
        self._delete(claim)
        if owner is None:
            return None
        old = owner.address
        self._unindex_address(owner, old)
        owner.address, owner.port = claim.address, claim.port
        owner.via |= claim.via
        if claim.last_announced is not None:
            owner.last_announced, owner.announced = claim.last_announced, claim.announced
        owner.last_seen = max(owner.last_seen, claim.last_seen)
        self._index(owner)
        return Moved(owner.receiver_id, old, owner.address, owner)

    def _create(self, sighting: Sighting, now: float) -> tuple[DeviceRecord | None, list[Event]]:
        if len(self._records) >= self.max_records and not self._evict():
            self.dropped += 1
            return None, []
        port = sighting.port or SHURE_PORT
        receiver_id = receiver_id_for(
            _norm(sighting.cid), _norm(sighting.serial), sighting.address, port
        )
        if receiver_id in self._records:  # an address-named record of another device
            receiver_id = f"{receiver_id}#{now:.0f}"
        record = DeviceRecord(receiver_id, sighting.address, port, first_seen=now)
        self._records[receiver_id] = record
        self._merge(record, sighting, now)
        if sighting.announces:
            record.last_announced, record.announced = now, True
        if record.ignored:
            return record, []
        return record, [Found(record)]

    def _merge(self, record: DeviceRecord, sighting: Sighting, now: float) -> None:
        record.via.add(sighting.via)
        record.last_seen = now
        if record.address != sighting.address:
            self._unindex_address(record, record.address)
            record.address = sighting.address
        if sighting.port:
            record.port = sighting.port
        record.cid = record.cid or _norm(sighting.cid)
        record.serial = record.serial or _norm(sighting.serial)
        record.mac = record.mac or _mac(sighting.mac)
        for attr in ("model", "family", "channels", "name", "band"):
            value = getattr(sighting, attr)
            if value is not None:
                setattr(record, attr, value)
        self._index(record)
        if not record.pinned:
            better = receiver_id_for(record.cid, record.serial, record.address, record.port)
            if better != record.receiver_id and better not in self._records:
                # Not handed out yet: take the stronger id (an mDNS sighting learned its cid).
                del self._records[record.receiver_id]
                record.receiver_id = better
                self._records[better] = record
        if self.is_ignored(record):
            record.ignored = True

    def _evict(self) -> bool:
        victims = [r for r in self._records.values() if not r.pinned and not r.announced]
        if not victims:
            return False
        self._delete(min(victims, key=lambda r: r.last_seen))
        return True

    def add_known(self, receiver_id: str, sighting: Sighting, now: float) -> DeviceRecord:
        """Register a device its owner already monitors under `receiver_id` (pinned)."""
        record = self.match(sighting)
        if record is None:
            port = sighting.port or SHURE_PORT
            record = DeviceRecord(receiver_id, sighting.address, port, first_seen=now)
            self._records[receiver_id] = record
        elif record.receiver_id != receiver_id:
            claims = self.claims(record)
            del self._records[record.receiver_id]
            record.receiver_id = receiver_id
            self._records[receiver_id] = record
            for claim in claims:
                claim.claim_of = receiver_id
        record.pinned = True
        record.claim_of = None  # the owner monitors it here: its own device, no claim
        self._merge(record, sighting, now)
        return record

    def forget(self, receiver_id: str) -> None:
        record = self._records.get(receiver_id)
        if record is not None:
            self._delete(record)

    def tick(self, now: float) -> list[Event]:
        """Mark devices silent after `silence_s` without an announcement."""
        events: list[Event] = []
        for record in self._records.values():
            if (
                record.announced
                and record.last_announced is not None
                and now - record.last_announced >= self.silence_s
            ):
                record.announced = False
                if not record.ignored and record.claim_of is None:
                    events.append(Silent(record.receiver_id))
        return events
