"""One simulated receiver: a real server on a loopback address speaking the Shure protocol.

`SimReceiver` owns a `ReceiverState`, serves it over TCP (UDP for UHF-R) to any number of
clients, and offers scenario verbs (`tx_off`, `battery_drain`, `power_loss`, ...). Replies and
unsolicited REPs are rendered by the family's `wire` renderer; commands are parsed with the
daemon's own codec. Like a real receiver it writes frames without newline, coalesces what is
pending into one write, and (optionally) splits writes inside a frame.

    async with SimReceiver("AD4Q") as rx:
        reader, writer = await asyncio.open_connection(rx.host, rx.port)
        ...
        rx.tx_off(2)                      # every client gets the REPs of an absent TX
        await rx.wait_for_command("SET 0 METER_RATE 00000")
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from micboardd.errors import ConfigError
from micboardd.model import Family
from micboardd.sim.commands import SimCommands
from micboardd.sim.host import Client
from micboardd.sim.peers import Peer, TcpPeer, UdpPeer, UdpProtocol
from micboardd.sim.state import (
    ON_AIR_PEAK_DBFS,
    ON_AIR_RF_DBM,
    ON_AIR_RMS_DBFS,
    ChannelState,
    ReceiverState,
    check_loopback,
    default_state,
    lookup_model,
    valid_name,
)
from micboardd.sim.wire import FamilyWire, Item
from micboardd.sim.wire_families import wire_for

log = logging.getLogger(__name__)

# The port every Shure receiver listens on (TCP, UDP for UHF-R).
SHURE_PORT = 2202
# How long the front panel blinks after SET FLASH ON before the receiver reports FLASH OFF.
FLASH_DURATION_S = 3.0
# UHF-R clients remembered (source addresses); the oldest is forgotten beyond this.
MAX_UDP_PEERS = 16
# Default bound of `wait_for_command`: generous for a loaded CI machine.
DEFAULT_WAIT_S = 5.0
# Bytes read from a client at a time.
READ_CHUNK = 4096
# Commands kept in `received`: plenty for any test, bounded for a demo left running for days
# (the oldest half is dropped when the list reaches this size).
MAX_RECORDED_COMMANDS = 100_000

Matcher = str | Callable[[str], bool]


def _normalize(text: str) -> str:
    return " ".join(text.split())


def _matcher(match: Matcher) -> Callable[[str], bool]:
    if callable(match):
        return match
    needle = _normalize(match)
    return lambda raw: needle in _normalize(raw)


class SimReceiver:
    """A simulated Shure receiver on `host:port` (port 0 = pick a free one).

    Options: `names` per channel, `device_id`, `quadversity` / `frequency_diversity`
    (Axient), `tx_on` (a transmitter on every channel at start), `split_writes` (cut writes
    inside frames), `answer_errors` (REP ERR for bad commands; default per family),
    `seed` (split points), `frequency_offset_khz`.

    Firmware behaviours seen on real units (PROTOCOLS.md, real-captures.md), each on by
    default where the real model shows it:
    `hung` (accepts connections, answers nothing), `boot_s` (after power-on, answers nothing
    for this long), `meter_scope` ("connection", or "receiver": one METER_RATE for every
    client, so another controller's SET reaches us too), `get_all_zero` (False: `GET 0 ALL`
    is answered `REP ERR`, as SLX-D+ do), `channel_zero` (False: channel 0 is refused with
    an error, as for UHF-R and PSM1000), `first_command_only` (UHF-R: only the first command
    of a datagram is answered), `crlf_commands` (PSM1000: only CRLF-terminated lines holding
    one command are acted on), `refuse` (properties answered `REP ERR`, e.g. MODEL on a
    QLXD4 that does not know it). `jitter_db`: every meter value moves by up to this much
    on every sample (a benchmark's load; see `meter_frames`).
    """

    def __init__(
        self,
        model: str = "AD4Q",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        names: Sequence[str] | None = None,
        device_id: str | None = None,
        quadversity: bool = False,
        frequency_diversity: bool = False,
        tx_on: bool = True,
        split_writes: bool = False,
        answer_errors: bool | None = None,
        flash_seconds: float = FLASH_DURATION_S,
        frequency_offset_khz: int = 0,
        seed: int = 0,
        hung: bool = False,
        boot_s: float = 0.0,
        meter_scope: str = "connection",
        get_all_zero: bool | None = None,
        channel_zero: bool | None = None,
        first_command_only: bool | None = None,
        crlf_commands: bool | None = None,
        refuse: Sequence[str] = (),
        jitter_db: float = 0.0,
    ) -> None:
        self.spec = lookup_model(model)
        self.host = check_loopback(host)
        if not 0 <= port <= 65535:
            raise ConfigError("port", port, "simulator", "not a port number")
        self.port = port
        self.state: ReceiverState = default_state(
            self.spec,
            names=list(names) if names else None,
            device_id=device_id,
            frequency_offset_khz=frequency_offset_khz,
            quadversity=quadversity,
            frequency_diversity=frequency_diversity,
            tx_on=tx_on,
        )
        self.wire: FamilyWire = wire_for(self.spec.family)
        self.split_writes = split_writes
        self.answer_errors = self.wire.answers_errors if answer_errors is None else answer_errors
        self.flash_seconds = flash_seconds
        self.rng = random.Random(seed)
        self.dripping = False
        self.frozen = hung
        self.boot_s = boot_s
        if meter_scope not in ("connection", "receiver"):
            raise ConfigError("meter_scope", meter_scope, "simulator", "connection or receiver")
        self.meter_scope = meter_scope
        # Receiver-wide METER_RATE per channel (meter_scope "receiver").
        self.meter_rates: dict[int, int] = {}
        plus = self.spec.model.endswith("+")
        self.get_all_zero = not plus if get_all_zero is None else get_all_zero
        per_channel = self.spec.family in (Family.UHFR, Family.PSM1000)
        self.channel_zero = not per_channel if channel_zero is None else channel_zero
        udp = self.spec.transport == "udp"
        self.first_command_only = udp if first_command_only is None else first_command_only
        psm = self.spec.family is Family.PSM1000
        self.crlf_commands = psm if crlf_commands is None else crlf_commands
        self.refused = frozenset(p.upper() for p in refuse)
        self.jitter_db = jitter_db
        self.received: list[str] = []
        self.garbage_received = 0
        self.bytes_received = 0
        self.accepted = 0  # TCP connections accepted since it was made (a hung one too)
        self.udp_transport: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._tcp_peers: set[TcpPeer] = set()
        self._udp_peers: dict[tuple[str, int], UdpPeer] = {}
        self._handlers: set[asyncio.Task[Any]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._command_event = asyncio.Event()
        self._snapshot: dict[tuple[int, str, int], str] = {}
        self._powered = False
        self.commands = SimCommands(self)

    # -- identity -------------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.spec.model

    @property
    def family(self) -> Family:
        return self.spec.family

    @property
    def transport(self) -> str:
        return self.spec.transport

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def channels(self) -> list[ChannelState]:
        return self.state.channels

    @property
    def powered(self) -> bool:
        return self._powered

    @property
    def clients(self) -> int:
        """Connected TCP clients, or UHF-R source addresses heard from."""
        return len(self._tcp_peers) + len(self._udp_peers)

    @property
    def metering(self) -> int:
        """Clients that currently have metering switched on for at least one channel."""
        return sum(1 for peer in self.peers() if peer.meters)

    def __repr__(self) -> str:
        return f"<SimReceiver {self.model} {self.address}>"

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> SimReceiver:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Power on: listen on host:port (the real port is then in `self.port`)."""
        if self._powered:
            return
        self._snapshot = self._render_snapshot()
        loop = asyncio.get_running_loop()
        if self.transport == "udp":
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UdpProtocol(self), local_addr=(self.host, self.port)
            )
            self.udp_transport = transport
            self.port = transport.get_extra_info("sockname")[1]
        else:
            self._server = await asyncio.start_server(
                self._on_tcp_client, self.host, self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]
        self._powered = True
        if self.boot_s > 0 and not self.frozen:
            # Still booting: TCP is up (the network stack starts first), nothing answers.
            self.frozen = True
            self.spawn(self._finish_boot(self.boot_s))
        log.debug("%s %s listening", self.model, self.address)

    async def _finish_boot(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.frozen = False

    async def close(self) -> None:
        """Power off for good: drop clients and stop every background task."""
        await self.power_loss()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- clients --------------------------------------------------------------------------

    async def _on_tcp_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        peer = TcpPeer(self, writer)
        self.accepted += 1
        self._tcp_peers.add(peer)
        self._inherit_meters(peer)
        log.debug("%s: client %s connected", self.address, peer.label)
        try:
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    break
                self.bytes_received += len(data)
                if not self.frozen:
                    self._on_bytes(peer, data)
        except (ConnectionError, OSError):
            pass
        finally:
            self._tcp_peers.discard(peer)
            await peer.close()
            if task is not None:
                self._handlers.discard(task)
            log.debug("%s: client %s gone", self.address, peer.label)

    def on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.frozen or not self._powered:
            return
        peer = self._udp_peers.get(addr)
        if peer is None:
            if len(self._udp_peers) >= MAX_UDP_PEERS:
                oldest = next(iter(self._udp_peers))
                self.spawn(self._udp_peers.pop(oldest).close())
            peer = self._udp_peers[addr] = UdpPeer(self, addr)
            self._inherit_meters(peer)
        self._on_bytes(peer, data)

    def _inherit_meters(self, peer: Peer) -> None:
        """A new client of a receiver-wide METER_RATE gets the meters already running."""
        if self.meter_scope == "receiver":
            for channel, interval in self.meter_rates.items():
                peer.set_meters([channel], interval)

    def _on_bytes(self, peer: Peer, data: bytes) -> None:
        if self.crlf_commands:
            data = peer.whole_lines(data)
            if not data:
                return
        before = peer.decoder.garbage_count
        frames = peer.decoder.feed(data)
        if self.first_command_only:
            frames = frames[:1]  # a UR4D answers only the first command of a datagram
        for frame in frames:
            self._record(frame.raw)
            self.commands.handle(peer, frame)
        bad = peer.decoder.garbage_count - before
        self.garbage_received += bad
        for _ in range(bad):
            self.error_to(peer)

    def _record(self, raw: str) -> None:
        if len(self.received) >= MAX_RECORDED_COMMANDS:
            del self.received[: MAX_RECORDED_COMMANDS // 2]
        self.received.append(raw)
        self._command_event.set()
        self._command_event = asyncio.Event()

    def peers(self) -> list[Peer]:
        return [*self._tcp_peers, *self._udp_peers.values()]

    def broadcast(self, frames: Sequence[str]) -> None:
        for peer in self.peers():
            peer.send(frames)

    def error_to(self, peer: Client) -> None:
        if self.answer_errors:
            peer.send([self.wire.error_frame()])

    # -- change announcement --------------------------------------------------------------

    def _render_snapshot(self) -> dict[tuple[int, str, int], str]:
        """Every non-metered value, keyed by (channel or 0, property, occurrence)."""
        snapshot: dict[tuple[int, str, int], str] = {}

        def add(number: int, items: list[Item]) -> None:
            seen: dict[str, int] = {}
            for prop, value in items:
                if prop in self.wire.metered or prop == "METER_RATE":
                    continue
                occurrence = seen.get(prop, 0)
                seen[prop] = occurrence + 1
                snapshot[(number, prop, occurrence)] = value

        add(0, self.wire.device_items(self.state))
        for ch in self.state.channels:
            add(ch.number, self.wire.channel_items(self.state, ch, 0))
        return snapshot

    def publish(self) -> set[tuple[int, str]]:
        """Send an unsolicited REP to every client for each non-metered value that changed.

        Scenario verbs call this; call it yourself after editing `state` directly. Returns
        the (channel or 0, property) pairs announced.
        """
        snapshot = self._render_snapshot()
        changed = [(k, v) for k, v in snapshot.items() if self._snapshot.get(k) != v]
        self._snapshot = snapshot
        frames = [
            self.wire.rep(number or None, prop, value) for (number, prop, _), value in changed
        ]
        if frames:
            self.broadcast(frames)
        return {(number, prop) for (number, prop, _), _v in changed}

    def meter_frames(self, channel: int) -> list[str]:
        """The frames one metering interval sends for `channel`.

        With `jitter_db`, every RF and audio value of the sample is moved by up to that many
        dB (around the channel's state, which stays put), as real receivers' meters move on
        every sample: the load a benchmark must carry.
        """
        ch = self.state.channel(channel)
        if not self.jitter_db:
            return self.wire.meter_frames(self.state, ch)
        kept = ch.rf_dbm, ch.noise_dbm, ch.audio_rms_dbfs, ch.audio_peak_dbfs
        j, uniform = self.jitter_db, self.rng.uniform
        ch.rf_dbm = [v + uniform(-j, j) for v in ch.rf_dbm]
        ch.noise_dbm = [v + uniform(-j, j) for v in ch.noise_dbm]
        ch.audio_rms_dbfs = min(0.0, ch.audio_rms_dbfs + uniform(-j, j))
        ch.audio_peak_dbfs = min(0.0, ch.audio_peak_dbfs + uniform(-j, j))
        try:
            return self.wire.meter_frames(self.state, ch)
        finally:
            ch.rf_dbm, ch.noise_dbm, ch.audio_rms_dbfs, ch.audio_peak_dbfs = kept

    # -- test helpers ---------------------------------------------------------------------

    async def wait_for_command(
        self, match: Matcher, timeout: float = DEFAULT_WAIT_S, *, start: int = 0
    ) -> str:
        """Wait until a received frame matches; return it.

        `match` is a predicate on the raw frame or a string that must appear in it
        (whitespace-insensitive, e.g. "SET 0 METER_RATE 00000"). Frames received before the
        call count too, from index `start` of `received`. Raises TimeoutError.
        """
        pred = _matcher(match)
        index = start
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = self._command_event
                    while index < len(self.received):
                        if pred(self.received[index]):
                            return self.received[index]
                        index += 1
                    await event.wait()
        except TimeoutError:
            recent = ", ".join(self.received[-5:]) or "nothing"
            raise TimeoutError(
                f"{self.address}: no command matching {match!r} within {timeout} s "
                f"(last received: {recent})"
            ) from None

    # -- scenario verbs -------------------------------------------------------------------

    def battery_drain(
        self,
        ch: int,
        bars: int | None = None,
        minutes: int | None = None,
        percent: int | None = None,
    ) -> None:
        """Set the transmitter's battery; values not given are derived from those given."""
        self.state.channel(ch).set_battery(bars=bars, minutes=minutes, percent=percent)
        self.publish()

    def tx_off(self, ch: int) -> None:
        """The performer switches the transmitter off: sentinels, RF at the noise floor."""
        self.state.channel(ch).tx_on = False
        self.publish()

    def tx_on(self, ch: int) -> None:
        """The transmitter comes back on air at a healthy level."""
        channel = self.state.channel(ch)
        if not channel.tx_on:
            channel.rf_dbm = [ON_AIR_RF_DBM - 3.0 * i for i in range(channel.antennas)]
            channel.audio_rms_dbfs, channel.audio_peak_dbfs = ON_AIR_RMS_DBFS, ON_AIR_PEAK_DBFS
        channel.tx_on = True
        self.publish()

    def rf_dropout(self, ch: int, seconds: float) -> None:
        """Lose the transmitter's signal for `seconds` (it looks absent, then returns)."""
        channel = self.state.channel(ch)
        channel.signal_lost = True
        self.publish()
        self.spawn(self._end_dropout(channel, seconds))

    async def _end_dropout(self, channel: ChannelState, seconds: float) -> None:
        await asyncio.sleep(seconds)
        channel.signal_lost = False
        self.publish()

    def interference(self, ch: int, on: bool = True) -> None:
        self.state.channel(ch).interference = on
        self.publish()

    def encryption_error(self, ch: int, on: bool = True) -> None:
        self.state.channel(ch).encryption_error = on
        self.publish()

    def front_panel_rename(self, ch: int, name: str) -> None:
        """Rename from the front panel: every client gets an unsolicited REP."""
        if not valid_name(name):
            raise ValueError(f"invalid channel name {name!r}: 1-8 printable characters")
        self.state.channel(ch).name = name
        self.publish()

    def set_meters(
        self,
        ch: int,
        *,
        rf_dbm: Sequence[float] | None = None,
        rms_dbfs: float | None = None,
        peak_dbfs: float | None = None,
    ) -> None:
        """Move the meters of a channel (no REP: meters only travel in samples)."""
        channel = self.state.channel(ch)
        if rf_dbm is not None:
            values = list(rf_dbm)
            channel.rf_dbm = (values * channel.antennas)[: channel.antennas]
        if rms_dbfs is not None:
            channel.audio_rms_dbfs = rms_dbfs
        if peak_dbfs is not None:
            channel.audio_peak_dbfs = peak_dbfs

    async def power_loss(self) -> None:
        """Cut the power: drop every connection abruptly and stop listening."""
        if not self._powered:
            return
        self._powered = False
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.udp_transport is not None:
            self.udp_transport.abort()
            self.udp_transport = None
        for tcp in list(self._tcp_peers):
            tcp.abort()
        handlers = list(self._handlers)
        await asyncio.gather(*handlers, return_exceptions=True)
        udp = list(self._udp_peers.values())
        self._udp_peers.clear()
        await asyncio.gather(*(peer.close() for peer in udp), return_exceptions=True)
        log.debug("%s %s powered off", self.model, self.address)

    async def power_restore(self) -> None:
        """Power back on, listening on the same address and port (settings are kept)."""
        await self.start()

    def send_garbage(self, data: bytes) -> None:
        """Write bytes that are not a frame to every client (line noise, a firmware bug)."""
        for peer in self.peers():
            peer.send_raw(data)

    def slow_drip(self, on: bool) -> None:
        """Write one byte at a time (each in its own segment) until switched off."""
        self.dripping = on

    def freeze(self, on: bool) -> None:
        """Lock up like the QLX-D firmware bug: keep connections open, answer nothing."""
        self.frozen = on

    def hang(self, on: bool) -> None:
        """A hung receiver: accepts connections, answers nothing (the same as `freeze`)."""
        self.freeze(on)

    async def power_cycle(self, boot_s: float) -> None:
        """Power off and on again; it then answers nothing for `boot_s` (a slow boot)."""
        await self.power_loss()
        self.frozen = False
        self.boot_s = boot_s
        await self.start()

    def other_controller(self, meter_rate_ms: int) -> None:
        """Another controller (Workbench, Companion) sets METER_RATE receiver-wide.

        The receiver's METER_RATE becomes one for every client from now on, and every
        client hears the REP, as on firmware where the setting is not per connection.
        """
        self.meter_scope = "receiver"
        channels = [ch.number for ch in self.state.channels]
        self.commands.apply_meter_rate(None, channels, meter_rate_ms)
