"""The SSCv2 simulator over real HTTPS on loopback: auth, certificate, resources, event stream."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from micboardd.aio import cancel_and_wait
from micboardd.model import Reading
from micboardd.sennheiser import sscv2
from micboardd.sennheiser.sscv2 import EventStreamParser, Sscv2Interpreter, SseEvent
from micboardd.sim.sscv2 import MAX_SESSIONS, SimSscv2

from .sennclients import senn_host
from .wireclient import until

PASSWORD = "correct horse"
SimFactory = Callable[..., Awaitable[SimSscv2]]


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    started: list[SimSscv2] = []

    async def factory(model: str = "EWDX-EM2", **options: Any) -> SimSscv2:
        options.setdefault("password", PASSWORD)
        rx = SimSscv2(model, senn_host(), 0, **options)
        started.append(rx)
        await rx.start()
        return rx

    yield factory
    for rx in started:
        await rx.close()


def pinned(rx: SimSscv2) -> ssl.SSLContext:
    assert rx.cert_file is not None
    return ssl.create_default_context(cafile=str(rx.cert_file))


def http(rx: SimSscv2, password: str | None = PASSWORD) -> httpx.AsyncClient:
    headers = {"Authorization": sscv2.basic_auth(password)} if password is not None else {}
    return httpx.AsyncClient(base_url=rx.url, verify=pinned(rx), headers=headers, timeout=5.0)


class Stream:
    """An open `GET /api/ssc/state/subscriptions`, read into events by the codec's parser."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.parser = EventStreamParser()
        self.events: list[SseEvent] = []
        self.status: int | None = None
        self.location: str | None = None
        self.ended = False
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> Stream:
        self._task = asyncio.create_task(self._run())
        await until(lambda: bool(self.events) or self.ended, what="the stream to open")
        return self

    async def _run(self) -> None:
        headers = {"Accept": "text/event-stream"}
        try:
            async with self.client.stream("GET", sscv2.SUBSCRIPTIONS_PATH, headers=headers) as r:
                self.status = r.status_code
                self.location = r.headers.get("content-location")
                async for chunk in r.aiter_raw():
                    self.events += self.parser.feed(chunk)
        except httpx.HTTPError:
            pass
        finally:
            self.ended = True

    @property
    def session(self) -> str:
        return sscv2.parse_open(self.events[0].data).session

    def updates(self, start: int = 1) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for e in self.events[start:]:
            if e.event == "message":
                merged.update({u.path: u.body for u in sscv2.parse_updates(e.data)})
        return merged

    async def wait_for(self, path: str, body: Any = ..., start: int = 1) -> None:
        def seen() -> bool:
            for e in self.events[start:]:
                if e.event != "message":
                    continue
                for u in sscv2.parse_updates(e.data):
                    if u.path == path and (body is ... or u.body == body):
                        return True
            return False

        await until(seen, what=f"an update of {path}")

    async def close(self) -> None:
        await cancel_and_wait(self._task)


@pytest.fixture
async def streams() -> AsyncIterator[Callable[[httpx.AsyncClient], Awaitable[Stream]]]:
    opened: list[Stream] = []

    async def factory(client: httpx.AsyncClient) -> Stream:
        s = await Stream(client).open()
        opened.append(s)
        return s

    yield factory
    for s in opened:
        await s.close()


async def test_version_needs_no_password_and_says_sscv2(make_sim: SimFactory) -> None:
    rx = await make_sim()
    async with http(rx, None) as client:
        r = await client.get(sscv2.VERSION_PATH)
    assert r.status_code == 200
    assert sscv2.parse_version(r.content).speaks_sscv2


@pytest.mark.parametrize("password", [None, "wrong"])
async def test_other_resources_need_the_api_password(
    make_sim: SimFactory, password: str | None
) -> None:
    rx = await make_sim()
    async with http(rx, password) as client:
        r = await client.get("/api/channel/0")
        identity = await client.get("/api/device/identity")  # public in the spec
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert identity.status_code == 200
    assert rx.requests[0].authorized is False


