"""Confirming what discovery saw: every new device (and every move) is probed before it is
reported; a host that does not answer like a receiver we know is recorded as rejected, with
the reason, and probed again only after a growing delay, never in a tight loop.

A device already handed out is followed to a new address only when the probe there reads
back the identity it had (`ProbeResult.same_receiver`: family, model, channels, and the name,
RF band and firmware where both say; Shure command strings carry no serial). Otherwise the
new address is rejected, with which of those differed, and the device stays where it was.

Reasons never quote what a peer sent: they are ours (the probe's, discovery's, the owner's).
The owner may refuse a candidate (`on_candidate` returns the reason, e.g. "discovery limit
reached"): it is then listed as rejected and offered again after the same growing delay.
Rejections are bounded (`MAX_REJECTIONS`, least recently rejected out) and go with their
record when the registry forgets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from micboardd.aio import backoff_delay
from micboardd.config import PROTOCOL_PORTS
from micboardd.discovery import Candidate
from micboardd.discovery.bounded import BoundedOnce, LruDict
from micboardd.discovery.registry import DeviceRecord, Moved, Registry
from micboardd.errors import ConnectionFailed, ProtocolError
from micboardd.model import Family
from micboardd.sennheiser.errors import (
    CertificateChanged,
    NotSscv2,
    PasswordMissing,
    PasswordRefused,
    Sscv2Unavailable,
)
from micboardd.shure.probe import ProbeResult

log = logging.getLogger(__name__)

# The owner's answer to a candidate: None to take it, or why it is refused.
CandidateCallback = Callable[[Candidate], Awaitable[str | None] | str | None]
Prober = Callable[[str, int], Awaitable[ProbeResult]]
MovedCallback = Callable[[Moved], None]

# A probe holds one connection for up to ~2 s; 8 at once confirms a 30-receiver venue in a
# few seconds without a burst of connections.
PROBE_CONCURRENCY = 8
# A rejected host is probed again after 60 s, doubling to at most 15 minutes: a receiver
# still booting gets in soon, a PC announcing on 8427 costs one connection in 15 minutes.
REJECT_RETRY_S = 60.0
REJECT_RETRY_MAX_S = 900.0
# An mDNS-only sighting has no ACN cid yet; SLP announces every ~2 s, so waiting 2.5 s lets
# the id be the cid (stable across DHCP changes) instead of the address.
IDENTIFY_GRACE_S = 2.5
# Rejected addresses remembered, oldest forgotten first (bounded memory).
MAX_REMEMBERED = 1024
# Rejections listed (dashboard, /api/health): a venue has a handful of boxes that announce
# without being receivers; beyond this a flood of spoofed ones pushes out the least recent.
MAX_REJECTIONS = 256


@dataclass(frozen=True, slots=True)
class Rejection:
    receiver_id: str
    address: str
    port: int
    reason: str
    since: float  # wall clock (time.time())
    retry_in_s: float
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "receiver_id": self.receiver_id,
            "address": self.address,
            "port": self.port,
            "reason": self.reason,
            "since": self.since,
            "retry_in_s": self.retry_in_s,
            "attempts": self.attempts,
        }


@dataclass(slots=True)
class Track:
    """What was confirmed about a record, and what is being probed."""

    confirmed: tuple[str, int] | None = None
    task: asyncio.Task[None] | None = None
    identified: asyncio.Event | None = None  # set when an mDNS-only record learns its cid
    retry_at: float = 0.0
    failures: int = 0
    identity: ProbeResult | None = None  # what answered last, at the confirmed address
    rejected_as: str | None = None  # the key of its rejection, if it has one


# Why an SSCv2 box was rejected, in our words: the client's messages may quote the peer.
SSCV2_REASONS: dict[type[Sscv2Unavailable], str] = {
    PasswordMissing: (
        "SSCv2 needs a password: set the receiver's third-party password "
        "(Edit > Settings, or sscv2_password_file)"
    ),
    PasswordRefused: (
        "refused the SSCv2 password: set the third-party password the receiver was given "
        "in Sennheiser's control software"
    ),
    NotSscv2: "answers HTTPS, but not SSCv2 (Legacy Mode on? then it is monitored on port 45)",
    CertificateChanged: "its SSCv2 certificate changed; the password was not sent",
}
SSCV2_OTHER = "answers HTTPS, but cannot be used as an SSCv2 receiver (TLS or HTTP refused)"
# Sennheiser ports, and what a host there that answers something else is not.
SENNHEISER_WHAT = {
    PROTOCOL_PORTS["ssc1"]: "Sennheiser EW-DX receiver (SSC)",
    PROTOCOL_PORTS["sscv2"]: "Sennheiser EW-DX receiver (SSCv2)",
}


def sscv2_reason(exc: Sscv2Unavailable) -> str:
    """The rejected list's reason for an SSCv2 box (pure; never the peer's words)."""
    for kind, reason in SSCV2_REASONS.items():
        if isinstance(exc, kind):
            return reason
    return SSCV2_OTHER


def protocol_reason(exc: ProtocolError, port: int) -> str:
    """The reason for a host that answers, but not in a protocol we speak (pure). The Shure
    probe's reasons are its own words; the Sennheiser codecs' may quote bytes: left out."""
    what = SENNHEISER_WHAT.get(port)
    if what is None:
        return f"not a supported Shure receiver: {exc}"
    return f"not a supported {what}: it answers, but not as one"


def merge_identity(record: DeviceRecord, result: ProbeResult) -> tuple[Family, str, int]:
    """Family, model and channels from the probe, the receiver's own word (pure).

    One exception: ULX-D and QLX-D share a vocabulary, so a probe that got no MODEL cannot
    tell them apart; an announcement's DCID can.
    """
    family, model, channels = result.family, result.model, result.channels
    pair = {Family.ULXD, Family.QLXD}
    if (
        record.family in pair
        and family in pair
        and record.family is not family
        and record.channels == channels
    ):
        return record.family, record.model or model, channels
    return family, model, channels


class Confirmer:
    """Probes records, keeps the confirmed candidates and the rejections, reports the former."""

    def __init__(
        self,
        registry: Registry,
        on_candidate: CandidateCallback,
        prober: Prober,
        clock: Callable[[], float],
        logged: BoundedOnce,
        on_moved: MovedCallback | None = None,
    ) -> None:
        self.registry = registry
        self.on_candidate = on_candidate
        self.on_moved = on_moved
        self.candidates: dict[str, Candidate] = {}
        self.rejected: LruDict[str, Rejection] = LruDict(MAX_REJECTIONS)
        self.rejected_total = 0
        self.running = False
        self._prober = prober
        self._clock = clock
        self._logged = logged
        self._tracks: dict[DeviceRecord, Track] = {}
        self._slots = asyncio.Semaphore(PROBE_CONCURRENCY)
        self._probing: set[tuple[str, int]] = set()
        self._probes: set[asyncio.Task[None]] = set()  # every probe task, until it is done
        # (address, port) -> monotonic time before which it is not probed again; bounded.
        self._rejected_at: dict[tuple[str, int], float] = {}
        registry.on_delete = self.drop

    async def stop(self) -> None:
        self.running = False
        tasks = list(self._probes)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- what discovery tells it -----------------------------------------------------------

    def known(self, record: DeviceRecord, identity: ProbeResult | None = None) -> None:
        """The owner already monitors this record at its address: nothing to confirm.
        `identity`: what answered there, if the owner knows (a move is checked against it)."""
        track = self.track(record)
        track.confirmed = (record.address, record.port)
        if identity is not None:
            track.identity = identity

    def identified(self, record: DeviceRecord, identity: ProbeResult) -> None:
        """The owner's session read what answers at the record's address now."""
        self.track(record).identity = identity

    def forget(self, receiver_id: str) -> None:
        self.candidates.pop(receiver_id, None)
        self.rejected.pop(receiver_id, None)

    def seen(self, record: DeviceRecord, now: float) -> None:
        """A sighting of `record`: maybe its cid is known now; confirm it if it is due."""
        track = self._tracks.get(record)
        if track is not None and track.identified is not None and record.cid is not None:
            track.identified.set()
        self.maybe_confirm(record, now)

    def retry_due(self, now: float) -> None:
        """Housekeeping: drop records the registry forgot, probe rejected ones that are due."""
        for record, track in list(self._tracks.items()):
            if self.registry.get(record.receiver_id) is not record:
                self.drop(record)  # forgotten or evicted
            elif track.retry_at and now >= track.retry_at:
                self.maybe_confirm(record, now)

    # --- confirming --------------------------------------------------------------------------

    def track(self, record: DeviceRecord) -> Track:
        track = self._tracks.get(record)
        if track is None:
            track = self._tracks[record] = Track()
        return track

    def drop(self, record: DeviceRecord) -> None:
        """Forget a record (the registry let it go): its probe and its rejection go too."""
        track = self._tracks.pop(record, None)
        if track is None:
            return
        if track.rejected_as is not None:
            self.rejected.pop(track.rejected_as, None)
        if track.task is not None and track.task is not asyncio.current_task():
            track.task.cancel()

    def maybe_confirm(self, record: DeviceRecord, now: float) -> None:
        if record.ignored or not self.running:
            return
        track = self.track(record)
        if track.task is not None and not track.task.done():
            return
        where = (record.address, record.port)
        if track.confirmed == where or now < track.retry_at or where in self._probing:
            return
        # Another device record at the same address was just rejected (a host announcing
        # many cids): share its verdict instead of probing the host again.
        if now < self._rejected_at.get(where, 0.0):
            track.retry_at = self._rejected_at[where]
            return
        track.task = asyncio.get_running_loop().create_task(
            self._confirm(record, track), name=f"probe {record.address}"
        )
        self._probes.add(track.task)
        track.task.add_done_callback(self._probes.discard)

    async def _confirm(self, record: DeviceRecord, track: Track) -> None:
        if record.cid is None and not record.pinned and "slp" not in record.via:
            track.identified = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDENTIFY_GRACE_S):
                    await track.identified.wait()
            track.identified = None
        while True:
            address, port = record.address, record.port
            self._probing.add((address, port))
            try:
                async with self._slots:
                    result = await self._prober(address, port)
            except Sscv2Unavailable as exc:
                reason: str | None = sscv2_reason(exc)
            except ProtocolError as exc:
                reason = protocol_reason(exc, port)
            except (ConnectionFailed, OSError) as exc:
                reason = f"no receiver answers on port {port}: {exc}"
            except Exception:  # a bug in the probe: back off like a rejection
                log.exception("probing %s:%d failed", address, port)
                reason = "the probe failed (a bug in micboardd; the log has the details)"
            else:
                reason = None
            finally:
                self._probing.discard((address, port))
            if (record.address, record.port) == (address, port):
                break  # else it moved while we probed: probe the new address
        if reason is not None:
            self._reject(record, track, reason)
            return
        if record.claim_of is not None:
            await self._judge_claim(record, track, result)
            return
        await self._accept(record, track, result)

    async def _judge_claim(self, claim: DeviceRecord, track: Track, result: ProbeResult) -> None:
        """A receiver answers at an address that announced a known device's identity:
        follow the device there only if it reads back the identity it had."""
        owner = self.registry.get(claim.claim_of or "")
        if owner is None:
            claim.claim_of = None  # the device it claimed to be is gone: just a new one
            await self._accept(claim, track, result)
            return
        expected = self._tracks[owner].identity if owner in self._tracks else None
        where = f"{owner.receiver_id} (known at {owner.address})"
        if expected is None:
            self._reject(
                claim,
                track,
                f"announces the identity of {where}, whose own answers are not known yet; "
                "not followed until they are",
            )
            return
        differs = expected.differences(result)
        if differs:
            self._reject(
                claim,
                track,
                f"announces the identity of {where} but answers as another receiver "
                f"({', '.join(differs)} {'differs' if len(differs) == 1 else 'differ'}); "
                "not followed. Add it by address if it is another receiver",
            )
            return
        del self._tracks[claim]  # before the registry lets it go: this task is its probe
        if track.rejected_as is not None:
            self.rejected.pop(track.rejected_as, None)
        moved = self.registry.follow(claim)
        if moved is None:
            return
        if self.on_moved is not None:
            self.on_moved(moved)
        await self._accept(owner, self.track(owner), result)

    def _reject(self, record: DeviceRecord, track: Track, reason: str) -> None:
        track.failures += 1
        delay = backoff_delay(
            track.failures - 1, first_s=REJECT_RETRY_S, max_s=REJECT_RETRY_MAX_S, jitter=0.0
        )
        track.retry_at = self._clock() + delay
        self.rejected_total += 1
        if track.rejected_as is not None and track.rejected_as != record.receiver_id:
            self.rejected.pop(track.rejected_as, None)  # its id grew stronger since
        track.rejected_as = record.receiver_id
        previous = self.rejected.get(record.receiver_id)
        self.rejected[record.receiver_id] = Rejection(
            record.receiver_id,
            record.address,
            record.port,
            reason,
            previous.since if previous and previous.reason == reason else time.time(),
            delay,
            track.failures,
        )
        self._remember_rejected((record.address, record.port), track.retry_at)
        extra = {"RECEIVER_ID": record.receiver_id, "RECEIVER_ADDR": record.address}
        if self._logged.first(("rejected", record.address, record.port, reason)):
            log.warning(
                "%s announced itself but was rejected: %s (next try in %.0f s)",
                record.address,
                reason,
                delay,
                extra=extra,
            )
        else:
            log.debug("%s still rejected: %s", record.address, reason, extra=extra)

    def _remember_rejected(self, where: tuple[str, int], retry_at: float) -> None:
        self._rejected_at.pop(where, None)
        self._rejected_at[where] = retry_at
        while len(self._rejected_at) > MAX_REMEMBERED:
            self._rejected_at.pop(next(iter(self._rejected_at)))

    async def _accept(self, record: DeviceRecord, track: Track, result: ProbeResult) -> None:
        family, model, channels = merge_identity(record, result)
        if record.family is not None and record.family is not family:
            log.info(
                "%s announced itself as %s but answers as %s; trusting the receiver",
                record.address,
                record.family.value,
                family.value,
            )
        self.registry.pin(record)
        track.confirmed, track.failures, track.retry_at = (record.address, record.port), 0, 0.0
        track.identity = result
        if track.rejected_as is not None:
            self.rejected.pop(track.rejected_as, None)
            track.rejected_as = None
        self._rejected_at.pop((record.address, record.port), None)
        candidate = Candidate(
            receiver_id=record.receiver_id,
            address=record.address,
            port=result.port or record.port,  # an EW-DX announced on 45 may answer on 443
            family=family,
            model=model,
            channels=channels,
            via=frozenset(record.via | {"probe"}),
            cid=record.cid,
            serial=record.serial,
            name=record.name or result.name,
            mac=record.mac,
            band=record.band,
            firmware=result.firmware,
        )
        previous = self.candidates.get(record.receiver_id)
        self.candidates[record.receiver_id] = candidate
        refused = await self._report(candidate)
        if refused is not None:
            self.candidates.pop(record.receiver_id, None)
            track.confirmed = None
            self._reject(record, track, refused)
            return
        if previous is None:
            log.info(
                "found %s (%d channel%s) at %s via %s, id %s",
                model,
                channels,
                "" if channels == 1 else "s",
                record.address,
                "+".join(sorted(candidate.via)),
                record.receiver_id,
                extra={
                    "RECEIVER_ID": record.receiver_id,
                    "RECEIVER_ADDR": record.address,
                    "MODEL": model,
                },
            )

    async def _report(self, candidate: Candidate) -> str | None:
        """Tell the owner; its refusal (a reason), or None."""
        try:
            outcome = self.on_candidate(candidate)
            if inspect.isawaitable(outcome):
                outcome = await outcome
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handling discovered receiver %s failed", candidate)
            return None
        return outcome if isinstance(outcome, str) else None
