"""Each receiver family's wire rendering (see wire.py for the units and conventions)."""

from __future__ import annotations

from micboardd.model import Family
from micboardd.sim.state import ChannelState, ReceiverState
from micboardd.sim.wire import (
    ANTENNA_LIT_DBM,
    FamilyWire,
    Item,
    Vocabulary,
    antenna_pair,
    braced,
    clamp,
    group_text,
    lit_bitmap,
    maybe3,
    maybe5,
    n3,
    n5,
    onoff,
    rf_quality,
    temp_raw,
)

# Transmitter slots per Axient channel (PUBS-AD4 naming section).
AD_SLOTS = 8
# Full scale of the PSM1000 input meter: assumed 24-bit linear amplitude [U].
PSM_FULL_SCALE = 8_388_607
PSM_METER_DIGITS = 11
# LED ladders (threshold per lit LED) for the Axient bitmaps; 5 RF LEDs, 7 audio LEDs.
AD_RSSI_LED_DBM = (-95.0, -85.0, -75.0, -65.0, -55.0)
AD_AUDIO_LED_DBFS = (-60.0, -50.0, -40.0, -30.0, -20.0, -10.0, -3.0)
AD_AUDIO_OVERLOAD_BIT = 0x80
AD_OVERLOAD_DBFS = -0.5


class UlxdWire(FamilyWire):
    """ULX-D and QLX-D (QLX-D: no AUDIO_MUTE, no summing/FD/HD modes, ENCRYPTION ON/OFF)."""

    metered = frozenset({"RF_ANTENNA", "RX_RF_LVL", "AUDIO_LVL"})
    name_width = 8
    device_id_width = 8

    def __init__(self, *, qlx: bool) -> None:
        self.qlx = qlx
        self.family = Family.QLXD if qlx else Family.ULXD
        self.vocab = Vocabulary(mute=None) if qlx else Vocabulary()

    def device_items(self, rx: ReceiverState) -> list[Item]:
        items: list[Item] = [
            ("FW_VER", braced(rx.fw_ver, 18)),
            ("DEVICE_ID", braced(rx.device_id, self.device_id_width)),
            # ULX-D MODEL is [U]: PEPPER parses it, RFDECK says it does not exist. We answer.
            ("MODEL", braced(rx.spec.model_string, 32)),
            ("RF_BAND", braced(rx.rf_band, 8)),
        ]
        if self.qlx:
            items.append(("ENCRYPTION", onoff(rx.encryption)))
            return items
        items.append(("ENCRYPTION", "AUTO" if rx.encryption else "OFF"))
        if len(rx.channels) > 1:
            items.append(("AUDIO_SUMMING_MODE", "OFF"))
            items.append(("FREQUENCY_DIVERSITY_MODE", "OFF"))
        items.append(("HIGH_DENSITY", "OFF"))
        return items

    def channel_items(self, rx: ReceiverState, ch: ChannelState, meter_rate_ms: int) -> list[Item]:
        on = ch.tx_present
        unkn = "UNKN"
        items: list[Item] = [
            ("CHAN_NAME", self.name_value(ch.name)),
            ("AUDIO_GAIN", n3(ch.gain_db + 18)),
        ]
        if not self.qlx:
            items.append(("AUDIO_MUTE", onoff(ch.mute)))
        items += [
            ("GROUP_CHAN", group_text(ch.group_channel)),
            ("FREQUENCY", self.frequency_value(ch.frequency_khz)),
            ("ENCRYPTION_WARNING", onoff(ch.encryption_error)),
            ("RF_INT_DET", "CRITICAL" if ch.interference else "NONE"),
            ("TX_TYPE", ch.tx_model if on else unkn),
            ("TX_OFFSET", maybe3(ch.tx_offset_db, on)),
            ("TX_RF_PWR", "NORMAL" if on else unkn),
            ("TX_MUTE_STATUS", "OFF" if on else unkn),
            ("TX_PWR_LOCK", "OFF" if on else unkn),
            ("TX_MENU_LOCK", "OFF" if on else unkn),
            ("TX_MUTE_BUTTON_STATUS", "RELEASED" if on else unkn),
            ("TX_POWER_SOURCE", "BATTERY" if on else unkn),
            ("BATT_BARS", maybe3(ch.battery_bars, on)),
            ("BATT_CHARGE", maybe3(ch.battery_percent, on)),
            ("BATT_RUN_TIME", maybe5(ch.battery_minutes, on)),
            ("BATT_HEALTH", maybe3(ch.battery_health_percent, on)),
            ("BATT_CYCLE", maybe5(ch.battery_cycles, on)),
            ("BATT_TEMP_C", maybe3(temp_raw(ch.battery_temp_c), on)),
            ("BATT_TEMP_F", maybe3(temp_raw(ch.battery_temp_c, fahrenheit=True), on)),
            ("BATT_TYPE", ch.battery_type if on else unkn),
            ("METER_RATE", n5(meter_rate_ms)),
        ]
        # [U] Not in any Shure document, but seen in GET ALL dumps by MB and COMP.
        antenna, rf, audio = self._meters(ch)
        items += [("RF_ANTENNA", antenna), ("RX_RF_LVL", rf), ("AUDIO_LVL", audio)]
        return items

    def _meters(self, ch: ChannelState) -> tuple[str, str, str]:
        rms, _peak = ch.heard_audio_dbfs()
        rf = clamp(max(ch.heard_rf_dbm()) + 128, 0, 115)
        return antenna_pair(ch), n3(rf), n3(clamp(rms + 50, 0, 50))

    def meter_frames(self, rx: ReceiverState, ch: ChannelState) -> list[str]:
        antenna, rf, audio = self._meters(ch)
        return [self.frame("SAMPLE", ch.number, "ALL", f"{antenna} {rf} {audio}")]


