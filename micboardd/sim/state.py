"""State of a simulated receiver, in engineering units and independent of any family.

A `ReceiverState` is what the front panel of a receiver would show: names, frequencies, the
transmitter on each channel, its battery, RF per antenna in dBm, audio in dBFS. How these
values look on the wire (raw scales, sentinels, padding) is `wire.py`'s business; the server
that speaks them is `receiver.py`. Changing state here never sends anything by itself: the
receiver's scenario verbs change it and then publish the difference.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

from micboardd.errors import ConfigError
from micboardd.model import Family

# What an antenna hears with no transmitter on air; the real AD4Q dump shows RSSI raw 011-013
# (-109..-107 dBm) in that state.
NOISE_FLOOR_DBM = -108.0
# Audio meters with no transmitter, as in the real AD4Q dump (peak raw 005, rms raw 020).
NO_TX_PEAK_DBFS = -115.0
NO_TX_RMS_DBFS = -100.0
# A healthy transmitter a few metres from the antennas.
ON_AIR_RF_DBM = -55.0
ON_AIR_RMS_DBFS = -30.0
ON_AIR_PEAK_DBFS = -18.0
# Runtime of a full rechargeable pack (minutes); percent and bars are derived from it.
FULL_PACK_MINUTES = 600
BATTERY_MAX_BARS = 5
# Channel names as a SET accepts them: 1-8 of these characters (SLX-D and AD documents).
NAME_MAX_CHARS = 8
NAME_ALPHABET = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`~ "
)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One receiver model: its family, channel count and factory defaults."""

    model: str
    family: Family
    channels: int
    model_string: str  # what `GET MODEL` answers (e.g. the real AD4Q says "AD4Q-A")
    rf_band: str
    base_frequency_khz: int
    tx_model: str  # transmitter used when a channel's TX is switched on
    fw_ver: str
    transport: str = "tcp"  # "udp" for UHF-R


def _spec(
    model: str,
    family: Family,
    channels: int,
    band: str,
    base_khz: int,
    tx: str,
    fw: str,
    *,
    model_string: str | None = None,
    transport: str = "tcp",
) -> ModelSpec:
    return ModelSpec(
        model=model,
        family=family,
        channels=channels,
        model_string=model_string or model,
        rf_band=band,
        base_frequency_khz=base_khz,
        tx_model=tx,
        fw_ver=fw,
        transport=transport,
    )


MODELS: dict[str, ModelSpec] = {
    s.model: s
    for s in (
        _spec("ULXD4", Family.ULXD, 1, "G50", 480_125, "ULXD2", "2.7.6.0"),
        _spec("ULXD4D", Family.ULXD, 2, "G50", 482_125, "ULXD2", "2.7.6.0"),
        _spec("ULXD4Q", Family.ULXD, 4, "G50", 484_125, "ULXD2", "2.7.6.0"),
        _spec("QLXD4", Family.QLXD, 1, "G50", 490_125, "QLXD2", "2.1.5.0"),
        _spec("SLXD4", Family.SLXD, 1, "G55", 496_125, "SLXD2", "2.0.15.2"),
        _spec("SLXD4D", Family.SLXD, 2, "G55", 498_125, "SLXD2", "2.0.15.2"),
        _spec("SLXD4D+", Family.SLXD, 2, "G55", 502_125, "SLXD2+", "2.0.38.9"),
        _spec("SLXD4Q+", Family.SLXD, 4, "G55", 500_125, "SLXD2", "2.0.15.2"),
        _spec("AD4D", Family.AXIENT, 2, "G57", 590_075, "AD2", "1.1.43.0", model_string="AD4D-A"),
        _spec("AD4Q", Family.AXIENT, 4, "G57", 594_075, "AD2", "1.1.43.0", model_string="AD4Q-A"),
        _spec("UR4S", Family.UHFR, 1, "J5", 580_125, "UR2", "2.019", transport="udp"),
        _spec("UR4D", Family.UHFR, 2, "J5", 582_125, "UR2", "2.019", transport="udp"),
        _spec("P10T", Family.PSM1000, 2, "G10", 510_125, "P10T", "1.6.8"),
    )
}
_ALIASES = {"SLXD4Q": "SLXD4Q+", "PSM1000": "P10T"}


def lookup_model(name: str) -> ModelSpec:
    """The spec of a model name, case-insensitive (`ad4q`, `SLXD4Q` for `SLXD4Q+`)."""
    key = name.strip().upper()
    key = _ALIASES.get(key, key)
    try:
        return MODELS[key]
    except KeyError:
        known = ", ".join(MODELS)
        raise ConfigError("model", name, "simulator", f"unknown model (known: {known})") from None


def check_loopback(host: str) -> str:
    """Return `host` if it is an IPv4 loopback address (127.0.0.0/8), else raise ConfigError.

    The simulator must never bind to a real interface: build and test machines share LANs.
    """
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError("host", host, "simulator", "not an IPv4 address") from None
    if addr.version != 4 or not addr.is_loopback:
        raise ConfigError("host", host, "simulator", "not a loopback address (127.0.0.0/8)")
    return host


def valid_name(name: str) -> bool:
    """Whether a receiver would accept `name` in `SET x CHAN_NAME {..}`."""
    return 1 <= len(name) <= NAME_MAX_CHARS and all(c in NAME_ALPHABET for c in name)


