"""The receiver state machine against simulated receivers on loopback: what it shows, when."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from micboardd.model import Family, SourceState
from micboardd.shure import machine as machine_mod
from micboardd.shure.codec import Framing
from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.link import Link
from micboardd.shure.machine import ReceiverMachine
from micboardd.sim.receiver import SimReceiver
from micboardd.state.hub import Hub

from ..helpers import async_wait_for

pytestmark = pytest.mark.both_loops  # the machine's watchdog, heartbeat and backoff timers


def ulxd_machine(rx: SimReceiver) -> tuple[Hub, ReceiverMachine]:
    """A machine for a simulated 4-channel ULX-D metering every 100 ms, and its hub."""
    hub = Hub()
    hub.upsert_receiver("rx", address="127.0.0.1", family=Family.ULXD, channels=4)
    machine = ReceiverMachine(hub, "rx", rx.host, rx.port, meter_rate_ms=100)
    return hub, machine


async def test_a_metering_receiver_stays_online_across_many_watchdog_periods(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Short periods so the test sees many of them: the watchdog's scope is renewed while data
    # flows, and heartbeats still go out on time between reads.
    monkeypatch.setattr(machine_mod, "SILENCE_S", 0.3)
    monkeypatch.setattr(machine_mod, "HEARTBEAT_S", 0.4)
    async with SimReceiver("ULXD4Q") as rx:
        hub, s = ulxd_machine(rx)
        s.start()
        try:
            await async_wait_for(lambda: s.state is SourceState.ONLINE, what="online")
            heartbeat = "GET 1 METER_RATE"
            sent_before = sum(heartbeat in f for f in rx.received)
            await async_wait_for(
                lambda: sum(heartbeat in f for f in rx.received) >= sent_before + 4,
                timeout=5,
                what="four more heartbeats",
            )
            # Over at least five watchdog periods: never dropped, never reconnected.
            assert s.connects == 1 and s.state is SourceState.ONLINE
            assert hub.receivers["rx"].latency_ms is not None
        finally:
            await s.stop()


class SwallowingLink:
    """A real link whose heartbeat send, once armed, swallows a cancellation the way Python
    3.11's wait_for did when its inner await finished in the same loop pass."""

    def __init__(self, inner: Link) -> None:
        self.inner = inner
        self.armed = False
        self.in_send = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def send(self, data: bytes) -> None:
        await self.inner.send(data)
        if self.armed and b"METER_RATE" in data:
            self.armed = False
            self.in_send.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass  # what the library did: return as if nothing happened


async def test_stop_ends_a_session_even_when_a_cancellation_was_swallowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(machine_mod, "HEARTBEAT_S", 0.2)  # a heartbeat soon after arming
    links: list[SwallowingLink] = []

    from micboardd.shure.probe import open_probe_link as real_open

    async def swallowing_open(*args: Any, **kw: Any) -> tuple[Any, str, Any]:
        link, transport, refused = await real_open(*args, **kw)
        links.append(SwallowingLink(link))
        return links[-1], transport, refused

    monkeypatch.setattr(machine_mod, "open_probe_link", swallowing_open)
    async with SimReceiver("ULXD4Q") as rx:
        _, s = ulxd_machine(rx)
        s.start()
        await async_wait_for(lambda: s.state is SourceState.ONLINE, what="online")
        links[0].armed = True
        async with asyncio.timeout(5):
            await links[0].in_send.wait()
        try:
            async with asyncio.timeout(5):  # before the fix: never, the session kept metering
                await s.stop()
        finally:
            links[0].inner.deliver_to(lambda _data: None)
            await links[0].inner.close()
        assert s.state is SourceState.DISCONNECTED and s.connects == 1
        meters_off = [f for f in rx.received if "METER_RATE 00000" in f]
        assert meters_off, "the receiver was told to stop metering"


# --- never show OK for a receiver we cannot see ---


class StatusLog:
    """Every status the hub gives the channels of one receiver, in order."""

    def __init__(self, hub: Hub, receiver_id: str = "rx") -> None:
        self.hub = hub
        self.prefix = receiver_id + ":"
        self.seen: list[str] = []
        hub.subscribe(self._on_event)

    def _on_event(self, event: Any) -> None:
        device_id = getattr(event, "device_id", "")
        dev = self.hub.devices.get(device_id)
        if device_id.startswith(self.prefix) and dev is not None:
            self.seen.append(str(dev.status))

    def statuses(self) -> list[str]:
        return [str(d.status) for k, d in self.hub.devices.items() if k.startswith(self.prefix)]