class SlxdWire(FamilyWire):
    """SLX-D, after Shure's SLX-D command strings v3.0 (no mute, no battery percent)."""

    family = Family.SLXD
    vocab = Vocabulary(mute=None, group="GROUP_CHANNEL", frequency_digits=7)
    metered = frozenset({"AUDIO_LEVEL_PEAK", "AUDIO_LEVEL_RMS", "RSSI"})
    name_width = 31
    device_id_width = 8

    def device_items(self, rx: ReceiverState) -> list[Item]:
        return [
            ("MODEL", braced(rx.spec.model_string, 32)),
            ("DEVICE_ID", braced(rx.device_id, self.device_id_width)),
            ("RF_BAND", braced(rx.rf_band, 8)),
            ("LOCK_STATUS", "OFF"),
            ("FW_VER", braced(rx.fw_ver, 24)),
        ]

    def channel_items(self, rx: ReceiverState, ch: ChannelState, meter_rate_ms: int) -> list[Item]:
        on = ch.tx_present
        rms, peak = ch.heard_audio_dbfs()
        group = "--,--" if ch.group_channel is None else "{},{}".format(*ch.group_channel)
        items: list[Item] = [
            ("CHAN_NAME", self.name_value(ch.name)),
            ("AUDIO_GAIN", n3(ch.gain_db + 18)),
            ("AUDIO_OUT_LVL_SWITCH", "MIC"),
            ("GROUP_CHANNEL", braced(group, 5)),
            ("FREQUENCY", self.frequency_value(ch.frequency_khz)),
            ("TX_MODEL", ch.tx_model if on else "UNKNOWN"),
            ("TX_BATT_BARS", maybe3(ch.battery_bars, on)),
            ("TX_BATT_MINS", maybe5(ch.battery_minutes, on)),
            ("METER_RATE", n5(meter_rate_ms)),
            ("AUDIO_LEVEL_PEAK", n3(clamp(peak + 120, 0, 120))),
            ("AUDIO_LEVEL_RMS", n3(clamp(rms + 120, 0, 120))),
        ]
        for antenna, dbm in enumerate(ch.heard_rf_dbm(), start=1):
            items.append(("RSSI", f"{antenna} {n3(clamp(dbm + 120, 0, 120))}"))
        return items

    def meter_frames(self, rx: ReceiverState, ch: ChannelState) -> list[str]:
        rms, peak = ch.heard_audio_dbfs()
        rssi = clamp(max(ch.heard_rf_dbm()) + 120, 0, 120)
        values = f"{n3(clamp(peak + 120, 0, 120))} {n3(clamp(rms + 120, 0, 120))} {n3(rssi)}"
        return [self.frame("SAMPLE", ch.number, "ALL", values)]


