"""The other instances ("peers"): their devices in our hub, and whether they are alive.

A peer is alive while we hear from it (any message; it beats every few seconds). One silent
for longer than the TTL has its devices shown `rx_offline` with blank meters, as the hub does
for a local receiver it cannot hear, until it speaks again. Devices are put into the hub
whole (`Hub.put_remote`), so the fan-out, REST and the dashboard treat them like local ones.
No I/O: the bridge feeds messages and snapshots in; the clock is injectable for tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic

import msgspec

from micboardd.cluster.wire import Message, clean_device, plural, with_meters
from micboardd.isotime import iso
from micboardd.model import ChannelStatus, Device
from micboardd.sources.ports import Board

log = logging.getLogger(__name__)

MAX_PEERS = 32  # far more stages than a venue has; a misconfigured flood cannot grow memory
MAX_REMOTE_DEVICES = 4000  # four 1000-channel stages; beyond it new remote devices are ignored
# What a dead peer's devices must not keep showing: meters and the quality derived from them.
OFFLINE_BLANK: tuple[str, ...] = (
    "rf_signal",
    "rf_antennas",
    "antenna",
    "audio_level",
    "peak_level",
    "rf_quality",
)


def offline(dev: Device, stamp: str) -> Device:
    """`dev` as shown while its instance is gone: rx_offline, meters unknown."""
    return msgspec.structs.replace(
        dev,
        **dict.fromkeys(OFFLINE_BLANK),
        status=ChannelStatus.RX_OFFLINE.value,
        last_update=stamp,
    )


@dataclass(slots=True)
class Peer:
    name: str
    boot: str = ""
    online: bool = False
    last_heard: float = 0.0
    devices: set[str] = field(default_factory=set)


class Remotes(Generic[Board]):
    def __init__(
        self,
        hub: Board,
        instance: str,
        boot: str,
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self.instance = instance
        self.boot = boot
        self.ttl_s = ttl_s
        self.clock = clock
        self.peers: dict[str, Peer] = {}
        self.owner: dict[str, str] = {}  # remote device id -> peer name
        self.self_heard = clock()  # our own messages coming back: the subscription works
        self.bad_messages = 0
        self._warned: set[str] = set()

    # --- input ---

    def apply(self, message: Message) -> bool:
        """Apply one message. True when the caller should reload the sender's snapshot
        (we had given it up, and a delta alone would leave its quiet devices offline)."""
        now = self.clock()
        if message.instance == self.instance:
            self.self_heard = now
            if message.boot != self.boot:
                self._warn_once(
                    "same-name",
                    "another micboardd also calls itself %r: give each box its own --instance",
                    self.instance,
                )
            return False
        peer = self._peer(message.instance)
        if peer is None:
            return False
        came_back = not peer.online
        if came_back:
            log.info("instance %r is live", peer.name)
        peer.online, peer.last_heard, peer.boot = True, now, message.boot
        if message.kind == "full":
            self._replace(peer, message.devices)
            return False
        for raw in message.devices:
            self._put(peer, raw)
        for device_id, entry in message.meters.items():
            dev = self.hub.devices.get(device_id)
            if dev is None or self.owner.get(device_id) != peer.name:
                continue  # not (or not yet) known here: its next whole update brings it
            updated = with_meters(dev, entry)
            if updated is not None:
                self.hub.put_remote(updated)
        for device_id in message.removed:
            self._drop(peer, device_id)
        return came_back

    def load(self, name: str, devices: Iterable[Mapping[str, Any]], alive: bool) -> None:
        """A peer's snapshot from Redis; `alive`: its heartbeat key still exists."""
        if name == self.instance:
            return
        peer = self._peer(name)
        if peer is None:
            return
        peer.online = alive
        if alive:
            peer.last_heard = self.clock()
        self._replace(peer, devices)
        if not alive and peer.devices:
            log.info(
                "instance %r is not running: its %s show offline",
                name,
                plural(len(peer.devices), "device"),
            )

    def expire(self) -> list[str]:
        """Give up on peers silent for longer than the TTL; returns their names."""
        now = self.clock()
        gone = [p for p in self.peers.values() if p.online and now - p.last_heard > self.ttl_s]
        for peer in gone:
            peer.online = False
            log.warning(
                "instance %r silent for %.0f s: its %s show offline",
                peer.name,
                now - peer.last_heard,
                plural(len(peer.devices), "device"),
            )
            stamp = iso(self.hub.clock())
            for device_id in sorted(peer.devices):
                dev = self.hub.devices.get(device_id)
                if dev is not None:
                    self.hub.put_remote(offline(dev, stamp))
        return [p.name for p in gone]

    # --- views ---

    def status(self) -> dict[str, Any]:
        return {
            name: {"online": p.online, "devices": len(p.devices)}
            for name, p in sorted(self.peers.items())
        }

    # --- internals ---

    def _peer(self, name: str) -> Peer | None:
        peer = self.peers.get(name)
        if peer is None:
            if len(self.peers) >= MAX_PEERS:
                self._warn_once(
                    "peers", "more than %d instances on Redis: ignoring %r", MAX_PEERS, name
                )
                return None
            peer = self.peers[name] = Peer(name)
        return peer

    def _put(self, peer: Peer, raw: Mapping[str, Any]) -> None:
        dev = clean_device(raw, peer.name)
        if dev is None:
            self.bad_messages += 1
            self._warn_once(
                "bad-device", "instance %r sent a device without a usable id", peer.name
            )
            return
        device_id = dev.device_id
        owner = self.owner.get(device_id)
        if owner is not None and owner != peer.name:
            if self.peers[owner].online:
                self._warn_once(
                    "dup:" + device_id,
                    "device %s is monitored by instances %r and %r: showing %r's",
                    device_id,
                    owner,
                    peer.name,
                    owner,
                )
                return
            self.peers[owner].devices.discard(device_id)  # it moved to a live instance
        elif owner is None and len(self.owner) >= MAX_REMOTE_DEVICES:
            self._warn_once(
                "devices", "more than %d remote devices: ignoring the rest", MAX_REMOTE_DEVICES
            )
            return
        if not peer.online:
            dev = offline(dev, iso(self.hub.clock()))
        if self.hub.put_remote(dev):
            peer.devices.add(device_id)
            self.owner[device_id] = peer.name
        else:
            self._warn_once(
                "local:" + device_id,
                "device %s of instance %r is monitored here too: showing ours",
                device_id,
                peer.name,
            )

    def _replace(self, peer: Peer, raws: Iterable[Mapping[str, Any]]) -> None:
        before = set(peer.devices)
        for raw in raws:
            self._put(peer, raw)
            device_id = raw.get("device_id")
            if isinstance(device_id, str):
                before.discard(device_id)
        for device_id in sorted(before):
            self._drop(peer, device_id)

    def _drop(self, peer: Peer, device_id: str) -> None:
        if self.owner.get(device_id) != peer.name:
            return
        del self.owner[device_id]
        peer.devices.discard(device_id)
        self.hub.drop_remote(device_id)

    def _warn_once(self, key: str, msg: str, *args: object) -> None:
        if key in self._warned:
            log.debug(msg, *args)
            return
        if len(self._warned) < MAX_REMOTE_DEVICES:  # bounded like everything else
            self._warned.add(key)
        log.warning(msg, *args)
