"""Sennheiser receivers through the real daemon: added on the command line and over REST,
beside a Shure receiver, shown with the same device model; the protocol named in an address
kept across a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from micboardd.config import ReceiverAddress, parse_receiver
from micboardd.sim.ewdx import SimEwdx
from micboardd.sim.g4 import SimG4
from micboardd.sim.receiver import SimReceiver
from micboardd.sources.receivers import receiver_id_for

from ..conftest import DaemonFactory
from ..helpers import DaemonProcess, async_wait_for
from ..security.admin import admin_client
from ..sim.sennclients import senn_host

DEADLINE_S = 20.0


async def devices(d: DaemonProcess) -> dict[str, dict[str, Any]]:
    return {dev["device_id"]: dev for dev in await d.async_get("/api/devices")}


async def receivers(d: DaemonProcess) -> dict[str, dict[str, Any]]:
    return {rx["receiver_id"]: rx for rx in await d.async_get("/api/receivers")}


def test_addresses_name_a_protocol_where_the_port_does_not() -> None:
    assert parse_receiver("10.0.0.5:45").kind == "ssc1"
    assert parse_receiver("10.0.0.5:53212").kind == "mcp"
    assert parse_receiver("10.0.0.5:443").kind == "sscv2"
    assert parse_receiver("10.0.0.5").kind == "shure"
    named = parse_receiver("ssc1://127.0.0.1:4545")
    assert named == ReceiverAddress("127.0.0.1", 4545, "ssc1")
    assert str(named) == "ssc1://127.0.0.1:4545"
    assert receiver_id_for(named) == "ssc1@127.0.0.1:4545"  # no "/": ids go in URLs
    # The port's own protocol is not repeated: one receiver, one id.
    assert parse_receiver("ssc1://10.0.0.5") == ReceiverAddress("10.0.0.5", 45)
    assert parse_receiver("mcp://10.0.0.5") == ReceiverAddress("10.0.0.5", 53212)
    with pytest.raises(ValueError, match="unknown protocol"):
        parse_receiver("dante://10.0.0.5")


async def test_a_mixed_venue_through_the_daemon(make_daemon: DaemonFactory, tmp_path: Path) -> None:
    async with (
        SimEwdx("EWDX-EM4-DANTE", senn_host(), 0) as ewdx,
        SimG4("EM300-500G4", senn_host()) as g4,
        SimReceiver("ULXD4D", "127.0.0.1", 0) as shure,
    ):
        d = make_daemon("--receiver", f"{g4.host}:53212", "--receiver", shure.address, wait=False)
        await d.async_wait_listening()
        ewdx_id = f"ssc1@{ewdx.host}:{ewdx.port}"
        g4_id = f"{g4.host}:53212"
        async with admin_client(d) as client:
            address = f"ssc1://{ewdx.host}:{ewdx.port}"
            answer = await client.post("/api/receivers", json={"address": address})
            assert answer.status_code == 201, answer.text
            assert answer.json()["receiver_id"] == ewdx_id
            bad = await client.post("/api/receivers", json={"address": "dante://x"})
            assert bad.status_code == 400 and "unknown protocol" in bad.text

        async def all_good() -> bool:
            devs = await devices(d)
            want = [f"{ewdx_id}:{n}" for n in range(1, 5)] + [f"{g4_id}:1", f"{shure.address}:1"]
            return all(devs.get(w, {}).get("status") == "good" for w in want)

        await async_wait_for(all_good, DEADLINE_S, "every channel of both brands good")
        devs, rxs = await devices(d), await receivers(d)
        assert rxs[ewdx_id]["manufacturer"] == "sennheiser"
        assert (rxs[ewdx_id]["model"], rxs[ewdx_id]["family"]) == ("EW-DX EM 4 Dante", "ewdx")
        assert (rxs[g4_id]["family"], rxs[g4_id]["manufacturer"]) == ("ew", "sennheiser")
        assert rxs[shure.address]["manufacturer"] == "shure"
        assert devs[f"{ewdx_id}:1"]["manufacturer"] == "sennheiser"
        assert devs[f"{shure.address}:1"]["manufacturer"] == "shure"
        assert devs[f"{ewdx_id}:1"]["battery_minutes"] is not None

        ewdx.tx_off(2)
        await async_wait_for(
            lambda: _status(d, f"{ewdx_id}:2", {"prev_good", "tx_off"}), DEADLINE_S, "tx off"
        )
        # A restart keeps the receiver added over REST, and the protocol its address named.
        d.stop()
        again = make_daemon(state_dir=d.state_dir, wait=False)
        await again.async_wait_listening()

        async def ewdx_back() -> bool:
            return (await devices(again)).get(f"{ewdx_id}:1", {}).get("status") == "good"

        await async_wait_for(ewdx_back, DEADLINE_S, "the EW-DX back after a restart")
        assert (await receivers(again))[ewdx_id]["family"] == "ewdx"


async def _status(d: DaemonProcess, device_id: str, wanted: set[str]) -> bool:
    return (await devices(d)).get(device_id, {}).get("status") in wanted
