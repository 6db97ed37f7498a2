"""`Discovery` without the network: sightings in, probes faked, candidates out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest

from micboardd.discovery import Candidate
from micboardd.discovery.addresses import Interface
from micboardd.discovery.confirm import (
    IDENTIFY_GRACE_S,
    MAX_REJECTIONS,
    REJECT_RETRY_S,
    SSCV2_OTHER,
    SSCV2_REASONS,
    merge_identity,
    protocol_reason,
    sscv2_reason,
)
from micboardd.discovery.mdns import MdnsService
from micboardd.discovery.registry import Event, Moved, Sighting
from micboardd.discovery.service import Discovery
from micboardd.discovery.slp_parse import parse_slp
from micboardd.errors import ConnectionFailed, ProtocolError
from micboardd.model import Family
from micboardd.sennheiser.errors import (
    BadDatagram,
    CertificateChanged,
    NotSscv2,
    PasswordMissing,
    PasswordRefused,
    Sscv2Unavailable,
)
from micboardd.shure.probe import ProbeResult

from ..helpers import async_wait_for
from .test_slp_parse import QLXD4_PACKET

CID = "dd47e0d7-0000-11dd-a000-000eddcccccc"
AD4Q = ProbeResult(Family.AXIENT, "AD4Q-A", 4, "tcp", "Stage L", "1.1.43.0")
# The rig's host: loopback, and a venue network 10.0.0.0/16 on eth0.
LO = Interface("lo", 1, "127.0.0.1", 8)
ETH = Interface("eth0", 2, "10.0.0.1", 16)


class FakeProber:
    def __init__(self) -> None:
        self.answers: dict[str, ProbeResult | Exception] = {}
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> ProbeResult:
        self.calls.append(f"{host}:{port}")
        await asyncio.sleep(0)
        answer = self.answers.get(host, ConnectionFailed(f"{host}:{port}: refused"))
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    def __init__(self, on_candidate: Callable[[Candidate], object] | None = None) -> None:
        self.prober = FakeProber()
        self.clock = Clock()
        self.candidates: list[Candidate] = []
        self.events: list[Event] = []
        self.discovery = Discovery(
            (),
            on_candidate or self._collect,  # type: ignore[arg-type]
            http_port=None,
            advertise=False,
            on_event=self.events.append,
            slp=False,
            mdns=False,
            prober=self.prober,
            clock=self.clock,
            list_interfaces=lambda: [LO, ETH],
        )

    async def _collect(self, candidate: Candidate) -> None:
        self.candidates.append(candidate)

    async def reported(self, count: int) -> list[Candidate]:
        await async_wait_for(lambda: len(self.candidates) >= count, 5, f"{count} candidates")
        return self.candidates

    async def settle(self) -> None:
        """Let every probe task finish."""
        await asyncio.gather(*self.discovery.confirmer._probes)


RigFactory = Callable[..., Rig]


@pytest.fixture
async def rig() -> AsyncIterator[RigFactory]:
    made: list[Rig] = []

    def factory(on_candidate: Callable[[Candidate], object] | None = None) -> Rig:
        made.append(Rig(on_candidate))
        return made[-1]

    yield factory
    for r in made:
        await r.discovery.stop()


async def test_an_announced_receiver_is_probed_then_reported(rig: RigFactory) -> None:
    r = rig()
    await r.discovery.start()
    r.prober.answers["10.0.0.20"] = ProbeResult(Family.QLXD, "QLXD4", 1, "tcp", "QLXD4", "2.1.5")
    # The real capture names a link-local SDT endpoint; the packet's source is what counts.
    r.discovery.handle_announcement(parse_slp(QLXD4_PACKET, "10.0.0.20", ETH.index))
    r.discovery.handle_announcement(parse_slp(QLXD4_PACKET, "10.0.0.20", ETH.index))
    (c,) = await r.reported(1)
    assert c == Candidate(
        receiver_id=CID,
        address="10.0.0.20",
        port=2202,
        family=Family.QLXD,
        model="QLXD4",
        channels=1,
        via=frozenset({"slp", "probe"}),
        cid=CID,
        serial=None,
        name="QLXD4",
        mac="00:0e:dd:47:e0:d7",
        band="K51",
        firmware="2.1.5",
    )
    await r.settle()
    assert r.prober.calls == ["10.0.0.20:2202"]  # once, though announced twice
    assert r.discovery.stats.candidates == 1
    json.dumps(r.discovery.health())


async def test_a_host_that_is_no_receiver_is_rejected_and_not_retried_in_a_loop(
    rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    r = rig()
    await r.discovery.start()
    r.prober.answers["10.0.0.9"] = ProtocolError("answered b'HTTP/1.1 400'")
    for _ in range(5):
        r.discovery.observe(Sighting("slp", "10.0.0.9", cid=CID))
        await r.settle()
    assert r.prober.calls == ["10.0.0.9:2202"]
    rejection = r.discovery.rejected[CID]
    assert rejection.reason.startswith("not a supported Shure receiver")
    assert rejection.retry_in_s == REJECT_RETRY_S
    assert r.candidates == []
    assert caplog.text.count("announced itself but was rejected") == 1

    r.clock.now += REJECT_RETRY_S  # due again: probed once more, and the delay doubles
    r.discovery.observe(Sighting("slp", "10.0.0.9", cid=CID))
    await r.settle()
    assert len(r.prober.calls) == 2
    assert r.discovery.rejected[CID].retry_in_s == 2 * REJECT_RETRY_S
    assert r.discovery.stats.rejected == 2
    assert r.discovery.health()["rejections"][0]["attempts"] == 2

    r.prober.answers["10.0.0.9"] = AD4Q  # it was a receiver still booting
    r.clock.now += 2 * REJECT_RETRY_S
    r.discovery.observe(Sighting("slp", "10.0.0.9", cid=CID))
    (c,) = await r.reported(1)
    assert c.model == "AD4Q-A" and CID not in r.discovery.rejected


async def test_nothing_listening_is_a_rejection_too(rig: RigFactory) -> None:
    r = rig()
    await r.discovery.start()
    r.discovery.observe(Sighting("slp", "10.0.0.9", cid=CID))
    await r.settle()
    assert r.discovery.rejected[CID].reason.startswith("no receiver answers on port 2202")


async def test_one_host_announcing_many_cids_is_probed_once(rig: RigFactory) -> None:
    r = rig()
    await r.discovery.start()
    for i in range(20):
        r.discovery.observe(
            Sighting("slp", "10.0.0.9", cid=f"dd0000{i:02d}-0000-11dd-a000-000eddcccccc")
        )
        await r.settle()
    assert r.prober.calls == ["10.0.0.9:2202"]


async def test_a_moved_receiver_is_reprobed_and_keeps_its_id(rig: RigFactory) -> None:
    r = rig()
    await r.discovery.start()
    r.prober.answers["10.0.0.5"] = AD4Q
    r.prober.answers["10.0.0.6"] = AD4Q
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    await r.reported(1)
    r.discovery.observe(Sighting("slp", "10.0.0.6", cid=CID))
    first, second = await r.reported(2)
    assert (first.receiver_id, first.address) == (CID, "10.0.0.5")
    assert (second.receiver_id, second.address) == (CID, "10.0.0.6")
    assert next(e for e in r.events if isinstance(e, Moved)).new_address == "10.0.0.6"
    assert r.discovery.candidates[CID].address == "10.0.0.6"
    assert [rec.address for rec in r.discovery.registry.records()] == ["10.0.0.6"]


async def test_a_spoofed_move_is_not_followed_and_the_receiver_stays(
    rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    r = rig()
    await r.discovery.start()
    r.prober.answers["10.0.0.5"] = AD4Q
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    await r.reported(1)
    # Another box announces the receiver's cid and answers like an AD4Q, but not this one.
    impostor = ProbeResult(Family.AXIENT, "AD4Q-A", 4, "tcp", "EVIL\x1bNAME", "9.9.9")
    r.prober.answers["10.0.0.66"] = impostor
    for _ in range(3):
        r.discovery.observe(Sighting("slp", "10.0.0.66", cid=CID))
        await r.settle()
    assert len(r.candidates) == 1 and r.discovery.candidates[CID].address == "10.0.0.5"
    assert not any(isinstance(e, Moved) for e in r.events)
    assert r.prober.calls == ["10.0.0.5:2202", "10.0.0.66:2202"]  # once: it backs off
    rejection = r.discovery.rejected["10.0.0.66"]
    assert rejection.address == "10.0.0.66"
    assert rejection.reason.startswith(f"announces the identity of {CID} (known at 10.0.0.5)")
    assert "(name, firmware differ)" in rejection.reason
    assert "EVIL" not in caplog.text and "9.9.9" not in rejection.reason
    # The real receiver keeps announcing where it is: nothing changes for it.
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    await r.settle()
    assert r.discovery.registry.get(CID) is not None
    assert r.discovery.registry.get(CID).address == "10.0.0.5"  # type: ignore[union-attr]


async def test_known_receivers_are_followed_only_to_a_box_that_answers_the_same(
    rig: RigFactory,
) -> None:
    r = rig()
    await r.discovery.start()
    r.discovery.add_known("10.0.0.5", "10.0.0.5", identity=AD4Q)
    r.prober.answers["10.0.0.5"] = AD4Q
    r.prober.answers["10.0.0.7"] = AD4Q
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    await r.settle()
    assert r.candidates == [] and r.prober.calls == []
    r.discovery.observe(Sighting("slp", "10.0.0.7", cid=CID))
    (c,) = await r.reported(1)
    assert (c.receiver_id, c.address) == ("10.0.0.5", "10.0.0.7")
    assert c.via == frozenset({"manual", "slp", "probe"})


async def test_a_move_waits_until_the_receivers_own_answers_are_known(rig: RigFactory) -> None:
    r = rig()
    await r.discovery.start()
    r.discovery.add_known("10.0.0.5", "10.0.0.5")  # never reached yet: identity unknown
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    r.prober.answers["10.0.0.7"] = AD4Q
    r.discovery.observe(Sighting("slp", "10.0.0.7", cid=CID))
    await r.settle()
    assert r.candidates == []
    assert "not known yet" in r.discovery.rejected["10.0.0.7"].reason
    r.discovery.identified("10.0.0.5", AD4Q)  # its session read it at last
    r.clock.now += REJECT_RETRY_S
    r.discovery.observe(Sighting("slp", "10.0.0.7", cid=CID))
    (c,) = await r.reported(1)
    assert (c.receiver_id, c.address) == ("10.0.0.5", "10.0.0.7")
    assert "10.0.0.7" not in r.discovery.rejected  # went with its claim record


@pytest.mark.parametrize(
    ("source", "ifindex", "why"),
    [
        ("169.254.216.224", ETH.index, "link-local"),
        ("10.1.0.9", None, "not on the subnet"),  # off-link, whatever interface
        ("10.0.0.9", LO.index, "not on the subnet"),  # eth0's subnet, arrived on lo
        ("127.0.0.5", ETH.index, "not on the subnet"),  # loopback, arrived on eth0
        ("10.0.255.255", ETH.index, "broadcast"),
    ],
)
async def test_an_announcement_from_an_address_discovery_may_not_use_is_not_probed(
    rig: RigFactory, caplog: pytest.LogCaptureFixture, source: str, ifindex: int | None, why: str
) -> None:
    r = rig()
    await r.discovery.start()
    r.prober.answers[source] = AD4Q
    r.discovery.handle_announcement(parse_slp(QLXD4_PACKET, source, ifindex))
    r.discovery.handle_announcement(parse_slp(QLXD4_PACKET, source, ifindex))
    await r.settle()
    assert r.prober.calls == [] and len(r.discovery.registry) == 0
    assert r.discovery.stats.refused == 2
    assert caplog.text.count("is not probed") == 1 and why in caplog.text


async def test_loopback_is_probed_when_the_announcement_arrived_on_loopback(
    rig: RigFactory,
) -> None:
    r = rig()
    await r.discovery.start()
    r.prober.answers["127.0.0.5"] = AD4Q
    r.discovery.handle_announcement(parse_slp(QLXD4_PACKET, "127.0.0.5", LO.index))
    (c,) = await r.reported(1)
    assert c.address == "127.0.0.5"


@pytest.mark.parametrize(
    ("address", "port", "ifindex", "why"),
    [
        ("10.0.0.5", 22, ETH.index, "port 22 is not a receiver control port"),
        ("10.0.0.5", 53212, ETH.index, "port 53212 is not a receiver control port"),
        ("127.0.0.1", 2202, ETH.index, "not on the subnet"),
        ("0.0.0.0", 2202, None, "unspecified"),
        ("224.0.0.1", 2202, None, "multicast"),
        ("10.0.0.5", 0, ETH.index, "port 0"),
    ],
)
async def test_an_mdns_service_discovery_may_not_use_is_not_probed(
    rig: RigFactory, address: str, port: int, ifindex: int | None, why: str
) -> None:
    r = rig()
    await r.discovery.start()
    r.discovery.handle_mdns(MdnsService("X._shure._tcp.local.", address, port, ifindex=ifindex))
    await r.settle()
    assert r.prober.calls == [] and len(r.discovery.registry) == 0
    assert r.discovery.stats.refused == 1


async def test_the_owner_may_refuse_a_candidate_which_is_listed_and_offered_again(
    rig: RigFactory,
) -> None:
    answers: list[str | None] = ["discovery limit reached (test)", None]
    taken: list[Candidate] = []

    async def owner(candidate: Candidate) -> str | None:
        answer = answers.pop(0)
        if answer is None:
            taken.append(candidate)
        return answer

    r = rig(on_candidate=owner)
    await r.discovery.start()
    r.prober.answers["10.0.0.5"] = AD4Q
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    await r.settle()
    assert r.discovery.rejected[CID].reason == "discovery limit reached (test)"
    assert r.discovery.candidates == {}
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    await r.settle()
    assert len(r.prober.calls) == 1  # not before the retry delay
    r.clock.now += REJECT_RETRY_S
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    await async_wait_for(lambda: taken, 5, "the second offer")
    assert CID not in r.discovery.rejected and CID in r.discovery.candidates


async def test_rejections_are_bounded_and_go_with_their_record(rig: RigFactory) -> None:
    r = rig()
    await r.discovery.start()
    for i in range(MAX_REJECTIONS + 40):
        r.discovery.observe(Sighting("slp", f"10.0.{i // 200}.{i % 200 + 2}", cid=cid_of(i)))
    await r.settle()
    rejected = r.discovery.rejected
    assert len(rejected) == MAX_REJECTIONS
    assert cid_of(0) not in rejected and cid_of(MAX_REJECTIONS + 39) in rejected  # LRU
    last = cid_of(MAX_REJECTIONS + 39)
    r.discovery.forget(last)
    assert last not in rejected and len(r.discovery.health()["rejections"]) == MAX_REJECTIONS - 1
    r.discovery.ignore(cid_of(MAX_REJECTIONS + 38))
    assert cid_of(MAX_REJECTIONS + 38) not in rejected


def cid_of(i: int) -> str:
    return f"dd{i:06x}-0000-11dd-a000-000eddcccccc"


async def test_ignored_receivers_are_not_probed_until_unignored(rig: RigFactory) -> None:
    r = rig()
    await r.discovery.start()
    r.prober.answers["10.0.0.5"] = AD4Q
    r.discovery.ignore(CID)
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    await r.settle()
    assert r.prober.calls == [] and r.candidates == []
    assert r.discovery.health()["devices"][0]["ignored"] is True
    r.discovery.unignore(CID)
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    (c,) = await r.reported(1)
    assert c.receiver_id == CID


async def test_ignoring_a_reported_receiver_forgets_its_candidate(rig: RigFactory) -> None:
    r = rig()
    await r.discovery.start()
    r.prober.answers["10.0.0.5"] = AD4Q
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    await r.reported(1)
    assert r.discovery.ignore("10.0.0.5") == [CID]
    assert r.discovery.candidates == {}


async def test_an_mdns_sighting_waits_briefly_for_the_cid(rig: RigFactory) -> None:
    r = rig()
    await r.discovery.start()
    r.prober.answers["10.0.0.5"] = AD4Q
    r.discovery.handle_mdns(MdnsService("AD4Q._shure._tcp.local.", "10.0.0.5", 2202, "AD4Q"))
    await asyncio.sleep(0.05)
    assert r.prober.calls == []  # waiting for SLP to name it
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    (c,) = await r.reported(1)
    assert c.receiver_id == CID
    assert c.via == frozenset({"mdns", "slp", "probe"})


async def test_an_mdns_only_receiver_is_reported_by_address_after_the_grace(
    rig: RigFactory,
) -> None:
    r = rig()
    await r.discovery.start()
    r.prober.answers["10.0.0.5"] = AD4Q
    loop = asyncio.get_running_loop()
    started = loop.time()
    r.discovery.handle_mdns(MdnsService("AD4Q._shure._tcp.local.", "10.0.0.5", 2202, "AD4Q"))
    (c,) = await r.reported(1)
    assert loop.time() - started >= IDENTIFY_GRACE_S - 0.1
    assert (c.receiver_id, c.via) == ("10.0.0.5", frozenset({"mdns", "probe"}))


async def test_non_receivers_announcing_are_ignored(rig: RigFactory) -> None:
    r = rig()
    await r.discovery.start()
    from micboardd.sim.announce import build_attr_reply

    updater = build_attr_reply(
        b"(cid=DD000001-0000-11DD-A000-000EDDCCCCCC),(acn-fctn=SOFTWARE_UPDATE_UTILITY)"
    )
    r.discovery.handle_announcement(parse_slp(updater, "10.0.0.3"))
    assert len(r.discovery.registry) == 0
    assert r.discovery.stats.ignored == 1


async def test_a_failing_owner_callback_does_not_stop_discovery(
    rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def explode(candidate: Candidate) -> None:
        seen.append(candidate.address)
        raise RuntimeError("owner bug")

    r = rig(on_candidate=explode)
    await r.discovery.start()
    r.prober.answers["10.0.0.5"] = AD4Q
    r.prober.answers["10.0.0.6"] = AD4Q
    r.discovery.observe(Sighting("slp", "10.0.0.5", cid=CID))
    r.discovery.observe(Sighting("slp", "10.0.0.6", cid="dd000002-0000-11dd-a000-000eddcccccc"))
    await async_wait_for(lambda: len(seen) == 2, 5, "both reports")
    assert "handling discovered receiver" in caplog.text


def test_ulxd_and_qlxd_are_told_apart_by_the_announcement() -> None:
    from micboardd.discovery.registry import DeviceRecord

    record = DeviceRecord("x", "10.0.0.5", 2202, model="QLXD4", family=Family.QLXD, channels=1)
    guessed = ProbeResult(Family.ULXD, "ULXD4", 1, "tcp")
    assert merge_identity(record, guessed) == (Family.QLXD, "QLXD4", 1)
    record.family, record.model = Family.AXIENT, "AD4Q"
    assert merge_identity(record, AD4Q) == (Family.AXIENT, "AD4Q-A", 4)
    record.family = Family.SLXD  # announced wrongly: the receiver's own word wins
    assert merge_identity(record, AD4Q) == (Family.AXIENT, "AD4Q-A", 4)


async def test_sennheiser_rejections_say_why_in_our_words_never_the_peers(
    rig: RigFactory,
) -> None:
    r = rig()
    await r.discovery.start()
    peer = "<html>evil\x1b[31m"  # what a box might send, quoted by the SSCv2 client's errors
    r.prober.answers["10.0.0.40"] = PasswordMissing(f"10.0.0.40:443: {peer}")
    r.prober.answers["10.0.0.41"] = Sscv2Unavailable(f"10.0.0.41:443: HTTP 500 {peer!r}")
    r.prober.answers["10.0.0.42"] = BadDatagram(f"not JSON: {peer}")
    for host, port in (("10.0.0.40", 45), ("10.0.0.41", 443), ("10.0.0.42", 45)):
        r.discovery.handle_mdns(MdnsService("EM._ssc._udp.local.", host, port, ifindex=ETH.index))
    await async_wait_for(lambda: len(r.discovery.rejected) == 3, 5, "three rejections")
    reasons = {x.address: x.reason for x in r.discovery.rejected.values()}
    assert reasons["10.0.0.40"].startswith("SSCv2 needs a password")
    assert reasons["10.0.0.41"] == SSCV2_OTHER
    assert reasons["10.0.0.42"] == "not a supported Sennheiser EW-DX receiver (SSC): " + (
        "it answers, but not as one"
    )
    assert not any("evil" in reason for reason in reasons.values())
    assert r.candidates == []


def test_every_sscv2_refusal_has_a_reason_of_our_own() -> None:
    for kind in (PasswordMissing, PasswordRefused, NotSscv2, CertificateChanged):
        assert sscv2_reason(kind("peer words")) == SSCV2_REASONS[kind]
    assert sscv2_reason(Sscv2Unavailable("peer words")) == SSCV2_OTHER
    assert protocol_reason(ProtocolError("b'x'"), 2202) == "not a supported Shure receiver: b'x'"
