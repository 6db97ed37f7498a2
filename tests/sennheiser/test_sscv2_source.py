"""The SSCv2 session against the simulated EW-DX (firmware 4) over real HTTPS on loopback:
version probe, password, certificate pin, subscriptions, values into the hub, loss, return."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from micboardd.model import Family, SourceState
from micboardd.sennheiser import sscv2_machine as machine_mod
from micboardd.sennheiser.sscv2 import resource_paths
from micboardd.sennheiser.sscv2_client import Sscv2Client
from micboardd.sennheiser.sscv2_machine import Sscv2Machine
from micboardd.sennheiser.sscv2_trust import MemoryPins, Password
from micboardd.sim.sscv2 import SimSscv2
from micboardd.sources.ports import ProbeResult
from micboardd.state.hub import Hub
from micboardd.tls.pinning import make_context

from ..helpers import async_wait_for
from ..sim.sennclients import senn_host

pytestmark = pytest.mark.both_loops  # the session's watchdog, heartbeat and backoff timers

PASSWORD = "stage-left"
RX = "ewdx"
SimFactory = Callable[..., Awaitable[SimSscv2]]


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    started: list[SimSscv2] = []

    async def factory(model: str = "EWDX-EM2", **options: Any) -> SimSscv2:
        options.setdefault("password", PASSWORD)
        rx = SimSscv2(model, options.pop("host", None) or senn_host(), 0, **options)
        started.append(rx)
        await rx.start()
        return rx

    yield factory
    for rx in started:
        await rx.close()


class Rig:
    """A hub, a machine for one simulated receiver, and the pins it keeps."""

    def __init__(self, rx: SimSscv2, password: str | None = PASSWORD) -> None:
        self.rx = rx
        self.hub = Hub()
        self.hub.upsert_receiver(RX, address=rx.host, port=rx.port, family=Family.EWDX)
        self.pins = MemoryPins()
        self.password: str | None = password
        self.machine = Sscv2Machine(
            self.hub,
            RX,
            rx.host,
            rx.port,
            pins=self.pins,
            password=lambda: Password(self.password) if self.password is not None else None,
            on_identified=self.identified,
        )

    async def identified(self, identity: ProbeResult) -> None:
        """What the owner does with an identity (the receiver manager does the same)."""
        self.hub.upsert_receiver(
            RX,
            address=self.rx.host,
            port=self.rx.port,
            family=identity.family,
            model=identity.model,
            channels=identity.channels,
        )

    def device(self, channel: int) -> Any:
        return self.hub.devices[f"{RX}:{channel}"]

    @property
    def receiver(self) -> Any:
        return self.hub.receivers[RX]

    async def online(self) -> None:
        await async_wait_for(lambda: self.machine.state is SourceState.ONLINE, what="online")


@pytest.fixture
async def rigs() -> AsyncIterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        await rig.machine.stop()


def rig_for(rigs: list[Rig], rx: SimSscv2, password: str | None = PASSWORD) -> Rig:
    rig = Rig(rx, password)
    rigs.append(rig)
    return rig


def cert_sha256(rx: SimSscv2) -> str:
    assert rx.cert_file is not None
    der = ssl.PEM_cert_to_DER_cert(rx.cert_file.read_text())
    return hashlib.sha256(der).hexdigest()


async def test_version_probe_subscription_and_values_reach_the_hub(
    make_sim: SimFactory, rigs: list[Rig]
) -> None:
    rx = await make_sim(names=["VOX 1", "VOX 2"])
    rig = rig_for(rigs, rx)
    rig.machine.start()
    await rig.online()
    # The version first and without credentials, then the identity, then the stream.
    first = rx.requests[0]
    assert (first.method, first.path, first.authorized) == ("GET", "/api/ssc/version", False)
    assert rig.receiver.model == "EW-DX EM 2" and rig.receiver.channels == 2
    assert rig.receiver.family is Family.EWDX and rig.receiver.family.manufacturer == "sennheiser"
    identity = rig.machine.identity
    assert identity is not None and identity.transport == "sscv2"
    session = rig.machine.session
    assert session is not None and rx.sessions[session].paths == resource_paths(2)
    await async_wait_for(lambda: rig.device(2).name == "VOX 2", what="names")
    dev = rig.device(1)
    assert dev.name == "VOX 1" and dev.frequency_mhz == pytest.approx(650.425)
    assert dev.battery_level is not None and dev.rf_signal is not None
    # Changes come over the event stream: a rename on the front panel, the meters.
    rx.front_panel_rename(1, "LEAD")
    rx.set_meters(1, rf_dbm=[-70.0], af_dbfs=-20.0)
    await async_wait_for(
        lambda: rig.device(1).name == "LEAD" and rig.device(1).rf_signal == -70.0,
        what="the rename and the meters over the event stream",
    )
    assert rig.device(1).audio_level == -20.0
    rx.tx_off(2)
    await async_wait_for(lambda: rig.device(2).battery_level is None, what="transmitter off")
    # The certificate seen first is pinned: the simulator's own.
    assert rig.pins.pins[rig.machine.host_port] == cert_sha256(rx)


async def test_a_password_the_receiver_refuses_is_an_error_that_says_so(
    make_sim: SimFactory, rigs: list[Rig]
) -> None:
    rx = await make_sim()
    rig = rig_for(rigs, rx, password="wrong")
    rig.machine.start()
    await async_wait_for(lambda: rig.machine.state is SourceState.ERROR, what="an error")
    assert "refused the SSCv2 password" in (rig.receiver.error or "")
    assert "wrong" not in (rig.receiver.error or "")  # never the password itself
    assert rig.device(1).status == "rx_offline" and rig.device(1).name is None
    # Set the right one and wake it: it comes in without waiting out the slow retry.
    rig.password = PASSWORD
    rig.machine.wake()
    await rig.online()


async def test_no_password_set_means_sscv2_needs_a_password(
    make_sim: SimFactory, rigs: list[Rig]
) -> None:
    rx = await make_sim()
    rig = rig_for(rigs, rx, password=None)
    rig.machine.start()
    await async_wait_for(lambda: rig.machine.state is SourceState.ERROR, what="an error")
    assert "SSCv2 needs a password" in (rig.receiver.error or "")
    assert not any(r.path.startswith("/api/ssc/state") for r in rx.requests)


async def test_a_changed_certificate_is_refused_before_the_password_is_sent(
    make_sim: SimFactory, rigs: list[Rig]
) -> None:
    rx = await make_sim()
    rig = rig_for(rigs, rx)
    other = "ab" * 32
    rig.pins.pins[rig.machine.host_port] = other
    rig.machine.start()
    await async_wait_for(lambda: rig.machine.state is SourceState.ERROR, what="an error")
    error = rig.receiver.error or ""
    assert "certificate changed" in error and "password was not sent" in error
    assert ("AB:" * 31 + "AB") in error  # the pinned fingerprint, as openssl shows it
    assert not rx.requests  # the handshake failed: not one byte of HTTP reached it


async def test_a_box_in_legacy_mode_or_no_sscv2_is_refused_with_why(
    make_sim: SimFactory, rigs: list[Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("micboardd.sim.sscv2.PROTOCOL_VERSION", "1.0")
    rx = await make_sim()
    rig = rig_for(rigs, rx)
    rig.machine.start()
    await async_wait_for(lambda: rig.machine.state is SourceState.ERROR, what="an error")
    assert "not SSCv2" in (rig.receiver.error or "") and "port 45" in (rig.receiver.error or "")


async def test_subscriptions_are_added_and_removed_in_the_session(make_sim: SimFactory) -> None:
    rx = await make_sim()
    context = make_context(ca_file=None, pin=None)
    async with Sscv2Client(rx.host, rx.port, context, Password(PASSWORD)) as client:
        assert (await client.version()).speaks_sscv2
        async with client.stream() as stream:
            session = stream.session
            assert session is not None and session in rx.sessions
            level = "/api/channel/0/level"
            await client.add(session, ["/api/channel/0", level])
            assert await client.subscriptions(session) == ["/api/channel/0", level]
            await client.remove(session, [level])
            assert rx.sessions[session].paths == ["/api/channel/0"]
            await client.end(session)
            assert session not in rx.sessions


async def test_a_lost_receiver_goes_offline_and_comes_back(
    make_sim: SimFactory, rigs: list[Rig]
) -> None:
    rx = await make_sim()
    rig = rig_for(rigs, rx)
    rig.machine.start()
    await rig.online()
    await async_wait_for(lambda: rig.device(1).rf_signal is not None, what="meters")
    await rx.power_loss()  # the stream drops without `event: close`
    await async_wait_for(lambda: not rig.receiver.online, what="offline")
    assert rig.device(1).status == "rx_offline" and rig.device(1).rf_signal is None
    await rx.power_restore()
    await rig.online()
    await async_wait_for(lambda: rig.device(1).rf_signal is not None, what="meters again")
    assert rig.machine.connects >= 2


async def test_a_silent_receiver_goes_offline_on_the_watchdog(
    make_sim: SimFactory, rigs: list[Rig]
) -> None:
    rx = await make_sim()
    rig = rig_for(rigs, rx)
    rig.machine.start()
    await rig.online()
    rx.hang()  # connections stay up, nothing is answered or sent
    await async_wait_for(lambda: not rig.receiver.online, what="offline on silence")
    assert "no data" in (rig.receiver.error or "")
    assert rig.device(1).status == "rx_offline"
    rx.hang(False)
    await rig.online()


async def test_a_still_receiver_stays_online_on_heartbeats(
    make_sim: SimFactory, rigs: list[Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing changes on the receiver, so it sends no events: the heartbeats keep it seen.
    monkeypatch.setattr(machine_mod, "SILENCE_S", 0.6)
    monkeypatch.setattr(machine_mod, "HEARTBEAT_IDLE_S", 0.15)
    rx = await make_sim()
    rig = rig_for(rigs, rx)
    rig.machine.start()
    await rig.online()
    session = rig.machine.session
    assert session is not None
    listed = f"GET /api/ssc/state/subscriptions/{session}".encode()
    before = sum(r.startswith(listed) for r in rx.received)
    await async_wait_for(
        lambda: sum(r.startswith(listed) for r in rx.received) >= before + 8,
        what="eight heartbeats",
    )
    assert rig.machine.connects == 1 and rig.machine.state is SourceState.ONLINE
    assert rig.receiver.latency_ms is not None


async def test_stop_ends_the_session_on_the_receiver(make_sim: SimFactory, rigs: list[Rig]) -> None:
    rx = await make_sim()
    rig = rig_for(rigs, rx)
    rig.machine.start()
    await rig.online()
    assert len(rx.sessions) == 1
    await rig.machine.stop()
    assert not rx.sessions  # DELETE frees one of the receiver's few session slots
    assert rig.machine.state is SourceState.DISCONNECTED