def bars_for_percent(percent: int) -> int:
    """Battery bars a transmitter shows for a charge percentage (0-5)."""
    if percent <= 0:
        return 0
    return min(BATTERY_MAX_BARS, math.ceil(percent / (100 / BATTERY_MAX_BARS)))


@dataclass(slots=True)
class ChannelState:
    """One receiver channel and the transmitter tuned to it (None = unknown / not reported)."""

    number: int
    name: str
    frequency_khz: int
    antennas: int = 2
    group_channel: tuple[int, int] | None = None
    gain_db: int = 0
    mute: bool = False
    # The transmitter: `tx_on` is the performer's power switch; `signal_lost` is an RF
    # dropout. Either one makes the receiver report the sentinels of an absent transmitter.
    tx_model: str = ""
    tx_on: bool = True
    signal_lost: bool = False
    battery_bars: int | None = BATTERY_MAX_BARS
    battery_percent: int | None = 100
    battery_minutes: int | None = FULL_PACK_MINUTES
    battery_type: str = "LION"
    battery_temp_c: int = 24
    battery_health_percent: int = 96
    battery_cycles: int = 42
    tx_offset_db: int = 0
    tx_power_mw: int = 10
    interference: bool = False
    encryption_error: bool = False
    flash: bool = False
    # Meters (engineering units); change at meter rate, never announced by REP.
    rf_dbm: list[float] = field(default_factory=list)
    noise_dbm: list[float] = field(default_factory=list)
    audio_rms_dbfs: float = ON_AIR_RMS_DBFS
    audio_peak_dbfs: float = ON_AIR_PEAK_DBFS

    def __post_init__(self) -> None:
        if not self.rf_dbm:
            self.rf_dbm = [ON_AIR_RF_DBM - 3.0 * i for i in range(self.antennas)]
        if not self.noise_dbm:
            self.noise_dbm = [NOISE_FLOOR_DBM] * self.antennas

    @property
    def tx_present(self) -> bool:
        """A transmitter is on air and heard: what the receiver's TX_* values describe."""
        return self.tx_on and not self.signal_lost

    def heard_rf_dbm(self) -> list[float]:
        """RF per antenna as the receiver measures it (the noise floor with no transmitter)."""
        return list(self.rf_dbm) if self.tx_present else list(self.noise_dbm)

    def heard_audio_dbfs(self) -> tuple[float, float]:
        """(rms, peak) as metered; near silence with no transmitter."""
        if not self.tx_present:
            return NO_TX_RMS_DBFS, NO_TX_PEAK_DBFS
        return self.audio_rms_dbfs, self.audio_peak_dbfs

    def set_battery(
        self, *, bars: int | None = None, minutes: int | None = None, percent: int | None = None
    ) -> None:
        """Set any of bars/minutes/percent; the ones not given are derived from those given."""
        if percent is None and minutes is not None:
            percent = max(0, min(100, round(100 * minutes / FULL_PACK_MINUTES)))
        if percent is None and bars is not None:
            percent = max(0, min(100, bars * (100 // BATTERY_MAX_BARS)))
        if percent is None:
            return
        self.battery_percent = max(0, min(100, percent))
        self.battery_bars = bars if bars is not None else bars_for_percent(self.battery_percent)
        if minutes is None:
            minutes = round(FULL_PACK_MINUTES * self.battery_percent / 100)
        self.battery_minutes = max(0, minutes)


@dataclass(slots=True)
class ReceiverState:
    """A whole receiver: device-level settings plus its channels."""

    spec: ModelSpec
    device_id: str
    fw_ver: str
    rf_band: str
    channels: list[ChannelState]
    antennas: int = 2  # 4 on an Axient receiver with Quadversity on
    frequency_diversity: bool = False  # Axient FD-C: second frequency per channel
    encryption: bool = False
    flash: bool = False

    @property
    def family(self) -> Family:
        return self.spec.family

    def channel(self, number: int) -> ChannelState:
        """Channel `number` (1-based); IndexError names the valid range."""
        if not 1 <= number <= len(self.channels):
            raise IndexError(f"channel {number} not in 1..{len(self.channels)}")
        return self.channels[number - 1]


def default_state(
    spec: ModelSpec,
    *,
    names: list[str] | None = None,
    device_id: str | None = None,
    frequency_offset_khz: int = 0,
    quadversity: bool = False,
    frequency_diversity: bool = False,
    tx_on: bool = True,
) -> ReceiverState:
    """A freshly powered receiver of `spec` with a transmitter on every channel (if tx_on)."""
    antennas = 4 if quadversity and spec.family is Family.AXIENT else 2
    channels = []
    for n in range(1, spec.channels + 1):
        name = names[n - 1] if names and n <= len(names) else f"Ch {n}"
        channels.append(
            ChannelState(
                number=n,
                name=name,
                frequency_khz=spec.base_frequency_khz + frequency_offset_khz + 900 * (n - 1),
                antennas=antennas,
                tx_model=spec.tx_model,
                tx_on=tx_on,
            )
        )
    return ReceiverState(
        spec=spec,
        device_id=device_id or spec.model[:NAME_MAX_CHARS],
        fw_ver=spec.fw_ver,
        rf_band=spec.rf_band,
        channels=channels,
        antennas=antennas,
        frequency_diversity=frequency_diversity and spec.family is Family.AXIENT,
    )
