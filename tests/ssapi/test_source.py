"""`SystemApiSource` against the fake System API over real loopback sockets (HTTPS + WSS)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest

from micboardd.model import SourceState
from micboardd.sim.fake_ssapi import FakeSystemApi
from micboardd.sim.fake_ssapi_devices import FakeDevice, battery_body, demo_devices
from micboardd.ssapi.mapping import own_receiver_id
from micboardd.ssapi.options import format_fingerprint
from micboardd.ssapi.trust import pin_setting_key
from micboardd.state.hub import Hub
from micboardd.store.database import Store

from ..helpers import async_wait_for
from .conftest import FAST, FakeFactory, Running, SourceFactory, write_key

PACK = 2  # index of the docked ULXD1 in demo_devices()


def rid(api: FakeSystemApi, index: int) -> str:
    return api.devices[index].device_id.lower()


def device(run: Running, api: FakeSystemApi, index: int, channel: int = 1) -> dict[str, Any]:
    """The hub's device as its JSON object ({} while it is not there)."""
    dev = run.hub.devices.get(f"{rid(api, index)}:{channel}")
    return {} if dev is None else msgspec.structs.asdict(dev)


def health_is(run: Running, **want: object) -> bool:
    body = run.last_health
    return all(body.get(k) == v for k, v in want.items())


async def online(run: Running, api: FakeSystemApi) -> None:
    await async_wait_for(
        lambda: (
            sum(r.source == "system_api" for r in run.hub.receivers.values()) == len(api.devices)
            and run.source.live
        ),
        10,
        "every device in the hub and live updates",
    )


def many_devices(n: int) -> list[FakeDevice]:
    return [
        FakeDevice(f"00000000-0000-0000-0000-{i:012d}", "SBC220", f"SN{i:04d}", name=f"Dock {i}")
        for i in range(n)
    ]


async def test_pagination_over_several_pages(
    make_fake: FakeFactory, make_source: SourceFactory
) -> None:
    api = await make_fake(many_devices(7), page_size=2)
    run = await make_source(api)
    await async_wait_for(lambda: len(run.hub.receivers) == 7, 10, "all 7 devices")
    pages = [r for r in api.requests if r.method == "GET" and r.path == "/api/v1/devices"]
    assert len(pages) >= 4
    assert pages[0].query == ""
    assert all("after=" in p.query for p in pages[1:4])
    assert {r.name for r in run.hub.receivers.values()} == {f"Dock {i}" for i in range(7)}
    assert all(r.key_ok for r in api.requests)


async def test_bare_array_inventory(make_fake: FakeFactory, make_source: SourceFactory) -> None:
    api = await make_fake(many_devices(3), bare_array=True)
    run = await make_source(api)
    await async_wait_for(lambda: len(run.hub.receivers) == 3, 10, "all 3 devices")


async def test_devices_battery_and_channels(
    fake: FakeSystemApi, make_source: SourceFactory
) -> None:
    run = await make_source(fake)
    await online(run, fake)
    adtq = run.hub.receivers[rid(fake, 0)]
    assert (adtq.model, adtq.channels, adtq.source, adtq.state) == (
        "ADTQ",
        4,
        "system_api",
        SourceState.ONLINE,
    )
    assert device(run, fake, 0, 4)["name"] == "IEM 4"
    pack = device(run, fake, PACK)
    assert (pack["battery_level"], pack["charging"], pack["name"]) == (80, True, "Pastor pack")
    assert run.last_health["status"] == "healthy" and run.last_health["updates"] == "live"
    assert run.connections[-1]["source"] == "system_api"
    assert run.connections[-1]["status"] == "connected"
    # Body-less POSTs (subscription bindings) carry no Content-Type (the server rejects it).
    posts = [r for r in fake.requests if r.method == "POST"]
    assert posts and all(r.content_type is None and r.status == 204 for r in posts)
    snapshot = {d["model"]: d for d in run.source.devices()}
    assert snapshot["ULXD1"]["battery_health"] == {"percentage": 96, "cycles": 42}
    assert snapshot["ADTQ"]["channels"][0] == {"index": 0, "name": "IEM 1", "activity": "GOOD"}


