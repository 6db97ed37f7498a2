"""What a simulated receiver does with a command: GET, SET, METER_RATE, FLASH.

Answers follow the family's wire renderer; a SET that changes something is announced to
every client (as real receivers do), a refused one gets the family's error frame.
"""

from __future__ import annotations

import asyncio

from micboardd.model import Family
from micboardd.shure.codec import Frame, MessageKind
from micboardd.sim.host import Client, CommandHost
from micboardd.sim.state import ChannelState, valid_name
from micboardd.sim.wire import Item, n5, onoff

# UHF-R `METER x ALL sss` counts in units of about 30 ms (micboard sends 003 for 100 ms).
UHFR_METER_UNIT_MS = 30
# METER_RATE range of the ULX-D / SLX-D documents (00000 = off). The simulated receiver's own,
# kept apart from micboardd.config's on purpose: it refuses what a real receiver refuses, so
# a daemon that asked for a rate out of range would be caught here, not agreed with.
MIN_METER_RATE_MS = 100
MAX_METER_RATE_MS = 65535


class SimCommands:
    """The command side of one simulated receiver (`receiver.SimReceiver`)."""

    def __init__(self, rx: CommandHost) -> None:
        self.rx = rx

    def handle(self, peer: Client, frame: Frame) -> None:
        """Answer one GET/SET/METER from `peer` (an error frame for what a receiver refuses)."""
        if frame.channel == 0 and not self.rx.channel_zero:
            # UHF-R / PSM1000 firmware: channel 0 is not "all channels" (answered even by
            # families that otherwise stay silent on bad commands).
            peer.send([self.rx.wire.error_frame()])
            return
        if frame.kind is MessageKind.GET:
            frames = self._get(peer, frame)
        elif frame.kind is MessageKind.SET:
            frames = self._set(peer, frame)
        elif frame.kind is MessageKind.METER and self.rx.family is Family.UHFR:
            frames = self._uhfr_meter(peer, frame)
        else:
            frames = None
        if frames is None:
            self.rx.error_to(peer)
        else:
            peer.send(frames)

    def _select(self, channel: int | None) -> list[ChannelState] | None:
        """Channels addressed by an index: 0 = all, n = one, anything else = invalid."""
        if channel == 0:
            return list(self.rx.state.channels)
        if channel is not None and 1 <= channel <= len(self.rx.state.channels):
            return [self.rx.state.channels[channel - 1]]
        return None

    def _channel_items(self, peer: Client, ch: ChannelState) -> list[Item]:
        items = self.rx.wire.channel_items(self.rx.state, ch, peer.meter_rate(ch.number))
        return [item for item in items if item[0] not in self.rx.refused]

    def _device_items(self) -> list[Item]:
        items = self.rx.wire.device_items(self.rx.state)
        return [item for item in items if item[0] not in self.rx.refused]

    def _get(self, peer: Client, frame: Frame) -> list[str] | None:
        wire, prop = self.rx.wire, frame.prop
        if prop in self.rx.refused:
            return None
        if prop == "ALL":
            chans = self._select(0 if frame.channel is None else frame.channel)
            if not wire.get_all or chans is None:
                return None
            if frame.channel in (0, None) and not self.rx.get_all_zero:
                return None  # SLX-D+: `REP ERR`, then only metering (real-captures.md §3)
            out = [wire.rep(None, p, v) for p, v in self._device_items()]
            for ch in chans:
                out += [wire.rep(ch.number, p, v) for p, v in self._channel_items(peer, ch)]
            return out
        if frame.channel is None:
            if prop == "FLASH":
                return [wire.rep(None, prop, onoff(self.rx.state.flash))]
            found = [wire.rep(None, p, v) for p, v in self._device_items() if p == prop]
            return found or None
        chans = self._select(frame.channel)
        if chans is None:
            return None
        out = []
        for ch in chans:
            if prop == "FLASH":
                out.append(wire.rep(ch.number, prop, onoff(ch.flash)))
                continue
            items = self._channel_items(peer, ch)
            out += [wire.rep(ch.number, p, v) for p, v in items if p == prop]
        return out or None

    def _set(self, peer: Client, frame: Frame) -> list[str] | None:
        prop, args, vocab = frame.prop, frame.args, self.rx.wire.vocab
        if prop == "METER_RATE" and self.rx.family is not Family.UHFR:
            return self._set_meter_rate(peer, frame)
        if prop == "FLASH":
            return self._set_flash(frame)
        if prop == vocab.device_name and frame.channel is None:
            if len(args) != 1 or not valid_name(args[0]):
                return None
            self.rx.state.device_id = args[0]
            return self._commit(None, prop)
        chans = self._select(frame.channel)
        if chans is None or not args:
            return None
        if prop == vocab.name:
            if frame.channel == 0 or len(args) != 1 or not valid_name(args[0]):
                return None
            chans[0].name = args[0]
        elif prop == vocab.gain:
            if not self._set_gain(chans, args):
                return None
        elif prop == vocab.mute and vocab.mute is not None:
            if not self._set_mute(chans, args[0]):
                return None
        elif prop == vocab.frequency:
            if len(args) != 1 or not args[0].isdigit():
                return None
            for ch in chans:
                ch.frequency_khz = int(args[0])
                ch.group_channel = None
            return self._commit(chans, prop, vocab.group)
        else:
            return None
        return self._commit(chans, prop)

    def _set_gain(self, chans: list[ChannelState], args: tuple[str, ...]) -> bool:
        if len(args) == 2 and args[0] in ("INC", "DEC") and args[1].isdigit():
            step = int(args[1]) * (1 if args[0] == "INC" else -1)
            for ch in chans:
                ch.gain_db = max(-18, min(42, ch.gain_db + step))
            return True
        if len(args) == 1 and args[0].isdigit() and 0 <= int(args[0]) <= 60:
            for ch in chans:
                ch.gain_db = int(args[0]) - 18
            return True
        return False

    def _set_mute(self, chans: list[ChannelState], value: str) -> bool:
        vocab = self.rx.wire.vocab
        if value not in (vocab.mute_on, vocab.mute_off, "TOGGLE"):
            return False
        for ch in chans:
            ch.mute = (not ch.mute) if value == "TOGGLE" else value == vocab.mute_on
        return True

    def _set_meter_rate(self, peer: Client, frame: Frame) -> list[str] | None:
        chans = self._select(frame.channel)
        if chans is None or len(frame.args) != 1 or not frame.args[0].isdigit():
            return None
        interval = int(frame.args[0])
        if interval and not MIN_METER_RATE_MS <= interval <= MAX_METER_RATE_MS:
            return None
        return self.apply_meter_rate(peer, [ch.number for ch in chans], interval)

    def apply_meter_rate(
        self, peer: Client | None, channels: list[int], interval: int
    ) -> list[str]:
        """Meters of `channels` every `interval` ms for `peer`, or for every client when the
        receiver's METER_RATE is receiver-wide (then every client hears the REP too).
        Returns what the requester still needs to hear."""
        reps = [self.rx.wire.rep(n, "METER_RATE", n5(interval)) for n in channels]
        if peer is not None and self.rx.meter_scope == "connection":
            peer.set_meters(channels, interval)
            return reps
        for n in channels:
            if interval:
                self.rx.meter_rates[n] = interval
            else:
                self.rx.meter_rates.pop(n, None)
        for each in self.rx.peers():
            each.set_meters(channels, interval)
        if self.rx.family is not Family.UHFR:
            self.rx.broadcast(reps)
        return []

    def _uhfr_meter(self, peer: Client, frame: Frame) -> list[str] | None:
        chans = self._select(frame.channel)
        if chans is None or frame.prop != "ALL" or len(frame.args) != 1:
            return None
        arg = frame.args[0]
        if arg == "STOP":
            interval = 0
        elif arg.isdigit() and int(arg) > 0:
            interval = int(arg) * UHFR_METER_UNIT_MS
        else:
            return None
        self.apply_meter_rate(peer, [ch.number for ch in chans], interval)
        return []

    def _set_flash(self, frame: Frame) -> list[str] | None:
        if frame.args != ("ON",):
            return None
        if frame.channel is None:
            self.rx.state.flash = True
            self.rx.broadcast([self.rx.wire.rep(None, "FLASH", "ON")])
        else:
            chans = self._select(frame.channel)
            if chans is None:
                return None
            for ch in chans:
                ch.flash = True
            self.rx.broadcast([self.rx.wire.rep(ch.number, "FLASH", "ON") for ch in chans])
        self.rx.spawn(self._flash_off(frame.channel))
        return []

    async def _flash_off(self, channel: int | None) -> None:
        await asyncio.sleep(self.rx.flash_seconds)
        if channel is None:
            self.rx.state.flash = False
            self.rx.broadcast([self.rx.wire.rep(None, "FLASH", "OFF")])
            return
        chans = self._select(channel) or []
        for ch in chans:
            ch.flash = False
        self.rx.broadcast([self.rx.wire.rep(ch.number, "FLASH", "OFF") for ch in chans])

    def _commit(self, chans: list[ChannelState] | None, *props: str) -> list[str]:
        """Announce changes to every client; return what the requester still needs to hear.

        A SET that changed something is answered by the broadcast REP; one that changed
        nothing is still answered, to the requester only, with the current value.
        """
        announced = self.rx.publish()
        numbers = [0] if chans is None else [ch.number for ch in chans]
        replies: list[str] = []
        for number in numbers:
            for prop in props:
                if (number, prop) in announced:
                    continue
                if number == 0:
                    items = self.rx.wire.device_items(self.rx.state)
                    replies += [self.rx.wire.rep(None, p, v) for p, v in items if p == prop]
                else:
                    ch = self.rx.state.channels[number - 1]
                    items = self.rx.wire.channel_items(self.rx.state, ch, 0)
                    replies += [self.rx.wire.rep(number, p, v) for p, v in items if p == prop]
        return replies
