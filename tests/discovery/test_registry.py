"""The registry: one record per device across sources, stable ids, silence, ignore list."""

from __future__ import annotations

from micboardd.discovery.registry import (
    SILENCE_S,
    Found,
    Heard,
    Moved,
    Registry,
    Returned,
    Sighting,
    Silent,
)
from micboardd.model import Family

CID = "DD47E0D7-0000-11DD-A000-000EDDCCCCCC"
CID_ID = CID.lower()


def slp(address: str, cid: str = CID, **kw: object) -> Sighting:
    return Sighting("slp", address, cid=cid, **kw)  # type: ignore[arg-type]


def test_first_sighting_is_found_with_the_cid_as_id() -> None:
    reg = Registry()
    record, events = reg.observe(slp("10.0.0.5", model="QLXD4", family=Family.QLXD), 0.0)
    assert record is not None
    assert [type(e) for e in events] == [Found]
    assert record.receiver_id == CID_ID
    assert (record.address, record.port, record.announced) == ("10.0.0.5", 2202, True)
    assert (record.model, record.family) == ("QLXD4", Family.QLXD)
    _, again = reg.observe(slp("10.0.0.5"), 2.0)
    assert again == []
    assert len(reg) == 1


def test_slp_and_mdns_merge_by_address_and_the_cid_becomes_the_id() -> None:
    reg = Registry()
    record, events = reg.observe(Sighting("mdns", "10.0.0.5", 2202, model="AD4Q"), 0.0)
    assert record is not None and record.receiver_id == "10.0.0.5"
    assert [type(e) for e in events] == [Found]
    merged, events = reg.observe(slp("10.0.0.5"), 1.0)
    assert merged is record and events == []
    assert record.receiver_id == CID_ID  # not pinned yet: the stronger id wins
    assert record.via == {"mdns", "slp"}
    assert reg.get("10.0.0.5") is None and reg.get(CID_ID) is record


def test_a_pinned_id_never_changes() -> None:
    reg = Registry()
    record, _ = reg.observe(Sighting("mdns", "10.0.0.5"), 0.0)
    assert record is not None
    reg.pin(record)
    reg.observe(slp("10.0.0.5"), 1.0)
    assert record.receiver_id == "10.0.0.5"
    assert record.cid == CID_ID
    # ...and the cid still finds it after a move, once the move is confirmed.
    claim, events = reg.observe(slp("10.0.0.9"), 2.0)
    assert claim is not None and claim.claim_of == "10.0.0.5"
    assert events == [Found(claim)] and record.address == "10.0.0.5"
    assert reg.follow(claim) == Moved("10.0.0.5", "10.0.0.5", "10.0.0.9", record)
    assert record.receiver_id == "10.0.0.5" and record.address == "10.0.0.9"
    assert reg.observe(slp("10.0.0.9"), 3.0) == (record, [Heard("10.0.0.5", "10.0.0.9")])


def test_a_claim_never_takes_the_place_of_a_handed_out_device() -> None:
    gone: list[str] = []
    reg = Registry()
    reg.on_delete = lambda r: gone.append(r.receiver_id)
    record, _ = reg.observe(slp("10.0.0.5", model="AD4Q"), 0.0)
    assert record is not None
    reg.pin(record)
    # Somebody else announces its cid (and another model) from 10.0.0.66, again and again.
    claim, events = reg.observe(slp("10.0.0.66", model="QLXD4", name="Evil"), 1.0)
    again, more = reg.observe(slp("10.0.0.66"), 2.0)
    assert claim is not None and again is claim and more == []
    assert [type(e) for e in events] == [Found]
    assert (claim.receiver_id, claim.claim_of, claim.cid) == ("10.0.0.66", CID_ID, None)
    assert (record.address, record.model, record.name) == ("10.0.0.5", "AD4Q", None)
    assert reg.claims(record) == [claim] and len(reg) == 2
    # The device itself is still heard where it is, and claims never fall "silent".
    assert reg.observe(slp("10.0.0.5"), 3.0) == (record, [Heard(CID_ID, "10.0.0.5")])
    assert reg.tick(2.0 + SILENCE_S) == []
    # Forgetting the device forgets what claims to be it.
    reg.forget(CID_ID)
    assert len(reg) == 0 and sorted(gone) == ["10.0.0.66", CID_ID]


def test_match_order_cid_serial_mac_then_address() -> None:
    reg = Registry()
    by_serial, _ = reg.observe(Sighting("system_api", "10.0.0.1", serial="S1"), 0.0)
    by_mac, _ = reg.observe(Sighting("mdns", "10.0.0.2", mac="00-0E-DD-01-02-03"), 0.0)
    assert by_serial is not None and by_mac is not None
    assert reg.observe(Sighting("mdns", "10.0.0.7", serial="s1"), 1.0)[0] is by_serial
    assert reg.observe(Sighting("slp", "10.0.0.8", mac="00:0e:dd:01:02:03"), 1.0)[0] is by_mac
    assert by_mac.mac == "00:0e:dd:01:02:03"