async def test_battery_change_arrives_through_the_subscription(
    fake: FakeSystemApi, make_source: SourceFactory
) -> None:
    run = await make_source(fake)  # polling stays at 30 s: only the subscription is fast
    await online(run, fake)
    fake.set_battery(fake.devices[PACK].device_id, 42, "DISCHARGING", minutes=200)
    await async_wait_for(
        lambda: device(run, fake, PACK).get("battery_level") == 42, 1.0, "battery event"
    )
    assert device(run, fake, PACK)["battery_minutes"] == 200
    assert device(run, fake, PACK)["charging"] is False
    fake.device_offline(fake.devices[0].device_id)
    await async_wait_for(
        lambda: device(run, fake, 0).get("status") == "rx_offline", 1.0, "offline event"
    )
    fake.set_activity(fake.devices[1].device_id, 0, "CLIPPING")
    await async_wait_for(
        lambda: device(run, fake, 1).get("status") == "audio_peak", 1.0, "clipping event"
    )


async def test_polling_fallback_with_etags(
    make_fake: FakeFactory, make_source: SourceFactory
) -> None:
    from dataclasses import replace

    api = await make_fake(subscriptions=False)
    run = await make_source(api, tuning=replace(FAST, poll_normal_s=0.2, poll_alert_s=0.1))
    await async_wait_for(lambda: health_is(run, updates="polling"), 10, "polling mode")
    await async_wait_for(lambda: device(run, api, PACK).get("battery_level") == 80, 5, "pack")
    api.set_battery(api.devices[PACK].device_id, 9)
    await async_wait_for(lambda: device(run, api, PACK).get("battery_level") == 9, 5, "polled")
    assert device(run, api, PACK)["status"] == "critical"
    await async_wait_for(
        lambda: any(r.status == 304 for r in api.requests), 5, "a conditional GET answered 304"
    )
    assert run.last_health["status"] == "healthy"


async def test_wrong_key_says_unauthorized_and_breaks_nothing(
    fake: FakeSystemApi, make_source: SourceFactory, tmp_path: Path
) -> None:
    hub = Hub()
    hub.upsert_receiver("10.9.9.9", address="10.9.9.9", channels=2)
    hub.set_source_state("10.9.9.9", SourceState.ONLINE)
    key = write_key(tmp_path / "wrong.key", "not-the-key")
    run = await make_source(fake, hub=hub, key=key)
    await async_wait_for(
        lambda: health_is(run, status="down", state="unauthorized"), 5, "unauthorized"
    )
    assert "API key was refused" in run.last_health["message"]
    assert "not-the-key" not in str(run.health) + str(run.connections)
    assert run.connections[-1]["status"] == "error"
    assert set(hub.receivers) == {"10.9.9.9"} and hub.receivers["10.9.9.9"].online
    # The operator fixes the key file: it is re-read, no restart needed.
    write_key(key, fake.api_key)
    await online(run, fake)
    await async_wait_for(lambda: health_is(run, status="healthy"), 5, "healthy again")


async def test_server_errors_and_garbage_back_off_and_count(
    fake: FakeSystemApi, make_source: SourceFactory
) -> None:
    run = await make_source(fake)
    await online(run, fake)
    fake.drop_subscriptions()  # polling and inventory now carry everything
    fake.fail_with(500)
    # Enough failures to open the breaker; the API is down and its receivers show it.
    await async_wait_for(lambda: health_is(run, status="down"), 5, "down after 500s")
    await async_wait_for(
        lambda: device(run, fake, 0).get("status") == "rx_offline", 5, "receivers marked"
    )
    sent = len(fake.requests)
    counted = run.last_health["error_count"]
    assert counted >= 3
    assert run.source.client is not None and run.source.client.breaker.failures >= 3
    fake.heal()
    fake.malformed()
    await async_wait_for(
        lambda: health_is(run, state="bad_response"), 5, "malformed replies counted"
    )
    assert run.last_health["error_count"] > counted
    assert "not JSON" in run.last_health["message"]
    fake.heal()
    await async_wait_for(lambda: health_is(run, status="healthy"), 5, "recovered")
    await async_wait_for(lambda: device(run, fake, 0).get("status") == "good", 5, "online again")
    assert len(fake.requests) > sent


async def test_slow_replies_show_as_slow(fake: FakeSystemApi, make_source: SourceFactory) -> None:
    from dataclasses import replace

    run = await make_source(fake, tuning=replace(FAST, slow_ms=100.0, inventory_s=0.2))
    await online(run, fake)
    fake.slow(0.15)
    await async_wait_for(lambda: health_is(run, status="degraded", state="slow"), 5, "slow")
    fake.heal()
    await async_wait_for(lambda: health_is(run, status="healthy"), 5, "fast again")


