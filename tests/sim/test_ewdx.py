"""The EW-DX simulator over real UDP sockets on loopback, read with the SSC v1 codec."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from micboardd.sennheiser import ssc1
from micboardd.sennheiser.errors import BadDatagram
from micboardd.sennheiser.ssc1 import Meter, Ssc1Interpreter, SscError, SubscriptionAck, Value
from micboardd.sim.ewdx import SimEwdx

from .sennclients import SscClient, is_ack, is_error, is_value, senn_host
from .wireclient import until

EwdxFactory = Callable[..., Awaitable[SimEwdx]]
ClientFactory = Callable[[SimEwdx], Awaitable[SscClient]]
METERS_1 = ssc1.meter_paths(1)


@pytest.fixture
async def make_ewdx() -> AsyncIterator[EwdxFactory]:
    started: list[SimEwdx] = []

    async def factory(model: str = "EWDX-EM2", **options: Any) -> SimEwdx:
        rx = SimEwdx(model, senn_host(), 0, **options)
        started.append(rx)
        await rx.start()
        return rx

    yield factory
    for rx in started:
        await rx.close()


@pytest.fixture
async def client() -> AsyncIterator[ClientFactory]:
    opened: list[SscClient] = []

    async def factory(rx: SimEwdx) -> SscClient:
        c: SscClient = await SscClient.open((rx.host, rx.port), (senn_host(), 0))
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.close()


def get(c: SscClient, *paths: ssc1.Path) -> None:
    c.send(ssc1.get_request(paths))


def subscribe(c: SscClient, paths: tuple[ssc1.Path, ...], **params: Any) -> None:
    c.send(ssc1.subscribe_request(paths, **params))


# --- get and set -----------------------------------------------------------------------------


async def test_identity_and_channels_read_like_the_real_unit(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx(names=["MC1", "MC2"])
    c = await client(rx)
    get(c, *ssc1.IDENTITY_PATHS, *ssc1.channel_paths(1), *ssc1.channel_paths(2))
    await c.wait_count(1)
    document = json.loads(c.datagrams[0])
    assert list(document) == ["rx2", "rx1", "device"]  # its own order, not the request's
    assert list(document["device"]) == ["name", "identity"]
    state: dict[int, dict[str, Any]] = {}
    for reading in Ssc1Interpreter().interpret_all(c.messages()):
        state.setdefault(reading.channel, {}).update(reading.fields)
    assert state[0]["model"] == "EW-DX EM 2" and state[0]["firmware"] == "1.2.13"
    assert state[1]["name"] == "MC1" and state[2]["frequency_mhz"] == 658.275
    assert state[1]["tx_on"] is True and state[1]["interference"] is False


async def test_every_source_port_is_answered_at_that_port(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx()
    a, b = await client(rx), await client(rx)
    get(a, ("rx1", "name"))
    get(b, ("rx2", "name"))
    await a.wait_for(is_value(("rx1", "name"), "VOX 1"))
    await b.wait_for(is_value(("rx2", "name"), "VOX 2"))
    assert not a.matching(is_value(("rx2", "name")))


async def test_unknown_paths_containers_meters_and_garbage_get_errors(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx()
    c = await client(rx)
    get(c, ("rx1", "colour"), ("rx1", "name"))
    await c.wait_for(is_error(404, ("rx1", "colour")))
    await c.wait_for(is_value(("rx1", "name")))
    c.send(b'{"device":null}')
    await c.wait_for(is_error(404, ("device",)))
    get(c, ("m", "rx1", "rssi"))  # meters come only by subscription
    await c.wait_for(is_error(404, ("m", "rx1", "rssi")))
    c.send(b"not json at all")
    await c.wait_for(is_error(400, None))
    assert rx.garbage_received == 1


async def test_transmitter_off_answers_424_per_leaf_and_no_link(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx(tx_on=False)
    c = await client(rx)
    get(c, *ssc1.transmitter_paths(1), ("rx1", "warnings"))
    errors = await c.wait_for(is_error(424), len(ssc1.transmitter_paths(1)))
    assert {e.path for e in errors if isinstance(e, SscError)} == set(ssc1.transmitter_paths(1))
    await c.wait_for(is_value(("rx1", "warnings"), ["NoLink"]))


async def test_set_is_echoed_and_told_to_subscribers(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx()
    watcher, setter = await client(rx), await client(rx)
    subscribe(watcher, (("rx1", "name"), ("rx1", "mute")), lifetime_s=30)
    await watcher.wait_for(is_value(("rx1", "name"), "VOX 1"))
    setter.send(ssc1.set_request({("rx1", "name"): "LEAD", ("rx1", "mute"): True}))
    await setter.wait_for(is_value(("rx1", "name"), "LEAD"))
    await watcher.wait_for(is_value(("rx1", "mute"), True))
    await watcher.wait_for(is_value(("rx1", "name"), "LEAD"))
    setter.send(ssc1.set_request({("rx1", "name"): "much too long", ("rx1", "gain"): 3}))
    await setter.wait_for(is_error(406), 2)
    assert rx.channels[0].name == "LEAD"


# --- subscriptions ---------------------------------------------------------------------------


async def test_meter_subscription_ack_values_and_one_leaf_per_change(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx()
    c = await client(rx)
    subscribe(c, METERS_1, lifetime_s=30, count=0)
    (ack,) = await c.wait_for(is_ack)
    assert isinstance(ack, SubscriptionAck)
    assert (ack.params.lifetime_s, ack.params.count, ack.params.min_ms) == (30, 0, 0)
    assert set(ack.paths) == set(METERS_1)
    await c.wait_for(lambda m: isinstance(m, Meter), 4)
    start = len(c.datagrams)
    rx.set_meters(1, rf_dbm=[-70.0, -80.0], af_dbfs=-12.0)
    await c.wait_for(is_value(("m", "rx1", "rssi"), -70.0), start=start)
    await c.wait_for(is_value(("m", "rx1", "af"), -12.0), start=start)
    for data in c.datagrams[1:]:  # every meter datagram holds exactly one leaf
        document = json.loads(data)
        assert len(document["m"]) == 1 and len(next(iter(document["m"].values()))) == 1


async def test_expiry_is_one_310_per_leaf(make_ewdx: EwdxFactory, client: ClientFactory) -> None:
    rx = await make_ewdx()
    c = await client(rx)
    paths = ssc1.meter_paths(1) + ssc1.meter_paths(2)
    subscribe(c, paths, lifetime_s=1)
    await c.wait_for(is_ack)
    ended = await c.wait_for(is_error(310), len(paths))
    assert sorted(e.path for e in ended if isinstance(e, SscError) and e.path) == sorted(paths)
    assert all(len(json.loads(d)["osc"]["error"]) == 1 for d in c.datagrams if b"310" in d)
    assert rx.subscriptions == []


async def test_renewal_keeps_a_subscription_alive(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx()
    c = await client(rx)
    subscribe(c, METERS_1, lifetime_s=1)
    await c.wait_for(is_ack)
    loop_time = asyncio.get_running_loop().time
    first = rx.subscriptions[0].expires
    for renewal in range(2, 5):
        # Renew when most of the lifetime has gone: each renewal pushes the expiry on.
        await until(lambda: loop_time() > rx.subscriptions[0].expires - 0.4, 3.0, "renew time")
        subscribe(c, METERS_1, lifetime_s=1)
        await c.wait_for(is_ack, renewal)
    assert rx.subscriptions[0].expires > first + 1.0
    assert not c.matching(is_error(310))
    await c.wait_for(is_error(310), 4)


async def test_cancel_ends_without_310(make_ewdx: EwdxFactory, client: ClientFactory) -> None:
    rx = await make_ewdx()
    c = await client(rx)
    subscribe(c, METERS_1, lifetime_s=1)
    await c.wait_for(is_ack)
    c.send(ssc1.cancel_request(METERS_1))
    (_, cancel) = await c.wait_for(is_ack, 2)
    assert isinstance(cancel, SubscriptionAck) and cancel.params.cancel
    assert rx.subscriptions == []
    get(c, ("rx1", "name"))  # answered after any expiry would have been due
    await c.wait_for(is_value(("rx1", "name")))
    assert not c.matching(is_error(310))


async def test_transmitter_off_and_on_reach_subscribers(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx()
    c = await client(rx)
    subscribe(c, (*ssc1.channel_paths(1), *ssc1.transmitter_paths(1), *METERS_1), lifetime_s=30)
    await c.wait_for(is_value(("mates", "tx1", "battery", "gauge"), 100))
    start = len(c.datagrams)
    rx.tx_off(1)
    await c.wait_for(is_error(424), len(ssc1.transmitter_paths(1)), start=start)
    await c.wait_for(is_value(("rx1", "warnings"), ["NoLink"]), start=start)
    await c.wait_for(is_value(("m", "rx1", "rssi"), -107.0), start=start)
    await c.wait_for(is_value(("m", "rx1", "af"), -138.5), start=start)
    start = len(c.datagrams)
    rx.tx_on(1)
    rx.battery_drain(1, percent=40)
    await c.wait_for(is_value(("rx1", "warnings"), []), start=start)
    await c.wait_for(is_value(("mates", "tx1", "battery", "gauge"), 40), start=start)
    interpreter = Ssc1Interpreter()
    tx_on = [
        r.fields["tx_on"] for r in interpreter.interpret_all(c.messages()) if "tx_on" in r.fields
    ]
    assert tx_on[-1] is True and False in tx_on


async def test_count_ends_a_subscription_after_that_many_notifications(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx(meter_jitter=True)
    c = await client(rx)
    subscribe(c, (("m", "rx1", "rssi"),), lifetime_s=60, count=3)
    await c.wait_for(is_error(310, ("m", "rx1", "rssi")))
    updates = c.matching(is_value(("m", "rx1", "rssi")))
    assert len(updates) == 1 + 3  # the current value, then three notifications


async def test_max_period_repeats_unchanged_meters(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx()
    c = await client(rx)
    subscribe(c, (("m", "rx1", "divi"),), lifetime_s=30, max_ms=200)
    values = await c.wait_for(is_value(("m", "rx1", "divi"), 1), 3)
    assert len(values) >= 3  # unchanged, yet repeated every 200 ms
    assert rx.channels[0].tx_present


async def test_a_ninth_client_gets_no_subscription(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx()
    clients = [await client(rx) for _ in range(9)]
    for c in clients[:8]:
        subscribe(c, (("rx1", "name"),), lifetime_s=30)
        await c.wait_for(is_ack)
    ninth = clients[8]
    subscribe(ninth, (("rx1", "name"),), lifetime_s=30)
    get(ninth, ("rx1", "frequency"))  # gets are still answered
    await ninth.wait_for(is_value(("rx1", "frequency")))
    assert not ninth.matching(is_ack) and rx.clients == 8
    clients[0].send(ssc1.cancel_request([("rx1", "name")]))
    await until(lambda: rx.clients == 7, what="a slot to free")
    subscribe(ninth, (("rx1", "name"),), lifetime_s=30)
    await ninth.wait_for(is_ack)


# --- loss, hang, garbage ---------------------------------------------------------------------


async def test_power_loss_and_restore_on_the_same_port(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx()
    c = await client(rx)
    subscribe(c, METERS_1, lifetime_s=30)
    await c.wait_for(is_ack)
    port = rx.port
    await rx.power_loss()
    assert not rx.powered and rx.subscriptions == []
    await rx.power_restore()
    assert rx.port == port
    get(c, ("rx1", "name"))
    await c.wait_for(is_value(("rx1", "name")))
    assert rx.subscriptions == []  # a rebooted receiver forgot them


async def test_a_hung_receiver_answers_nothing(
    make_ewdx: EwdxFactory, client: ClientFactory
) -> None:
    rx = await make_ewdx()
    c = await client(rx)
    rx.hang(True)
    get(c, ("rx1", "name"))
    await until(lambda: rx.ignored == 1, what="the request to arrive")
    rx.hang(False)
    get(c, ("rx2", "name"))
    await c.wait_for(is_value(("rx2", "name")))
    assert not c.matching(is_value(("rx1", "name")))  # the request made while hung is lost
    assert rx.received == [ssc1.get_request([("rx2", "name")])]


async def test_garbage_reaches_every_client(make_ewdx: EwdxFactory, client: ClientFactory) -> None:
    rx = await make_ewdx()
    c = await client(rx)
    get(c, ("rx1", "name"))
    await c.wait_count(1)
    rx.send_garbage(b"\x00\xff{{{")
    await c.wait_count(2)
    with pytest.raises(BadDatagram):
        ssc1.parse_datagram(c.datagrams[1])


def test_models_that_do_not_speak_ssc_are_refused() -> None:
    with pytest.raises(ValueError, match="SimG4"):
        SimEwdx("EM300G3", "127.0.0.1")


async def test_em4_serves_four_channels(make_ewdx: EwdxFactory, client: ClientFactory) -> None:
    rx = await make_ewdx("EWDX-EM4-DANTE")
    c = await client(rx)
    get(c, ("device", "identity", "product"), ("rx4", "name"))
    await c.wait_for(is_value(("rx4", "name"), "VOX 4"))
    (product,) = c.matching(is_value(("device", "identity", "product")))
    assert isinstance(product, Value) and product.value == "EWDX4CHD"