async def test_the_certificate_is_self_signed_and_can_be_pinned(make_sim: SimFactory) -> None:
    rx = await make_sim()
    async with httpx.AsyncClient(base_url=rx.url, timeout=5.0) as untrusting:
        with pytest.raises(httpx.ConnectError):
            await untrusting.get(sscv2.VERSION_PATH)
    assert rx.cert_file is not None
    der = ssl.PEM_cert_to_DER_cert(rx.cert_file.read_text())
    seen = await asyncio.to_thread(ssl.get_server_certificate, (rx.host, rx.port))
    assert hashlib.sha256(ssl.PEM_cert_to_DER_cert(seen)).digest() == hashlib.sha256(der).digest()


async def test_resources_read_into_readings(make_sim: SimFactory) -> None:
    rx = await make_sim(names=["LEAD", "BGV"])
    rx.set_meters(2, rf_dbm=[-72.0, -80.0], af_dbfs=-18.0)
    interpreter = Sscv2Interpreter(max_channels=2)
    readings: list[Reading] = []
    async with http(rx) as client:
        for path in sscv2.resource_paths(2):
            r = await client.get(path)
            assert r.status_code == 200, path
            readings += interpreter.interpret(path, r.json())
    state: dict[int, dict[str, Any]] = {}
    for reading in readings:
        state.setdefault(reading.channel, {}).update(reading.fields)
    assert state[0]["model"] == "EW-DX EM 2" and state[0]["firmware"] == "1.2.13"
    assert state[1]["name"] == "LEAD" and state[1]["battery_level"] == 100
    assert state[2]["rf_signal"] == -72.0 and state[2]["antenna"] == "A"
    assert state[2]["audio_level"] == -18.0 and state[2]["rf_quality"] == "good"
    assert state[2]["tx_on"] is True and state[2]["frequency_mhz"] == 658.275


async def test_no_transmitter_is_422_on_its_resources(make_sim: SimFactory) -> None:
    rx = await make_sim(tx_on=False)
    async with http(rx) as client:
        battery = await client.get("/api/transmitters/0/battery")
        warnings = await client.get("/api/channel/0/warnings")
        unknown = await client.get("/api/channel/9")
    assert battery.status_code == 422
    assert warnings.json() == ["NoLink"]
    assert unknown.status_code == 404


async def test_event_stream_open_add_change_remove_and_delete(
    make_sim: SimFactory, streams: Callable[[httpx.AsyncClient], Awaitable[Stream]]
) -> None:
    rx = await make_sim()
    async with http(rx) as client:
        stream = await streams(client)
        assert stream.status == 200 and stream.events[0].event == "open"
        session = stream.session
        assert stream.location is not None
        assert sscv2.session_from_location(stream.location) == session
        paths = ["/api/channel/0", "/api/channel/0/warnings", "/api/transmitters/0/battery",
                 "/api/channel/0/level"]  # fmt: skip
        r = await client.put(sscv2.add_path(session), content=sscv2.paths_body(paths))
        assert r.status_code == 200
        await stream.wait_for("/api/transmitters/0/battery")
        assert set(stream.updates()) == set(paths)  # the current values at once
        listed = await client.get(sscv2.subscription_path(session))
        assert sscv2.parse_paths(listed.content) == paths

        rx.tx_off(1)
        await stream.wait_for("/api/transmitters/0/battery", {})
        await stream.wait_for("/api/channel/0/warnings", ["NoLink"])
        await stream.wait_for("/api/channel/0/level", {"value": -138.5})
        rx.tx_on(1)
        await stream.wait_for(
            "/api/transmitters/0/battery", {"type": "Battery", "lifetime": 600, "gauge": 100}
        )

        r = await client.put(sscv2.remove_path(session), content=sscv2.paths_body(paths[:1]))
        assert r.status_code == 200
        mark = len(stream.events)
        rx.front_panel_rename(1, "NEW")  # /api/channel/0 is no longer subscribed
        rx.battery_drain(1, percent=50)
        await stream.wait_for("/api/transmitters/0/battery", start=mark)
        assert "/api/channel/0" not in stream.updates(mark)

        r = await client.delete(sscv2.subscription_path(session))
        assert r.status_code == 200
        await until(lambda: stream.ended, what="the stream to end")
        assert stream.events[-1].event == "close"
        assert rx.sessions == {}
        gone = await client.put(sscv2.add_path(session), content=sscv2.paths_body(paths))
        assert gone.status_code == 422