async def test_certificate_change_is_refused_after_first_use(
    fake: FakeSystemApi, make_source: SourceFactory, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "micboardd.ssapi")
    first = await make_source(fake)
    await online(first, fake)
    await first.source.stop()
    assert first.source.context is not None
    key = pin_setting_key(first.source.options)
    assert await store.get_setting(key) == fake.fingerprint
    assert format_fingerprint(fake.fingerprint) in caplog.text and "first use" in caplog.text
    old = fake.fingerprint
    fake.rotate_certificate()
    second = await make_source(fake)
    await async_wait_for(lambda: health_is(second, state="tls_mismatch"), 5, "refused")
    message = second.last_health["message"]
    assert second.last_health["status"] == "down"
    assert format_fingerprint(fake.fingerprint) in message and format_fingerprint(old) in message
    assert "certificate changed" in message and "was not sent" in message
    assert not second.hub.receivers
    # The refused connection never carried a request (so never the key).
    assert all(r.key_ok for r in fake.requests)


async def test_configured_fingerprint(fake: FakeSystemApi, make_source: SourceFactory) -> None:
    wrong = await make_source(fake, fingerprint="00" * 32)
    await async_wait_for(lambda: health_is(wrong, state="tls_mismatch"), 5, "refused")
    assert "ssapi_fingerprint" in wrong.last_health["message"]
    right = await make_source(fake, fingerprint=format_fingerprint(fake.fingerprint))
    await online(right, fake)


async def test_ca_file_verification(fake: FakeSystemApi, make_source: SourceFactory) -> None:
    assert fake.cert_file is not None
    run = await make_source(fake, ca_file=fake.cert_file)  # self-signed: it is its own CA
    await online(run, fake)
    other = FakeSystemApi([])
    await other.start()
    try:
        assert other.cert_file is not None
        refused = await make_source(fake, ca_file=other.cert_file)
        await async_wait_for(lambda: health_is(refused, state="tls_mismatch"), 5, "refused")
        assert "not trusted" in refused.last_health["message"]
    finally:
        await other.close()


async def test_rename_and_identify_through_the_hub(
    fake: FakeSystemApi, make_source: SourceFactory
) -> None:
    run = await make_source(fake)
    await online(run, fake)
    await run.hub.rename(f"{rid(fake, 0)}:2", "Bass IEM")
    assert fake.devices[0].channels[1].name == "Bass IEM"
    await run.hub.identify(f"{rid(fake, PACK)}:1")
    assert any(r.path.endswith("/identify/start") for r in fake.requests)


async def test_device_list_changes_follow(fake: FakeSystemApi, make_source: SourceFactory) -> None:
    from dataclasses import replace

    run = await make_source(fake, tuning=replace(FAST, inventory_s=0.2))
    await online(run, fake)
    gone = fake.devices.pop(3)
    await async_wait_for(lambda: own_receiver_id_of(gone) not in run.hub.receivers, 5, "removed")
    fake.devices.append(
        FakeDevice("NEW-DEVICE", "ADTD", "S9", channels=[], battery=battery_body(50))
    )
    await async_wait_for(lambda: "new-device" in run.hub.receivers, 5, "added")


def own_receiver_id_of(device: FakeDevice) -> str:
    from micboardd.ssapi.models import DeviceInfo

    return own_receiver_id(DeviceInfo(device.device_id))


def test_demo_devices_are_plausible() -> None:
    models = [d.model for d in demo_devices()]
    assert models == ["ADTQ", "ADTD", "ULXD1", "SBC220"]


async def test_the_key_is_never_logged(
    fake: FakeSystemApi, make_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every library, every level
    run = await make_source(fake)
    await online(run, fake)
    await run.hub.rename(f"{rid(fake, 0)}:1", "Vox")
    ours = [r for r in caplog.records if not r.name.startswith("uvicorn")]  # uvicorn: the fake
    text = "\n".join(r.getMessage() for r in ours)
    assert "websockets" in {r.name.split(".")[0] for r in ours} or "Request" in text
    assert "HTTP Request" in text  # httpx did log, at INFO
    assert fake.api_key not in text