class AxientWire(FamilyWire):
    """Axient Digital AD4D / AD4Q, shaped after the real AD4Q-A dump in shared/data."""

    family = Family.AXIENT
    vocab = Vocabulary(group="GROUP_CHANNEL", frequency_digits=7)
    metered = frozenset(
        {
            "AUDIO_LEVEL_PEAK",
            "AUDIO_LEVEL_RMS",
            "AUDIO_LED_BITMAP",
            "RSSI",
            "RSSI_LED_BITMAP",
            "CHAN_QUALITY",
        }
    )
    name_width = 31
    device_id_width = 31

    def device_items(self, rx: ReceiverState) -> list[Item]:
        return [
            ("MODEL", braced(rx.spec.model_string, 32)),
            ("DEVICE_ID", braced(rx.device_id, self.device_id_width)),
            ("FW_VER", braced(rx.fw_ver, 24)),
            ("RF_BAND", braced(rx.rf_band, 8)),
            ("ENCRYPTION_MODE", onoff(rx.encryption)),
            ("QUADVERSITY_MODE", onoff(rx.antennas == 4)),
            ("TRANSMISSION_MODE", "STANDARD"),
        ]

    def channel_items(self, rx: ReceiverState, ch: ChannelState, meter_rate_ms: int) -> list[Item]:
        on = ch.tx_present
        rms, peak = ch.heard_audio_dbfs()
        items: list[Item] = [
            ("CHAN_NAME", self.name_value(ch.name)),
            ("AUDIO_GAIN", n3(ch.gain_db + 18)),
            ("AUDIO_MUTE", onoff(ch.mute)),
            ("GROUP_CHANNEL", group_text(ch.group_channel)),
            ("FREQUENCY", self.frequency_value(ch.frequency_khz)),
            ("FD_MODE", "FD-C" if rx.frequency_diversity else "OFF"),
        ]
        if rx.frequency_diversity:
            items += [
                ("FREQUENCY2", self.frequency_value(ch.frequency_khz + 25_000)),
                ("GROUP_CHANNEL2", "--,--"),
                ("INTERFERENCE_STATUS2", "NONE"),
            ]
        items += [
            ("ENCRYPTION_STATUS", "ERROR" if ch.encryption_error else "OK"),
            ("INTERFERENCE_STATUS", "DETECTED" if ch.interference else "NONE"),
            ("UNREGISTERED_TX_STATUS", "OK"),
            ("METER_RATE", n5(meter_rate_ms)),
            ("AUDIO_LEVEL_PEAK", n3(clamp(peak + 120, 0, 120))),
            ("AUDIO_LEVEL_RMS", n3(clamp(rms + 120, 0, 120))),
            ("AUDIO_LED_BITMAP", n3(self._audio_bitmap(peak))),
        ]
        rf = ch.heard_rf_dbm()
        for antenna, dbm in enumerate(rf, start=1):
            items.append(("RSSI", f"{antenna} {n3(clamp(dbm + 120, 0, 120))}"))
        for antenna, dbm in enumerate(rf, start=1):
            items.append(("RSSI_LED_BITMAP", f"{antenna} {lit_bitmap(dbm, AD_RSSI_LED_DBM):02d}"))
        # ANTENNA_STATUS only travels in SAMPLE: the real AD4Q's GET ALL dump has none.
        items.append(("CHAN_QUALITY", n3(rf_quality(ch))))
        items += self._tx_items(ch, on)
        items += self._slot_items(ch, on)
        return items

    def _tx_items(self, ch: ChannelState, on: bool) -> list[Item]:
        unknown = "UNKNOWN"
        return [
            ("TX_MODEL", ch.tx_model if on else unknown),
            ("TX_DEVICE_ID", braced(ch.name if on else "", 31)),
            ("TX_BATT_BARS", maybe3(ch.battery_bars, on)),
            ("TX_BATT_CHARGE_PERCENT", maybe3(ch.battery_percent, on)),
            ("TX_BATT_MINS", maybe5(ch.battery_minutes, on)),
            ("TX_BATT_HEALTH_PERCENT", maybe3(ch.battery_health_percent, on)),
            ("TX_BATT_CYCLE_COUNT", maybe5(ch.battery_cycles, on)),
            ("TX_BATT_TEMP_C", maybe3(temp_raw(ch.battery_temp_c), on)),
            ("TX_BATT_TEMP_F", maybe3(temp_raw(ch.battery_temp_c, fahrenheit=True), on)),
            ("TX_BATT_TYPE", ch.battery_type if on else "UNKN"),
            ("TX_OFFSET", maybe3(ch.tx_offset_db + 12, on)),
            ("TX_INPUT_PAD", maybe3(12, on)),
            ("TX_POWER_LEVEL", maybe3(ch.tx_power_mw, on)),
            ("TX_MUTE_MODE_STATUS", "ON" if on else unknown),  # ON means unmuted
            ("TX_POLARITY", "POSITIVE" if on else unknown),
            ("TX_LOCK", "NONE" if on else unknown),
            ("TX_TALK_SWITCH", "OFF" if on else unknown),
        ]

    def _slot_items(self, ch: ChannelState, on: bool) -> list[Item]:
        """Slot 1 holds the linked transmitter; slots 2-8 are empty."""
        items: list[Item] = []

        def per_slot(prop: str, first: str, empty: str) -> None:
            for slot in range(1, AD_SLOTS + 1):
                items.append((prop, f"{slot} {first if slot == 1 else empty}"))

        per_slot("SLOT_STATUS", "LINKED.ACTIVE" if on else "LINKED.INACTIVE", "EMPTY")
        per_slot("SLOT_TX_MODEL", ch.tx_model if on else "UNKNOWN", "UNKNOWN")
        per_slot("SLOT_TX_DEVICE_ID", braced(ch.name if on else "", 31), braced("", 31))
        per_slot("SLOT_BATT_BARS", maybe3(ch.battery_bars, on), "255")
        per_slot("SLOT_BATT_CHARGE_PERCENT", maybe3(ch.battery_percent, on), "255")
        per_slot("SLOT_BATT_MINS", maybe5(ch.battery_minutes, on), "65535")
        per_slot("SLOT_BATT_HEALTH_PERCENT", maybe3(ch.battery_health_percent, on), "255")
        per_slot("SLOT_BATT_CYCLE_COUNT", maybe5(ch.battery_cycles, on), "65535")
        per_slot("SLOT_BATT_TYPE", ch.battery_type if on else "UNKN", "UNKN")
        per_slot("SLOT_OFFSET", maybe3(ch.tx_offset_db + 12, on), "255")
        per_slot("SLOT_INPUT_PAD", maybe3(12, on), "255")
        per_slot("SLOT_POLARITY", "POSITIVE" if on else "UNKNOWN", "UNKNOWN")
        per_slot("SLOT_RF_OUTPUT", "RF_ON" if on else "UNKNOWN", "UNKNOWN")
        per_slot("SLOT_RF_POWER", maybe3(ch.tx_power_mw, on), "255")
        per_slot("SLOT_RF_POWER_MODE", "NORMAL" if on else "UNKNOWN", "UNKNOWN")
        per_slot("SLOT_SHOWLINK_STATUS", maybe3(5, on), "255")
        return items

    @staticmethod
    def _audio_bitmap(peak_dbfs: float) -> int:
        bitmap = lit_bitmap(peak_dbfs, AD_AUDIO_LED_DBFS)
        return bitmap | AD_AUDIO_OVERLOAD_BIT if peak_dbfs >= AD_OVERLOAD_DBFS else bitmap

    @staticmethod
    def _antenna_status(ch: ChannelState, rf: list[float]) -> str:
        """One char per antenna: X no signal, B (blue) receiving, R (red) weak."""
        if not ch.tx_present:
            return "X" * len(rf)
        return "".join("X" if d < ANTENNA_LIT_DBM else "R" if d < -85 else "B" for d in rf)

    def _rf_section(self, ch: ChannelState, rf: list[float]) -> str:
        parts = [self._antenna_status(ch, rf)]
        for dbm in rf:
            parts += [f"{lit_bitmap(dbm, AD_RSSI_LED_DBM):02d}", n3(clamp(dbm + 120, 0, 120))]
        return " ".join(parts)

    def meter_frames(self, rx: ReceiverState, ch: ChannelState) -> list[str]:
        rms, peak = ch.heard_audio_dbfs()
        rf = ch.heard_rf_dbm()
        fields = [
            n3(rf_quality(ch)),
            n3(self._audio_bitmap(peak)),
            n3(clamp(peak + 120, 0, 120)),
            n3(clamp(rms + 120, 0, 120)),
            self._rf_section(ch, rf),
        ]
        if rx.frequency_diversity:
            # FD-C: the second frequency's antennas, a couple of dB apart from the first.
            fields.append(self._rf_section(ch, [d - 2.0 for d in rf]))
        return [self.frame("SAMPLE", ch.number, "ALL", " ".join(fields))]


