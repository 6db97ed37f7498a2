"""What the three Sennheiser simulators share: models, receiver state, meters, scenario verbs.

A Sennheiser receiver's state reuses `state.ChannelState` (names, frequency, the transmitter,
its battery, RF per antenna in dBm, audio in dBFS) with the few things EW-DX adds (a link
quality override, the transmitter's own mute). How each protocol shows it is its server's
business: `ewdx.py` (SSC v1 over UDP), `sscv2.py` (HTTPS + Server-Sent Events), `g4.py`
(Media Control Protocol over UDP). Scenario verbs change the state here and then call the
server's `publish()`, which tells its clients what changed, as a real receiver does.

Meters as the receiver measures them (engineering units, the ranges EW-DX documents):
RSSI -107..0 dBm (the floor with no transmitter), RSQI 0..100 % (derived from RSSI unless set),
diversity 0 none / 1 A / 2 B, AF -138.5..0 dBFS (the floor is silence). With `meter_jitter`
RSSI and AF alternate by a few dB every meter tick, as the real EM 2 capture does (-107/-104),
so subscribers keep receiving meter datagrams; off by default for tests that want stillness.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Self

from micboardd.errors import ConfigError
from micboardd.model import Family
from micboardd.sim.state import (
    FULL_PACK_MINUTES,
    ON_AIR_PEAK_DBFS,
    ON_AIR_RF_DBM,
    ON_AIR_RMS_DBFS,
    ChannelState,
    check_loopback,
)

log = logging.getLogger(__name__)

RSSI_FLOOR_DBM = -107.0
RSSI_CEILING_DBM = 0.0
AF_FLOOR_DBFS = -138.5
# Below this a linked transmitter raises the receiver's LowSignal warning.
LOW_SIGNAL_DBM = -90.0
# At or above this the receiver raises AfPeak (clipping).
AF_PEAK_DBFS = -0.5
# RSQI derived from RSSI: 0 % at -100 dBm, 100 % at -60 dBm and above.
RSQI_ZERO_DBM = -100.0
RSQI_PER_DB = 2.5
# The transmitter warns LowBattery at or below this charge.
LOW_BATTERY_PERCENT = 10
# Size of the alternation `meter_jitter` adds (the real EM 2 toggles -107/-104 dBm).
JITTER_RF_DB = 3.0
JITTER_AF_DB = 1.5
# Channel names as EW-DX takes them: 1-8 of upper-case letters, digits and a few signs
# (the SSCv2 OpenAPI text's pattern).
NAME_MAX_CHARS = 8
NAME_ALPHABET = frozenset(" #*+,;-/<=|>0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Recorded requests kept for tests; the oldest half goes beyond this (a demo runs for days).
MAX_RECORDED = 100_000
DEFAULT_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class SennheiserModel:
    """One simulated model: what it reports and how many channels it has."""

    key: str
    model: str  # the friendly name micboardd shows
    ssc_product: str  # `device/identity/product` under SSC v1
    sscv2_product: str  # `/api/device/identity` product under SSCv2
    channels: int
    firmware: str
    base_frequency_khz: int
    tx_type: str
    device_name: str


MODELS: dict[str, SennheiserModel] = {
    m.key: m
    for m in (
        # The EM 2 values are those of the real unit in real-captures.md §8.
        SennheiserModel(
            "EWDX-EM2", "EW-DX EM 2", "EWDX2CH", "EWDX2CHS", 2, "1.2.13", 650_425,
            "EW_DX_SKM", "EWDXEM2",
        ),
        SennheiserModel(
            "EWDX-EM2-DANTE", "EW-DX EM 2 Dante", "EWDX2CHD", "EWDX2CHDS", 2, "3.0.3",
            606_200, "EW_DX_SK", "EWDXEM2D",
        ),
        SennheiserModel(
            "EWDX-EM4-DANTE", "EW-DX EM 4 Dante", "EWDX4CHD", "EWDX4CHDS", 4, "3.0.3",
            554_100, "EW_DX_SK", "EWDXEM4D",
        ),
        # ew G3/G4 receivers have one channel; the G3 values are the real EM 300's (§10).
        SennheiserModel(
            "EM300G3", "ew G3 EM 300", "", "", 1, "1.8.0", 639_100, "SK 300 G3", "EM300G3"
        ),
        SennheiserModel(
            "EM300-500G4", "ew G4 EM 300-500", "", "", 1, "1.8.0", 626_300, "SK 300 G4",
            "EM300G4",
        ),
    )
}  # fmt: skip


def lookup_model(name: str) -> SennheiserModel:
    key = name.strip().upper()
    try:
        return MODELS[key]
    except KeyError:
        known = ", ".join(MODELS)
        raise ConfigError("model", name, "simulator", f"unknown model (known: {known})") from None


@dataclass(slots=True)
class SennheiserChannel(ChannelState):
    """A channel plus what EW-DX reports beyond the Shure vocabulary."""

    rsqi: int | None = None  # None: derived from RSSI
    tx_mute: bool = False
    tx_name: str = ""


@dataclass(slots=True)
class SennheiserState:
    spec: SennheiserModel
    device_name: str
    serial: str
    firmware: str
    channels: list[SennheiserChannel]
    encryption: bool = False
    config_counter: int = 0  # the MCP `Config` counter

    def channel(self, number: int) -> SennheiserChannel:
        if not 1 <= number <= len(self.channels):
            raise IndexError(f"channel {number} not in 1..{len(self.channels)}")
        return self.channels[number - 1]


def default_state(
    spec: SennheiserModel, names: Sequence[str] | None = None, *, tx_on: bool = True
) -> SennheiserState:
    channels = []
    for n in range(1, spec.channels + 1):
        name = names[n - 1] if names and n <= len(names) else f"VOX {n}"
        channel = SennheiserChannel(
            number=n,
            name=name,
            frequency_khz=spec.base_frequency_khz + 7_850 * (n - 1),
            tx_model=spec.tx_type,
            tx_on=tx_on,
            battery_type="Battery",
            tx_name=name,
        )
        channel.gain_db = 21
        channels.append(channel)
    serial = f"50940{zlib.crc32(spec.key.encode()) % 100000:05d}"
    return SennheiserState(spec, spec.device_name, serial, spec.firmware, channels)


def valid_name(name: str) -> bool:
    return 1 <= len(name) <= NAME_MAX_CHARS and all(c in NAME_ALPHABET for c in name)


# --- meters and warnings, as the receiver measures them -------------------------------------


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def rssi_dbm(ch: SennheiserChannel, jitter: bool = False) -> float:
    base = max(ch.heard_rf_dbm())
    if jitter:
        base += JITTER_RF_DB
    return round(_clamp(base, RSSI_FLOOR_DBM, RSSI_CEILING_DBM), 1)


def rsqi_percent(ch: SennheiserChannel, jitter: bool = False) -> int:
    if not ch.tx_present:
        return 0
    if ch.rsqi is not None:
        return ch.rsqi
    return round(_clamp((rssi_dbm(ch, jitter) - RSQI_ZERO_DBM) * RSQI_PER_DB, 0, 100))


def diversity(ch: SennheiserChannel) -> int:
    if not ch.tx_present:
        return 0
    rf = ch.heard_rf_dbm()
    return 1 if len(rf) < 2 or rf[0] >= rf[1] else 2


def af_dbfs(ch: SennheiserChannel, jitter: bool = False) -> float:
    if not ch.tx_present:
        return AF_FLOOR_DBFS
    level = ch.audio_peak_dbfs - (JITTER_AF_DB if jitter else 0.0)
    return round(_clamp(level, AF_FLOOR_DBFS, 0.0), 1)


def rx_warnings(ch: SennheiserChannel) -> list[str]:
    """The receiver channel's warnings, in the order of the spec's enum."""
    out = []
    if ch.encryption_error:
        out.append("Aes256Error")
    if ch.tx_present and rssi_dbm(ch) < LOW_SIGNAL_DBM:
        out.append("LowSignal")
    if not ch.tx_present:
        out.append("NoLink")
    if ch.interference:
        out.append("RfPeak")
    if ch.tx_present and af_dbfs(ch) >= AF_PEAK_DBFS:
        out.append("AfPeak")
    return out


def tx_warnings(ch: SennheiserChannel) -> list[str]:
    low = ch.battery_percent is not None and ch.battery_percent <= LOW_BATTERY_PERCENT
    return ["LowBattery"] if low else []


# --- the simulator base ---------------------------------------------------------------------


class SennheiserSim:
    """Lifecycle, recording and scenario verbs; the protocol servers fill in the rest.

    Subclasses implement `_listen()` / `_unlisten()` (open and close the server), `publish()`
    (tell clients what changed since the last call) and `_send_garbage(data)`, and name their
    `protocol` as an address names it (`ssc1://HOST:PORT`).
    """

    protocol = ""

    def __init__(
        self,
        model: str,
        host: str,
        port: int,
        *,
        names: Sequence[str] | None = None,
        tx_on: bool = True,
        hung: bool = False,
        meter_jitter: bool = False,
    ) -> None:
        self.spec = lookup_model(model)
        self.host = check_loopback(host)
        if not 0 <= port <= 65535:
            raise ConfigError("port", port, "simulator", "not a port number")
        self.port = port
        self.state = default_state(self.spec, names, tx_on=tx_on)
        self.frozen = hung
        self.meter_jitter = meter_jitter
        self.jitter_phase = False
        self.received: list[bytes] = []
        self._request_event = asyncio.Event()
        self._powered = False
        self._tasks: set[asyncio.Task[None]] = set()

    # -- identity -------------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.spec.model

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def clients(self) -> int:
        """Clients holding a subscription (each server counts its own; 0 if it does not)."""
        return 0

    @property
    def family(self) -> Family:
        return Family.EWDX if self.spec.ssc_product else Family.EW

    @property
    def powered(self) -> bool:
        return self._powered

    @property
    def channels(self) -> list[SennheiserChannel]:
        return self.state.channels

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.key} {self.address}>"

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Power on: listen on host:port (a port of 0 becomes the real one)."""
        if self._powered:
            return
        await self._listen()
        self._powered = True
        log.debug("%r listening", self)

    async def close(self) -> None:
        """Power off for good and stop every background task."""
        await self.power_loss()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def power_loss(self) -> None:
        """Cut the power: clients and subscriptions are gone, nothing answers."""
        if not self._powered:
            return
        self._powered = False
        await self._unlisten()
        log.debug("%r powered off", self)

    async def power_restore(self) -> None:
        """Power back on at the same address and port, settings kept, no subscriptions."""
        await self.start()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _listen(self) -> None:
        raise NotImplementedError

    async def _unlisten(self) -> None:
        raise NotImplementedError

    def publish(self) -> None:
        raise NotImplementedError

    def _send_garbage(self, data: bytes) -> None:
        raise NotImplementedError

    # -- recording ------------------------------------------------------------------------

    def record(self, request: bytes) -> None:
        if len(self.received) >= MAX_RECORDED:
            del self.received[: MAX_RECORDED // 2]
        self.received.append(request)
        self._request_event.set()
        self._request_event = asyncio.Event()

    async def wait_for_request(
        self, match: Callable[[bytes], bool] | bytes, timeout: float = DEFAULT_WAIT_S
    ) -> bytes:
        """Wait until a received request matches (a predicate, or bytes it must contain)."""
        pred = match if callable(match) else (lambda raw: match in raw)
        index = 0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = self._request_event
                    while index < len(self.received):
                        if pred(self.received[index]):
                            return self.received[index]
                        index += 1
                    await event.wait()
        except TimeoutError:
            recent = b", ".join(r[:80] for r in self.received[-3:]) or b"nothing"
            raise TimeoutError(
                f"{self.address}: no request matching {match!r} within {timeout} s "
                f"(last: {recent!r})"
            ) from None

    # -- scenario verbs -------------------------------------------------------------------

    def tx_off(self, ch: int) -> None:
        """The performer switches the transmitter off."""
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

    def battery_drain(
        self, ch: int, percent: int | None = None, minutes: int | None = None
    ) -> None:
        """Set the transmitter's battery; the value not given is derived from the other."""
        channel = self.state.channel(ch)
        if percent is not None and minutes is None:
            minutes = round(FULL_PACK_MINUTES * percent / 100)
        channel.set_battery(percent=percent, minutes=minutes)
        self.publish()

    def set_meters(
        self,
        ch: int,
        *,
        rf_dbm: Sequence[float] | None = None,
        af_dbfs: float | None = None,
        rsqi: int | None = None,
    ) -> None:
        """Move a channel's meters (sent on the next meter tick, not announced here)."""
        channel = self.state.channel(ch)
        if rf_dbm is not None:
            values = list(rf_dbm)
            channel.rf_dbm = (values * channel.antennas)[: channel.antennas]
        if af_dbfs is not None:
            channel.audio_peak_dbfs = af_dbfs
        if rsqi is not None:
            channel.rsqi = max(0, min(100, rsqi))
        self.publish()  # warnings follow the meters (LowSignal, AfPeak)

    def interference(self, ch: int, on: bool = True) -> None:
        self.state.channel(ch).interference = on
        self.publish()

    def encryption_error(self, ch: int, on: bool = True) -> None:
        self.state.channel(ch).encryption_error = on
        self.publish()

    def mute(self, ch: int, on: bool = True, *, transmitter: bool = False) -> None:
        """Mute the receiver channel (or, with `transmitter`, the pack's mute switch)."""
        channel = self.state.channel(ch)
        if transmitter:
            channel.tx_mute = on
        else:
            channel.mute = on
        self.publish()

    def front_panel_rename(self, ch: int, name: str) -> None:
        if not valid_name(name):
            raise ValueError(f"invalid channel name {name!r}: 1-8 of A-Z 0-9 and a few signs")
        self.state.channel(ch).name = name
        self.publish()

    def hang(self, on: bool = True) -> None:
        """A hung receiver: the network stack is up, nothing answers or is sent."""
        self.frozen = on

    def freeze(self, on: bool = True) -> None:
        """The Shure simulators' word for a hang; the same here."""
        self.hang(on)

    def rf_dropout(self, ch: int, seconds: float) -> None:
        """Lose the transmitter's signal for `seconds` (it looks absent, then returns)."""
        channel = self.state.channel(ch)
        channel.signal_lost = True
        self.publish()
        self.spawn(self._end_dropout(channel, seconds))

    async def _end_dropout(self, channel: SennheiserChannel, seconds: float) -> None:
        await asyncio.sleep(seconds)
        channel.signal_lost = False
        self.publish()

    async def power_cycle(self, boot_s: float = 0.0) -> None:
        """Power off and on again; it then answers nothing for `boot_s` (a slow boot)."""
        await self.power_loss()
        self.frozen = boot_s > 0
        await self.start()
        if boot_s > 0:
            self.spawn(self._boot(boot_s))

    async def _boot(self, boot_s: float) -> None:
        await asyncio.sleep(boot_s)
        self.frozen = False

    def send_garbage(self, data: bytes) -> None:
        """Send bytes that are not the protocol to every client (a firmware bug, noise)."""
        self._send_garbage(data)