def quick_probe(monkeypatch: pytest.MonkeyPatch, window_s: float = 0.5) -> None:
    """A shorter probe window: these tests are about what is shown, not about 2 s."""
    from micboardd.shure import probe as probe_mod

    monkeypatch.setattr(probe_mod, "PROBE_WINDOW_S", window_s)


async def test_a_hung_receiver_that_accepts_every_connection_never_shows_ok(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quick_probe(monkeypatch)
    monkeypatch.setattr(machine_mod, "SILENCE_S", 0.5)
    async with SimReceiver("ULXD4Q") as rx:
        hub, s = ulxd_machine(rx)
        log = StatusLog(hub)
        s.start()
        try:
            await async_wait_for(lambda: s.state is SourceState.ONLINE, what="online")
            await async_wait_for(lambda: set(log.statuses()) == {"good"}, what="good tiles")
            rx.hang(True)
            await async_wait_for(
                lambda: set(log.statuses()) == {"rx_offline"}, what="rx_offline tiles"
            )
            log.seen.clear()
            connects = s.connects
            # Three more connections, each accepted and each answered with nothing.
            await async_wait_for(lambda: s.connects >= connects + 3, 15, "three reconnects")
            assert set(log.seen) <= {"rx_offline"}, log.seen
            assert not hub.receivers["rx"].online
            assert "answered nothing" in (hub.receivers["rx"].error or "")
            rx.hang(False)
            await async_wait_for(lambda: set(log.statuses()) == {"good"}, 15, "back to good")
        finally:
            await s.stop()


async def test_a_reconnect_shows_nothing_from_the_last_connection_before_the_first_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with SimReceiver("ULXD4Q") as rx:
        hub, s = ulxd_machine(rx)
        s.start()
        try:
            await async_wait_for(lambda: hub.devices["rx:1"].battery_bars == 5, what="bars")
            await rx.power_loss()
            await async_wait_for(lambda: not hub.receivers["rx"].online, what="offline")
            assert hub.devices["rx:1"].battery_bars == 5  # the last word, shown offline
            rx.tx_off(1)  # while it was away, the pack was switched off
            await rx.power_restore()
            await async_wait_for(lambda: hub.receivers["rx"].online, 10, "online again")
            assert hub.devices["rx:1"].status == "tx_off"
            assert hub.devices["rx:1"].battery_bars is None
        finally:
            await s.stop()


async def test_a_slow_boot_is_offline_until_it_answers_then_online_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quick_probe(monkeypatch)
    async with SimReceiver("AD4Q") as rx:
        hub = Hub()
        hub.upsert_receiver("rx", address=rx.host, family=Family.AXIENT, channels=4)
        log = StatusLog(hub)
        s = ReceiverMachine(hub, "rx", rx.host, rx.port, meter_rate_ms=100)
        s.start()
        try:
            await async_wait_for(lambda: hub.receivers["rx"].online, what="online")
            await rx.power_cycle(boot_s=2.0)
            await async_wait_for(lambda: not hub.receivers["rx"].online, what="offline")
            log.seen.clear()
            await async_wait_for(lambda: rx.frozen, what="booting")
            await async_wait_for(lambda: not rx.frozen, 5, "booted")
            assert set(log.seen) <= {"rx_offline"}, log.seen  # nothing OK while it booted
            await async_wait_for(lambda: hub.receivers["rx"].online, 5, "online after boot")
        finally:
            await s.stop()


# --- other controllers on the same receiver ---


@pytest.mark.parametrize("foreign_ms", [5000, 0])
async def test_another_controller_slowing_meters_never_makes_a_healthy_receiver_flap(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, foreign_ms: int
) -> None:
    ours = "SET 0 METER_RATE 00100"
    heartbeat = "GET 1 METER_RATE"

    def count(what: str, since: int) -> int:
        return sum(what in f for f in rx.received[since:])

    async with SimReceiver("ULXD4Q", meter_scope="receiver") as rx:
        _, s = ulxd_machine(rx)
        s.start()
        try:
            await async_wait_for(lambda: s.state is SourceState.ONLINE, what="online")
            start = len(rx.received)
            rx.other_controller(foreign_ms)
            await async_wait_for(lambda: s.foreign_rates, what="the foreign rate noticed")
            # Meters now come every 5 s, or never: over more than two silence windows the
            # heartbeat feeds the watchdog, and our rate is not asked for again yet.
            await async_wait_for(lambda: count(heartbeat, start) >= 10, 10, "fast heartbeats")
            assert s.connects == 1 and s.state is SourceState.ONLINE, "never flapped"
            assert count(ours, start) == 0, "no fight within the re-assert period"
            # The period is over: our rate is asked for once, and holds again.
            monkeypatch.setattr(machine_mod, "REASSERT_S", 0.5)
            await rx.wait_for_command(ours, start=start)
            await async_wait_for(lambda: not s.foreign_rates, what="our rate back")
            monkeypatch.setattr(machine_mod, "REASSERT_S", 60.0)
            again = len(rx.received)
            rx.other_controller(foreign_ms)  # the other tool insists
            await async_wait_for(lambda: s.foreign_rates, what="noticed again")
            await async_wait_for(lambda: count(heartbeat, again) >= 10, 10, "more heartbeats")
            assert count(ours, again) == 0, "at most once per period"
            assert s.connects == 1 and s.state is SourceState.ONLINE, "never flapped"
        finally:
            await s.stop()
    lines = [r.getMessage() for r in caplog.records if "another controller" in r.getMessage()]
    assert len(lines) == 1, lines  # logged once, however often it happened
    assert f"set METER_RATE to {foreign_ms:05d} on {rx.host}" in lines[0]


# --- family rules public code written against real units follows ---


async def test_uhfr_meters_each_channel_with_one_command_per_datagram() -> None:
    async with SimReceiver("UR4D") as rx:  # answers only the first command of a datagram
        hub = Hub()
        hub.upsert_receiver("rx", address=rx.host, channels=0)
        identified: list[Any] = []

        async def on_identified(result: Any) -> None:
            identified.append(result)
            hub.upsert_receiver(
                "rx", address=rx.host, family=result.family, channels=result.channels
            )

        s = ReceiverMachine(
            hub, "rx", rx.host, rx.port, meter_rate_ms=100, on_identified=on_identified
        )
        s.start()
        try:
            await async_wait_for(lambda: hub.receivers["rx"].online, what="online")
            assert (identified[0].model, identified[0].channels) == ("UR4D", 2)
            await rx.wait_for_command("METER 1 ALL 003")
            await rx.wait_for_command("METER 2 ALL 003")
            assert not any("METER 0" in f for f in rx.received)
            await async_wait_for(
                lambda: all(hub.devices[f"rx:{n}"].rf_signal is not None for n in (1, 2)),
                what="meters on both channels",
            )
        finally:
            await s.stop()
        await rx.wait_for_command("METER 2 ALL STOP")


async def test_an_slxd_plus_that_refuses_get_0_all_is_read_property_by_property() -> None:
    async with SimReceiver("SLXD4Q+", names=["Vox", "Gtr", "Bass", "Keys"]) as rx:
        assert not rx.get_all_zero  # the real SLXD4QDAN+ answers REP ERR
        rx.battery_drain(2, bars=1)
        hub = Hub()
        hub.upsert_receiver("rx", address=rx.host, family=Family.SLXD, channels=4)
        log = StatusLog(hub)
        s = ReceiverMachine(hub, "rx", rx.host, rx.port, meter_rate_ms=100)
        s.start()
        try:
            await async_wait_for(
                lambda: (
                    [hub.devices[f"rx:{n}"].name for n in range(1, 5)]
                    == ["Vox", "Gtr", "Bass", "Keys"]
                ),
                10,
                "names from per-property GETs",
            )
            await async_wait_for(
                lambda: log.statuses() == ["good", "critical", "good", "good"], what="battery"
            )
            assert any("GET 1 TX_BATT_BARS" in f for f in rx.received)
            # Before the battery was read nothing said 'good': unknown, never a false OK.
            first_good = log.seen.index("good")
            assert "good" not in log.seen[:first_good]
            assert all(st in ("rx_offline", "unknown") for st in log.seen[:first_good]), log.seen[
                :first_good
            ]
        finally:
            await s.stop()


# --- honest hints ---


async def test_an_slxd_that_refuses_or_stays_silent_gets_the_same_third_party_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quick_probe(monkeypatch)
    from micboardd.shure.probe import ProbeResult

    async with SimReceiver("SLXD4D") as rx:
        hub = Hub()
        hub.upsert_receiver("rx", address=rx.host, family=Family.SLXD, channels=2)
        known = ProbeResult(Family.SLXD, "SLXD4D", 2, "tcp")
        s = ReceiverMachine(hub, "rx", rx.host, rx.port, meter_rate_ms=100, identity=known)
        rx.hang(True)  # third-party control off: accepts, answers nothing
        s.start()
        try:
            await async_wait_for(lambda: s.error and s.phase.value == "backoff", what="fail")
            silent = s.error or ""
            await rx.power_loss()  # the other way it shows: the connection is refused
            await async_wait_for(
                lambda: "refused" in (s.error or "").lower(), 10, "refused connection"
            )
            refused = s.error or ""
        finally:
            await s.stop()
    for reason in (silent, refused):
        assert "Allow Third-Party Controls" in reason and "Controller Access" in reason, reason


async def test_a_qlxd4_that_does_not_answer_model_is_not_labelled_ulxd() -> None:
    from micboardd.shure.probe import probe

    async with SimReceiver("QLXD4", refuse=["MODEL"], tx_on=False) as rx:
        result = await probe(rx.host, rx.port)
    assert (result.family, result.model) == (Family.QLXD, "QLXD4")
    async with SimReceiver("ULXD4", refuse=["MODEL"], tx_on=False) as rx:
        result = await probe(rx.host, rx.port)
    assert (result.family, result.model) == (Family.ULXD, "ULXD4")


async def test_a_p10t_is_probed_and_metered_with_crlf_terminated_commands() -> None:
    async with SimReceiver("P10T") as rx:  # acts only on CRLF-terminated commands
        hub = Hub()
        hub.upsert_receiver("rx", address=rx.host, family=Family.PSM1000, channels=2)
        s = ReceiverMachine(hub, "rx", rx.host, rx.port, meter_rate_ms=100)
        s.start()
        try:
            await async_wait_for(lambda: hub.receivers["rx"].online, what="online")
            assert s.identity is not None and s.identity.model == "P10T"
            await rx.wait_for_command("SET 1 METER_RATE 00100")
            await rx.wait_for_command("SET 2 METER_RATE 00100")
            await async_wait_for(lambda: hub.devices["rx:2"].audio_level is not None, what="meters")
        finally:
            await s.stop()


# --- fast return ---


async def test_an_announcement_wakes_a_backing_off_receiver_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A long schedule, so only the wake can explain a prompt return.
    monkeypatch.setattr(machine_mod, "BACKOFF_FIRST_S", 120.0)
    monkeypatch.setattr(machine_mod, "BACKOFF_MAX_S", 120.0)
    async with SimReceiver("ULXD4D") as rx:
        hub = Hub()
        hub.upsert_receiver("rx", address=rx.host, family=Family.ULXD, channels=2)
        s = ReceiverMachine(hub, "rx", rx.host, rx.port, meter_rate_ms=100)
        s.start()
        try:
            await async_wait_for(lambda: hub.receivers["rx"].online, what="online")
            await rx.power_loss()
            await async_wait_for(lambda: s.phase.value == "backoff", what="backing off")
            await rx.power_restore()
            s.wake()
            await async_wait_for(lambda: hub.receivers["rx"].online, 5, "woken and online")
        finally:
            await s.stop()


async def test_a_foreign_meter_rate_while_the_wait_is_expiring_or_over() -> None:
    # A METER_RATE REP wakes the machine's wait at once. On uvloop a chunk can be delivered
    # after the wait's timer fired and before the task has left the scope (EXPIRING), and a
    # write that blocks can let one in between two scopes (the old one over): neither may
    # fail the link, as asyncio.Timeout.reschedule() refuses both.
    async with SimReceiver("ULXD4Q") as rx:
        _, s = ulxd_machine(rx)
        s.start()
        try:
            await async_wait_for(lambda: s.state is SourceState.ONLINE, what="online")
        finally:
            await s.stop()
    (foreign,) = StreamDecoder(Framing.ANGLE).feed(b"< REP 1 METER_RATE 05000 >")
    loop = asyncio.get_running_loop()
    failures: list[BaseException] = []

    def deliver() -> None:
        s._reassert = False  # every delivery asks to be woken
        try:
            s._meter_rate_report(foreign, time.monotonic())
        except Exception as exc:
            failures.append(exc)

    deliver()  # after the last wait ended: the machine's scope is over
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(None) as scope:
            s._scope = scope
            scope.reschedule(loop.time() - 1.0)  # the timer fires: the scope is EXPIRING...
            loop.call_soon(deliver)  # ...when the chunk is delivered
            await asyncio.sleep(5)
    deliver()  # between two waits: the last one expired
    assert failures == [] and s.foreign_rates == {1: 5000}
