"""SSCv2 receivers (EW-DX firmware 4) through the real daemon: added on the command line and
over REST at the simulator's address, the password set from the dashboard (missing, wrong,
then right, without a restart), and a receiver whose certificate changed accepted again by
removing and re-adding it."""

from __future__ import annotations

import sqlite3
from typing import Any

from micboardd.sennheiser.sscv2_trust import pin_setting_key
from micboardd.sim.sscv2 import SimSscv2

from ..conftest import DaemonFactory
from ..helpers import DaemonProcess, async_wait_for
from ..security.admin import admin_client
from ..sim.sennclients import senn_host

PASSWORD = "front-of-house"
# Well under the 60 s a receiver that needs a password waits between tries: reaching a state
# within it proves the saved password woke the receiver.
DEADLINE_S = 20.0


async def receivers(d: DaemonProcess) -> dict[str, dict[str, Any]]:
    return {rx["receiver_id"]: rx for rx in await d.async_get("/api/receivers")}


async def devices(d: DaemonProcess) -> dict[str, dict[str, Any]]:
    return {dev["device_id"]: dev for dev in await d.async_get("/api/devices")}


def pins(d: DaemonProcess) -> dict[str, str]:
    with sqlite3.connect(d.state_dir / "micboardd.db") as db:
        rows = db.execute(
            "SELECT key, value FROM settings WHERE key LIKE 'sscv2_tls_sha256:%'"
        ).fetchall()
    return dict(rows)


async def test_sscv2_receivers_come_online_once_the_dashboard_has_the_password(
    make_daemon: DaemonFactory,
) -> None:
    async with (
        SimSscv2("EWDX-EM4-DANTE", senn_host(), 0, password=PASSWORD) as flagged,
        SimSscv2("EWDX-EM2", senn_host(), 0, password=PASSWORD) as posted,
    ):
        flagged_id = f"sscv2@{flagged.host}:{flagged.port}"
        posted_id = f"sscv2@{posted.host}:{posted.port}"
        d = make_daemon("--receiver", f"sscv2://{flagged.host}:{flagged.port}", wait=False)
        await d.async_wait_listening()
        async with admin_client(d) as client:
            answer = await client.post(
                "/api/receivers", json={"address": f"sscv2://{posted.host}:{posted.port}"}
            )
            assert answer.status_code == 201, answer.text
            assert answer.json()["receiver_id"] == posted_id

            async def errors_say(text: str) -> bool:
                rxs = await receivers(d)
                return all(
                    text in (rxs.get(i, {}).get("error") or "") for i in (flagged_id, posted_id)
                )

            # No password yet: an error that says what to do, and no channel shown as OK.
            await async_wait_for(
                lambda: errors_say("SSCv2 needs a password"), DEADLINE_S, "needs a password"
            )
            rxs = await receivers(d)
            assert rxs[posted_id]["status"] == "error"
            assert rxs[posted_id]["manufacturer"] == "sennheiser"

            # A wrong password: refused, said clearly, never shown back.
            r = await client.put("/api/settings", json={"sscv2_password": "not-it"})
            assert r.status_code == 200, r.text
            await async_wait_for(
                lambda: errors_say("refused the SSCv2 password"), DEADLINE_S, "refused"
            )
            assert "not-it" not in str(await receivers(d))
            statuses = {dev["status"] for dev in (await devices(d)).values()}
            assert statuses <= {"rx_offline"}, statuses

            # The right one: both online without a restart, and without waiting a minute.
            r = await client.put("/api/settings", json={"sscv2_password": PASSWORD})
            assert r.status_code == 200, r.text

            async def all_good() -> bool:
                devs = await devices(d)
                want = [f"{flagged_id}:{n}" for n in range(1, 5)]
                want += [f"{posted_id}:{n}" for n in range(1, 3)]
                return all(devs.get(w, {}).get("status") == "good" for w in want)

            await async_wait_for(all_good, DEADLINE_S, "every SSCv2 channel good")
            rxs, devs = await receivers(d), await devices(d)
            assert (rxs[flagged_id]["model"], rxs[flagged_id]["family"]) == (
                "EW-DX EM 4 Dante",
                "ewdx",
            )
            assert rxs[posted_id]["model"] == "EW-DX EM 2"
            assert rxs[posted_id]["status"] == "online" and rxs[posted_id]["error"] is None
            assert devs[f"{posted_id}:1"]["manufacturer"] == "sennheiser"
            assert devs[f"{posted_id}:1"]["battery_level"] is not None
            # Each certificate was pinned on first use, in the store.
            recorded = pins(d)
            assert set(recorded) == {
                pin_setting_key(f"{flagged.host}:{flagged.port}"),
                pin_setting_key(f"{posted.host}:{posted.port}"),
            }

            # Live values flow: a transmitter switched off shows.
            posted.tx_off(2)
            await async_wait_for(
                lambda: _status(d, f"{posted_id}:2", {"prev_good", "tx_off"}),
                DEADLINE_S,
                "transmitter off",
            )


async def test_a_changed_certificate_is_accepted_by_removing_and_adding_the_receiver(
    make_daemon: DaemonFactory,
) -> None:
    host = senn_host()
    first = SimSscv2("EWDX-EM2", host, 0, password=PASSWORD)
    await first.start()
    port = first.port
    rx_id = f"sscv2@{host}:{port}"
    key = pin_setting_key(f"{host}:{port}")
    replaced: SimSscv2 | None = None
    try:
        d = make_daemon("--receiver", f"sscv2://{host}:{port}", wait=False)
        await d.async_wait_listening()
        async with admin_client(d) as client:
            await client.put("/api/settings", json={"sscv2_password": PASSWORD})

            async def online() -> bool:
                return (await receivers(d)).get(rx_id, {}).get("status") == "online"

            await async_wait_for(online, DEADLINE_S, "online with the first certificate")
            old_pin = pins(d)[key]

            # The unit is replaced: same address, a new certificate. Refused, and told why.
            await first.close()
            replaced = SimSscv2("EWDX-EM2", host, port, password=PASSWORD)
            await replaced.start()

            async def refused() -> bool:
                error = (await receivers(d)).get(rx_id, {}).get("error") or ""
                return "certificate changed" in error

            await async_wait_for(refused, DEADLINE_S, "the new certificate refused")
            error = (await receivers(d))[rx_id]["error"]
            assert "remove it and add it again" in error and "password was not sent" in error
            assert not any(r.authorized for r in replaced.requests)

            # Removing it forgets the pin; adding it again trusts the new certificate.
            r = await client.delete(f"/api/receivers/{rx_id}")
            assert r.status_code == 204, r.text
            assert key not in pins(d)
            r = await client.post("/api/receivers", json={"address": f"sscv2://{host}:{port}"})
            assert r.status_code == 201, r.text
            await async_wait_for(online, DEADLINE_S, "online with the new certificate")
            assert pins(d)[key] != old_pin
    finally:
        await first.close()
        if replaced is not None:
            await replaced.close()


async def _status(d: DaemonProcess, device_id: str, wanted: set[str]) -> bool:
    return (await devices(d)).get(device_id, {}).get("status") in wanted