async def test_replacing_the_list_and_refusing_unknown_resources(
    make_sim: SimFactory, streams: Callable[[httpx.AsyncClient], Awaitable[Stream]]
) -> None:
    rx = await make_sim()
    async with http(rx) as client:
        stream = await streams(client)
        session = stream.session
        bad = await client.put(
            sscv2.add_path(session), content=sscv2.paths_body(["/api/rf", "/api/nothing"])
        )
        assert bad.status_code == 400
        assert sscv2.parse_add_error(bad.content) == ("/api/nothing", 404)
        junk = await client.put(sscv2.add_path(session), content=b"{not json")
        assert junk.status_code == 400
        body = sscv2.paths_body(["/api/rf/channels/1"])
        assert (await client.put(sscv2.subscription_path(session), content=body)).status_code == 200
        await stream.wait_for(
            "/api/rf/channels/1", {"frequency": 658275, "presets": {"type": "None"}}
        )


async def test_a_ninth_session_is_refused(make_sim: SimFactory) -> None:
    rx = await make_sim()
    async with http(rx) as client:
        opened = [await Stream(client).open() for _ in range(MAX_SESSIONS)]
        try:
            assert len(rx.sessions) == MAX_SESSIONS
            r = await client.get(sscv2.SUBSCRIPTIONS_PATH)
            assert r.status_code == 429
        finally:
            for s in opened:
                await s.close()
        await until(lambda: not rx.sessions, what="sessions of closed streams to go")


async def test_setting_a_channel_reaches_subscribers(
    make_sim: SimFactory, streams: Callable[[httpx.AsyncClient], Awaitable[Stream]]
) -> None:
    rx = await make_sim()
    async with http(rx) as client:
        stream = await streams(client)
        body = sscv2.paths_body(["/api/channel/1"])
        await client.put(sscv2.add_path(stream.session), content=body)
        r = await client.put("/api/channel/1", json={"name": "KEYS", "mute": True})
        assert r.status_code == 200
        await stream.wait_for("/api/channel/1")
        await until(lambda: stream.updates().get("/api/channel/1", {}).get("mute") is True)
        assert stream.updates()["/api/channel/1"]["name"] == "KEYS"
        refused = await client.put("/api/channel/1", json={"name": "lower case"})
        assert refused.status_code == 400


async def test_power_loss_ends_streams_and_restore_keeps_port_and_certificate(
    make_sim: SimFactory, streams: Callable[[httpx.AsyncClient], Awaitable[Stream]]
) -> None:
    rx = await make_sim()
    assert rx.cert_file is not None
    certificate = rx.cert_file.read_bytes()
    port = rx.port
    async with http(rx) as client:
        stream = await streams(client)
        await rx.power_loss()
        await until(lambda: stream.ended, what="the stream to end")
        assert [e.event for e in stream.events] == ["open"]  # no close event
        await rx.power_restore()
        assert rx.port == port and rx.cert_file.read_bytes() == certificate
        r = await client.get(sscv2.VERSION_PATH)
        assert r.status_code == 200


async def test_a_hung_receiver_holds_requests_until_it_recovers(make_sim: SimFactory) -> None:
    rx = await make_sim()
    async with http(rx) as client:
        rx.hang(True)
        pending = asyncio.create_task(client.get("/api/channel/0"))
        await until(lambda: len(rx.requests) == 1, what="the request to arrive")
        assert not pending.done()
        rx.hang(False)
        r = await pending
        assert r.status_code == 200


async def test_garbage_in_the_stream_does_not_stop_later_events(
    make_sim: SimFactory, streams: Callable[[httpx.AsyncClient], Awaitable[Stream]]
) -> None:
    rx = await make_sim()
    async with http(rx) as client:
        stream = await streams(client)
        await client.put(
            sscv2.add_path(stream.session), content=sscv2.paths_body(["/api/rf/encryption"])
        )
        await stream.wait_for("/api/rf/encryption")
        rx.send_garbage(b"\xff\xfe\x00 nonsense\n\n")
        rx.state.encryption = True
        rx.publish()
        await stream.wait_for("/api/rf/encryption", {"enabled": True})


def test_models_without_sscv2_are_refused() -> None:
    with pytest.raises(ValueError, match="SimG4"):
        SimSscv2("EM300G3", "127.0.0.1")
