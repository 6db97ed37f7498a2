"""Login throttling under a flood, against the daemon as a real process over loopback: guesses
are counted before they wait, one per address is checked at a time, the hashing queue is
bounded, wrong PINs from every address share one budget, and the crew still logs in."""

from __future__ import annotations

import asyncio
import time

import httpx

from micboardd.auth.passwords import MAX_FAILURES, MAX_HASH_QUEUE, PIN_FAILURE_BUDGET

from ..conftest import DaemonFactory
from ..helpers import DaemonProcess
from .admin import ADMIN_PASSWORD, set_secret
from .conftest import VIEWER_PIN_LONG
from .lan import CREW, GUEST, client_from, counters

FLOOD = 400
# Liveness only (speed is measured by hand, see docs/security.md): the crew's login during
# the flood must not wait behind it. The figure itself is reported, never asserted.
CREW_LOGIN_LIVENESS_S = 30.0


async def test_a_flood_from_one_address_gets_at_most_the_allowed_guesses(
    make_daemon: DaemonFactory,
) -> None:
    d = make_daemon()
    await set_secret(d.state_dir)
    limits = httpx.Limits(max_connections=FLOOD, max_keepalive_connections=FLOOD)
    async with (
        client_from(d, GUEST, limits=limits) as guest,
        client_from(d, CREW) as crew,
    ):

        async def guess(i: int) -> httpx.Response:
            return await guest.post("/api/login", json={"password": f"guess number {i}"})

        flood = asyncio.gather(*(guess(i) for i in range(FLOOD)), return_exceptions=True)
        flood_task = asyncio.ensure_future(flood)
        await asyncio.sleep(0)  # the flood is on its way before the crew asks
        t0 = time.monotonic()
        r = await crew.post("/api/login", json={"password": ADMIN_PASSWORD})
        crew_s = time.monotonic() - t0
        answers = await flood_task
    assert r.status_code == 200, r.text
    assert crew_s < CREW_LOGIN_LIVENESS_S
    print(f"\ncrew login during a flood of {FLOOD} guesses: {crew_s * 1000:.0f} ms")

    # The daemon's own count of scrypt checks: the crew's and at most MAX_FAILURES of the
    # guest's (then the address is locked out before anything is hashed).
    hashed = counters(d)["login_checked"] - 1
    busy = [a for a in answers if isinstance(a, httpx.Response) and "being checked" in a.text]
    print(f"guesses hashed: {hashed:.0f}, refused while one was checked: {len(busy)}")
    assert 1 <= hashed <= MAX_FAILURES
    assert busy and all(a.status_code == 429 and a.headers["retry-after"] for a in busy)
    assert len([a for a in answers if isinstance(a, httpx.Response) and a.status_code == 401]) < (
        MAX_FAILURES
    )
    flood_lines = [line for line in d.lines if GUEST in line]
    assert len(flood_lines) <= MAX_FAILURES + 2, flood_lines  # the journal is not flooded


async def test_the_hashing_queue_is_bounded(make_daemon: DaemonFactory) -> None:
    d = make_daemon()
    await set_secret(d.state_dir)
    guests = [f"127.0.2.{i}" for i in range(1, 61)]  # many addresses: one guess each

    async def guess(address: str) -> httpx.Response:
        async with client_from(d, address) as c:
            return await c.post("/api/login", json={"password": f"guess from {address}"})

    answers = await asyncio.gather(*(guess(a) for a in guests))
    full = [r for r in answers if r.status_code == 503]
    assert full, [r.status_code for r in answers]
    assert all("try again" in r.text and int(r.headers["retry-after"]) >= 1 for r in full)
    assert counters(d)["login_checked"] <= len(guests) - len(full)
    print(f"\n{len(full)} of {len(guests)} refused with 503 (queue of {MAX_HASH_QUEUE})")
    # The queue drains: the crew gets in right after.
    async with client_from(d, CREW) as crew:
        r = await crew.post("/api/login", json={"password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text


async def test_wrong_pins_from_every_address_share_one_budget(
    make_daemon: DaemonFactory,
) -> None:
    d: DaemonProcess = make_daemon()
    await set_secret(d.state_dir)
    await set_secret(d.state_dir, VIEWER_PIN_LONG, "--viewer-pin")
    # A guest rotating addresses: one wrong PIN each, so no address is ever locked out.
    addresses = [f"127.0.3.{i}" for i in range(1, PIN_FAILURE_BUDGET + 1)]

    async def wrong(address: str) -> int:
        async with client_from(d, address) as c:
            r = await c.post("/api/login", json={"pin": "00000000"})
            return r.status_code

    for start in range(0, len(addresses), MAX_HASH_QUEUE // 2):  # within the queue's bound
        batch = addresses[start : start + MAX_HASH_QUEUE // 2]
        assert set(await asyncio.gather(*(wrong(a) for a in batch))) == {401}
    # The budget is spent: a new address with the right PIN must wait too.
    async with client_from(d, "127.0.3.200") as phone:
        r = await phone.post("/api/login", json={"pin": VIEWER_PIN_LONG})
        assert r.status_code == 429, r.text
        assert "too many wrong PINs" in r.text and int(r.headers["retry-after"]) >= 1
        # The crew's password is not part of it.
        r = await phone.post("/api/login", json={"password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
    assert sum("too many wrong viewer PINs" in line for line in d.lines) == 1