UHFR_SEGMENTS = 8
UHFR_DB_PER_SEGMENT = 6


def uhfr_audio_bitmap(dbfs: float) -> int:
    """Lit LED segments as a bitmap (0, 1, 3, 7 ... 255): 8 lit at 0 dBFS, one fewer per 6 dB."""
    lit = max(0, min(UHFR_SEGMENTS, UHFR_SEGMENTS + int(dbfs // UHFR_DB_PER_SEGMENT)))
    return (1 << lit) - 1


class UhfrWire(FamilyWire):
    """UHF-R UR4S / UR4D: `*` framing over UDP, `REPORT`, no GET ALL; scales are [U]."""

    family = Family.UHFR
    start = "*"
    end = "*"
    reply = "REPORT"
    get_all = False
    answers_errors = False  # nothing says UHF-R answers bad commands at all
    name_width = 8

    def device_items(self, rx: ReceiverState) -> list[Item]:
        return [
            ("MODEL", braced(rx.spec.model_string)),
            ("DEVICE_ID", braced(rx.device_id, self.device_id_width)),
            ("FW_VER", braced(rx.fw_ver)),
            ("RF_BAND", braced(rx.rf_band)),
        ]

    def channel_items(self, rx: ReceiverState, ch: ChannelState, meter_rate_ms: int) -> list[Item]:
        return [
            ("CHAN_NAME", self.name_value(ch.name)),
            ("FREQUENCY", self.frequency_value(ch.frequency_khz)),
            ("GROUP_CHAN", group_text(ch.group_channel)),
            ("TX_BAT", self.battery(ch)),
        ]

    @staticmethod
    def battery(ch: ChannelState) -> str:
        if not ch.tx_present or ch.battery_bars is None:
            return "U"
        return str(ch.battery_bars)

    def meter_frames(self, rx: ReceiverState, ch: ChannelState) -> list[str]:
        rms, _peak = ch.heard_audio_dbfs()
        rf = [n3(clamp(-d, 0, 254)) for d in ch.heard_rf_dbm()[:2]]
        rf_a, rf_b = rf[0], rf[1]
        audio = n3(uhfr_audio_bitmap(rms))
        values = f"{self._antennas(ch)} {rf_a} {rf_b} {self.battery(ch)} {audio}"
        return [self.frame("SAMPLE", ch.number, "ALL", values)]

    @staticmethod
    def _antennas(ch: ChannelState) -> str:
        rf = ch.heard_rf_dbm()
        pair = antenna_pair(ch)
        if pair != "XX" and min(rf[0], rf[1]) >= ANTENNA_LIT_DBM and abs(rf[0] - rf[1]) < 1.0:
            return "AB"
        return pair


class Psm1000Wire(FamilyWire):
    """PSM1000 P10T: `REPORT`, CRLF-terminated, device parameters without channel index."""

    family = Family.PSM1000
    eol = "\r\n"
    reply = "REPORT"
    get_all = False
    vocab = Vocabulary(
        device_name="DEVICE_NAME", gain="AUDIO_IN_LVL", mute="RF_MUTE", mute_on="1", mute_off="0"
    )
    name_width = 8

    def device_items(self, rx: ReceiverState) -> list[Item]:
        return [
            ("DEVICE_NAME", braced(rx.device_id, self.device_id_width)),
            ("MODEL", braced(rx.spec.model_string)),
            ("FW_VER", braced(rx.fw_ver)),
            ("RF_BAND", braced(rx.rf_band)),
        ]

    def channel_items(self, rx: ReceiverState, ch: ChannelState, meter_rate_ms: int) -> list[Item]:
        return [
            ("CHAN_NAME", self.name_value(ch.name)),
            ("AUDIO_IN_LVL", n3(ch.gain_db + 18)),
            ("GROUP_CHAN", group_text(ch.group_channel)),
            ("FREQUENCY", self.frequency_value(ch.frequency_khz)),
            ("RF_TX_LVL", str(ch.tx_power_mw)),
            ("RF_MUTE", "1" if ch.mute else "0"),
            ("AUDIO_TX_MODE", "1"),
            ("AUDIO_IN_LINE_LVL", "1"),
            ("METER_RATE", n5(meter_rate_ms)),
        ]

    def meter_frames(self, rx: ReceiverState, ch: ChannelState) -> list[str]:
        # A transmitter meters its own input: no "absent transmitter" case here.
        left = self.level_raw(ch.audio_rms_dbfs)
        right = self.level_raw(ch.audio_rms_dbfs - 1.0)
        return [
            self.rep(ch.number, "AUDIO_IN_LVL_L", left),
            self.rep(ch.number, "AUDIO_IN_LVL_R", right),
        ]

    @staticmethod
    def level_raw(dbfs: float) -> str:
        value = round(PSM_FULL_SCALE * 10 ** (min(dbfs, 0.0) / 20))
        return f"{value:0{PSM_METER_DIGITS}d}"


def wire_for(family: Family) -> FamilyWire:
    """The renderer of a family."""
    if family in (Family.ULXD, Family.QLXD):
        return UlxdWire(qlx=family is Family.QLXD)
    renderers: dict[Family, type[FamilyWire]] = {
        Family.SLXD: SlxdWire,
        Family.AXIENT: AxientWire,
        Family.UHFR: UhfrWire,
        Family.PSM1000: Psm1000Wire,
    }
    try:
        return renderers[family]()
    except KeyError:
        raise ValueError(f"no simulator for family {family}") from None