def test_address_change_follows_the_device() -> None:
    reg = Registry()
    record, _ = reg.observe(slp("10.0.0.5"), 0.0)
    assert record is not None
    moved_to, events = reg.observe(slp("10.0.0.77"), 5.0)
    assert moved_to is record
    assert events == [Moved(CID_ID, "10.0.0.5", "10.0.0.77", record)]
    assert record.receiver_id == CID_ID and record.address == "10.0.0.77"
    assert len(reg) == 1


def test_a_different_device_inheriting_an_address_is_a_new_record() -> None:
    reg = Registry()
    old, _ = reg.observe(slp("10.0.0.5"), 0.0)
    other = "DD000002-0000-11DD-A000-000EDDCCCCCC"
    new, events = reg.observe(slp("10.0.0.5", cid=other), 1.0)
    assert new is not old and new is not None
    assert [type(e) for e in events] == [Found]
    assert new.receiver_id == other.lower()
    assert len(reg) == 2


def test_silence_after_30_s_and_return_with_an_injected_clock() -> None:
    reg = Registry()
    record, _ = reg.observe(slp("10.0.0.5"), 100.0)
    assert record is not None
    assert reg.tick(100.0 + SILENCE_S - 0.1) == []
    assert record.announced
    assert reg.tick(100.0 + SILENCE_S) == [Silent(CID_ID)]
    assert not record.announced
    assert reg.tick(200.0) == []  # said once
    _, events = reg.observe(slp("10.0.0.5"), 201.0)
    assert events == [Returned(CID_ID)]
    assert record.announced


def test_only_slp_is_an_announcement_that_can_fall_silent() -> None:
    reg = Registry()
    for i, via in enumerate(("manual", "system_api", "mdns")):
        record, _ = reg.observe(Sighting(via, f"10.0.0.{i}"), 0.0)
        assert record is not None and not record.announced
    assert reg.tick(1000.0) == []


def test_add_known_pins_the_owners_id_and_discovery_merges_into_it() -> None:
    reg = Registry()
    known = reg.add_known("10.0.0.5", Sighting("manual", "10.0.0.5"), 0.0)
    assert known.pinned
    record, events = reg.observe(slp("10.0.0.5"), 1.0)
    # Seen where it is: news for its machine (a wake while it waits to retry), nothing more.
    assert record is known and events == [Heard("10.0.0.5", "10.0.0.5")]
    assert known.receiver_id == "10.0.0.5" and known.cid == CID_ID
    claim, events = reg.observe(slp("10.0.0.6"), 2.0)
    assert claim is not None and events == [Found(claim)]
    assert reg.follow(claim) == Moved("10.0.0.5", "10.0.0.5", "10.0.0.6", known)


def test_ignore_list_by_any_name() -> None:
    reg = Registry(ignored=["10.0.0.5"])
    record, events = reg.observe(slp("10.0.0.5"), 0.0)
    assert record is not None and record.ignored and events == []
    assert reg.tick(100.0) == []  # no Silent for an ignored device either

    reg2 = Registry()
    record2, _ = reg2.observe(slp("10.0.0.5"), 0.0)
    assert reg2.ignore(CID) == [CID_ID]  # case-insensitive
    assert record2 is not None and record2.ignored
    assert reg2.observe(slp("10.0.0.6"), 1.0)[1] == []  # not even a Moved
    assert reg2.unignore(CID) == [CID_ID]
    _, events = reg2.observe(slp("10.0.0.6"), 2.0)
    assert [type(e) for e in events] == [Found]  # found afresh
    assert reg2.ignored_keys == frozenset()


def test_memory_is_bounded_and_evicts_unannounced_unpinned_records() -> None:
    reg = Registry(max_records=3)
    for i in range(3):
        reg.observe(Sighting("manual", f"10.0.1.{i}"), float(i))
    record, events = reg.observe(Sighting("manual", "10.0.1.9"), 10.0)
    assert record is not None and [type(e) for e in events] == [Found]
    assert len(reg) == 3
    assert reg.get("10.0.1.0") is None  # the longest unseen went

    full = Registry(max_records=2)
    for i in range(2):
        full.observe(slp(f"10.0.2.{i}", cid=f"DD00000{i}-0000-11DD-A000-000EDDCCCCCC"), 0.0)
    record, events = full.observe(slp("10.0.2.9", cid="DD000009-0000-11DD-A000-000EDDCCCCCC"), 1.0)
    assert record is None and events == []  # all announcing: nothing to evict
    assert full.dropped == 1


def test_forget_removes_every_index() -> None:
    reg = Registry()
    reg.observe(slp("10.0.0.5"), 0.0)
    reg.forget(CID_ID)
    assert len(reg) == 0
    _, events = reg.observe(slp("10.0.0.5"), 1.0)
    assert [type(e) for e in events] == [Found]
