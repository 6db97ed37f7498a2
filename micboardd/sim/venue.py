"""A venue: several simulated receivers, each on its own loopback address, kept alive.

`Venue.demo()` is the rig behind `micboardd demo`: about 24 Shure channels of every family
plus a Sennheiser EW-DX EM 4 (SSC v1) and an ew G4 (Media Control Protocol), with realistic
names. `Venue.many()` builds identical Shure receivers for load tests. The liveliness
loop moves RF and audio as a seeded random walk and drains batteries slowly, so a dashboard
looks like a real show; the same seed gives the same show.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from micboardd.aio import cancel_and_wait
from micboardd.errors import ConfigError
from micboardd.model import Family
from micboardd.sennheiser.mcp import MCP_PORT
from micboardd.sim.ewdx import SimEwdx
from micboardd.sim.g4 import SimG4
from micboardd.sim.receiver import SHURE_PORT, SimReceiver
from micboardd.sim.sennheiser import SennheiserSim
from micboardd.sim.state import NOISE_FLOOR_DBM, ChannelState, check_loopback

# How often meters move: fast enough that a 100 ms meter rate looks alive, cheap at 1000 channels.
LIVELINESS_TICK_S = 0.2
# Real seconds per minute of transmitter runtime: 30x speed, so a bar goes in a few minutes
# of demo and the dashboard shows batteries draining without waiting hours.
BATTERY_MINUTE_S = 2.0
# Random-walk shape: step sizes and how strongly values return to their channel's level.
RF_STEP_DB = 1.5
AUDIO_STEP_DB = 3.0
MEAN_REVERSION = 0.15
RF_RANGE_DBM = (-95.0, -30.0)
RMS_RANGE_DBFS = (-70.0, -3.0)
# Chance per tick that a channel hits a near-clipping peak (shows the audio_peak status).
PEAK_CHANCE = 0.002


@dataclass(frozen=True, slots=True)
class RigEntry:
    """One receiver of a venue line-up."""

    model: str
    names: tuple[str, ...]
    quadversity: bool = False
    frequency_diversity: bool = False
    tx_off: tuple[int, ...] = ()
    low_battery: dict[int, int] = field(default_factory=dict)  # channel -> percent


# The demo line-up: 24 channels, every family, a transmitter switched off and two tired
# batteries so the dashboard shows more than green.
DEMO_RIG: tuple[RigEntry, ...] = (
    RigEntry("ULXD4Q", ("Lead Vox", "BGV 1", "BGV 2", "BGV 3"), low_battery={4: 18}),
    RigEntry("ULXD4Q", ("Guitar 1", "Guitar 2", "Bass", "Keys")),
    RigEntry("QLXD4", ("Pastor",)),
    RigEntry("SLXD4D+", ("Host", "Podium")),  # refuses GET 0 ALL, as real SLX-D+ do
    RigEntry("AD4Q", ("Sax", "Trumpet", "Violin", "Cello"), low_battery={2: 35}),
    RigEntry("AD4Q", ("Lapel 1", "Lapel 2", "Lectern", "Announce"), quadversity=True),
    RigEntry("UR4D", ("Choir L", "Choir R")),
    RigEntry("P10T", ("IEM Band", "IEM Vox")),
    RigEntry("ULXD4", ("Spare 1",), tx_off=(1,)),
)
# The Sennheiser part, after the Shure one on the next addresses: an EW-DX EM 4 over SSC v1
# and an ew G4 over the Media Control Protocol (EW-DX names are 1-8 upper-case characters).
SENNHEISER_RIG: tuple[RigEntry, ...] = (
    RigEntry("EWDX-EM4-DANTE", ("PANEL 1", "PANEL 2", "PANEL 3", "MODERATR"), low_battery={3: 22}),
    RigEntry("EM300-500G4", ("REPORTER",)),
)


class _Channels(Protocol):
    def channel(self, number: int) -> ChannelState: ...


class VenueReceiver(Protocol):
    """What a venue needs of a simulated receiver, Shure or Sennheiser."""

    host: str
    port: int

    @property
    def model(self) -> str: ...
    @property
    def family(self) -> Family: ...
    @property
    def address(self) -> str: ...
    @property
    def powered(self) -> bool: ...
    @property
    def clients(self) -> int: ...
    @property
    def channels(self) -> Sequence[ChannelState]: ...
    @property
    def state(self) -> _Channels: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    def publish(self) -> object: ...


AnyReceiver = SimReceiver | SennheiserSim
R_co = TypeVar("R_co", bound=VenueReceiver, covariant=True)


def host_at(base_host: str, index: int) -> str:
    """The `index`-th address after `base_host`, refusing to leave 127.0.0.0/8."""
    try:
        host = str(ipaddress.IPv4Address(check_loopback(base_host)) + index)
    except ipaddress.AddressValueError:
        raise ConfigError("host", base_host, "simulator", "address range overflows") from None
    return check_loopback(host)


class Venue(Generic[R_co]):
    """Receivers plus the liveliness loop; `async with` starts and stops them all."""

    def __init__(
        self,
        receivers: Sequence[R_co],
        *,
        seed: int = 0,
        lively: bool = True,
        tick_s: float = LIVELINESS_TICK_S,
        battery_minute_s: float = BATTERY_MINUTE_S,
    ) -> None:
        self.receivers = list(receivers)
        self.lively = lively
        self.tick_s = tick_s
        self.battery_minute_s = battery_minute_s
        self._rng = random.Random(seed)
        self._levels: dict[tuple[int, int], tuple[float, float]] = {}
        self._task: asyncio.Task[None] | None = None

    # -- builders -------------------------------------------------------------------------

    @classmethod
    def demo(
        cls,
        base_host: str = "127.0.0.2",
        port: int = SHURE_PORT,
        *,
        seed: int = 0,
        split_writes: bool = False,
        lively: bool = True,
    ) -> Venue[AnyReceiver]:
        """About 24 Shure channels of every family and 5 Sennheiser ones, each receiver on its
        own address. The EW-DX listens on `port` too (its real port 45 needs root); the G4 on
        its real 53212 (any free port when `port` is 0)."""
        receivers: list[AnyReceiver] = []
        for index, entry in enumerate(DEMO_RIG):
            rx = SimReceiver(
                entry.model,
                host_at(base_host, index),
                port,
                names=entry.names,
                device_id=f"RX {index + 1}",
                quadversity=entry.quadversity,
                frequency_diversity=entry.frequency_diversity,
                split_writes=split_writes,
                frequency_offset_khz=3_000 * index,
                seed=seed + index,
            )
            for ch in entry.tx_off:
                rx.state.channel(ch).tx_on = False
            for ch, percent in entry.low_battery.items():
                rx.state.channel(ch).set_battery(percent=percent)
            receivers.append(rx)
        ewdx_entry, g4_entry = SENNHEISER_RIG
        next_host = len(DEMO_RIG)
        ewdx = SimEwdx(
            ewdx_entry.model, host_at(base_host, next_host), port, names=ewdx_entry.names
        )
        g4 = SimG4(
            g4_entry.model, host_at(base_host, next_host + 1), MCP_PORT if port else 0,
            names=g4_entry.names,
        )  # fmt: skip
        for senn, entry in ((ewdx, ewdx_entry), (g4, g4_entry)):
            for ch, percent in entry.low_battery.items():
                senn.state.channel(ch).set_battery(percent=percent)
            receivers.append(senn)
        return Venue(receivers, seed=seed, lively=lively)

    @classmethod
    def many(
        cls,
        n_receivers: int,
        model: str = "ULXD4Q",
        base_host: str = "127.0.0.2",
        port: int = 0,
        *,
        seed: int = 0,
        split_writes: bool = False,
        lively: bool = True,
        battery_minute_s: float = BATTERY_MINUTE_S,
    ) -> Venue[SimReceiver]:
        """`n_receivers` identical receivers on consecutive addresses (load tests)."""
        if n_receivers < 1:
            raise ConfigError("receivers", n_receivers, "simulator", "need at least one")
        receivers = [
            SimReceiver(
                model,
                host_at(base_host, index),
                port,
                device_id=f"RX{index + 1}",
                split_writes=split_writes,
                frequency_offset_khz=(index * 350) % 40_000,
                seed=seed + index,
            )
            for index in range(n_receivers)
        ]
        return Venue(receivers, seed=seed, lively=lively, battery_minute_s=battery_minute_s)

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Venue[R_co]:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        results = await asyncio.gather(
            *(rx.start() for rx in self.receivers), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self._close_receivers()
            raise errors[0]
        if self.lively and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._liveliness())

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self._close_receivers()

    async def _close_receivers(self) -> None:
        await asyncio.gather(*(rx.close() for rx in self.receivers), return_exceptions=True)

    # -- lookup ---------------------------------------------------------------------------

    @property
    def channel_count(self) -> int:
        return sum(len(rx.channels) for rx in self.receivers)

    def find(self, address: str) -> R_co:
        """The receiver at `host:port`, or at `host` when only one receiver uses that host."""
        matches = [rx for rx in self.receivers if address in (rx.address, rx.host)]
        if len(matches) != 1:
            known = ", ".join(rx.address for rx in self.receivers)
            raise KeyError(f"no single receiver at {address} (known: {known})")
        return matches[0]

    # -- liveliness -----------------------------------------------------------------------

    async def _liveliness(self) -> None:
        loop = asyncio.get_running_loop()
        next_battery = loop.time() + self.battery_minute_s
        while True:
            await asyncio.sleep(self.tick_s)
            for r_index, rx in enumerate(self.receivers):
                for ch in rx.channels:
                    self._wiggle(r_index, rx.family, ch)
            if loop.time() >= next_battery:
                next_battery += self.battery_minute_s
                for rx in self.receivers:
                    self._drain(rx)

    def _channel_levels(self, r_index: int, ch: ChannelState) -> tuple[float, float]:
        """Each channel's own typical RF and audio level, fixed for the show."""
        key = (r_index, ch.number)
        if key not in self._levels:
            self._levels[key] = (self._rng.uniform(-70, -48), self._rng.uniform(-34, -20))
        return self._levels[key]

    def _walk(self, value: float, target: float, step: float, bounds: tuple[float, float]) -> float:
        value += MEAN_REVERSION * (target - value) + self._rng.gauss(0.0, step)
        return max(bounds[0], min(bounds[1], value))

    def move(self, r_index: int, channel: int) -> None:
        """One step of the random walk for one channel, now (a load test calls it before
        every meter sample, so every value moves on every sample)."""
        rx = self.receivers[r_index]
        self._wiggle(r_index, rx.family, rx.state.channel(channel))

    def _wiggle(self, r_index: int, family: Family, ch: ChannelState) -> None:
        rf_level, audio_level = self._channel_levels(r_index, ch)
        if ch.tx_present or family is Family.PSM1000:
            ch.rf_dbm = [self._walk(v, rf_level, RF_STEP_DB, RF_RANGE_DBM) for v in ch.rf_dbm]
            ch.audio_rms_dbfs = self._walk(
                ch.audio_rms_dbfs, audio_level, AUDIO_STEP_DB, RMS_RANGE_DBFS
            )
            crest = self._rng.uniform(4.0, 14.0)
            if self._rng.random() < PEAK_CHANCE:
                crest = -ch.audio_rms_dbfs - self._rng.uniform(0.0, 1.0)
            ch.audio_peak_dbfs = min(0.0, ch.audio_rms_dbfs + crest)
        else:
            ch.noise_dbm = [NOISE_FLOOR_DBM + self._rng.uniform(-1.5, 1.5) for _ in ch.noise_dbm]

    @staticmethod
    def _drain(rx: VenueReceiver) -> None:
        if rx.family is Family.PSM1000:
            return
        drained = False
        for ch in rx.channels:
            if ch.tx_present and ch.battery_minutes:
                ch.set_battery(minutes=ch.battery_minutes - 1)
                drained = True
        if drained:
            rx.publish()
