"""Binary meter frames: the layout, one frame per tick per subscription shared by every
client, the same values as the JSON `meters` frame, and a client that missed frames."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from micboardd.feed import meterframe
from micboardd.feed.device import DeviceFeed
from micboardd.feed.fanout import FanOut, Subscription
from micboardd.model import Family, Reading, SourceState
from micboardd.state.hub import Hub

from ..helpers import async_wait_for

pytestmark = pytest.mark.both_loops

JSON = Subscription(format="compact")
BINARY = Subscription(format="compact", binary=True)


def venue(channels: int = 4) -> tuple[Hub, FanOut]:
    hub = Hub()
    fan = FanOut(hub)
    fan.start()
    hub.upsert_receiver("rx", address="10.0.0.5", family=Family.ULXD, channels=channels)
    hub.set_source_state("rx", SourceState.ONLINE)
    return hub, fan


class Phone:
    """A feed as the web layer drives it: meter frames written at once (or refused)."""

    def __init__(self, fan: FanOut, sub: Subscription, takes: bool = True) -> None:
        self.feed: DeviceFeed = fan.new_device_feed()
        fan.subscribe(self.feed, sub)
        self.snapshot: dict[str, Any] = json.loads(
            json.dumps(self.feed.initial_frame(), default=_plain)
        )
        self.frames: list[bytes] = []
        self.takes = takes
        self.feed.on_meters = self._meters

    def _meters(self, frame: bytes) -> bool:
        if self.takes:
            self.frames.append(frame)
        return self.takes

    def decoded(self, frame: bytes) -> dict[str, meterframe.Levels]:
        """A binary frame as {device_id: meters}, through the snapshot's device order."""
        ids = [d["device_id"] for d in self.snapshot["devices"]]
        payload = unwire(frame)
        got = meterframe.decode(payload, len(ids))
        assert got.layout == self.snapshot["meter_layout"]
        return {ids[i]: m for i, m in got.meters.items()}


def _plain(obj: Any) -> Any:
    import msgspec

    return msgspec.to_builtins(obj)


def unwire(frame: bytes) -> bytes:
    """The payload of an unmasked binary WebSocket frame (what a browser hands the page)."""
    assert frame[0] == 0x82, "FIN + binary, no RSV1: not compressed"
    n = frame[1]
    assert n & 0x80 == 0, "server frames are not masked"
    if n == 126:
        return frame[4:]
    if n == 127:
        return frame[10:]
    return frame[2:]


def meters_reading(channel: int, rf: int, audio: int) -> Reading:
    fields = {"rf_signal": rf, "audio_level": audio, "peak_level": audio, "antenna": "B"}
    return Reading(channel, {**fields, "tx_on": True})


async def test_a_binary_frame_says_what_the_json_meters_frame_of_the_same_tick_says() -> None:
    hub, fan = venue()
    json_phone = Phone(fan, JSON)
    binary_phone = Phone(fan, BINARY)
    json_phone.feed.take_due()
    hub.apply("rx", [meters_reading(ch, -50 - ch, -20 - ch) for ch in (1, 2, 4)])
    await async_wait_for(lambda: binary_phone.frames, what="the binary frame")
    (frame,) = binary_phone.frames
    sent = [json.loads(f) for f in json_phone.feed.take_due()]
    (meters,) = [f for f in sent if f["type"] == "meters"]
    got = binary_phone.decoded(frame)
    assert {k: v[:3] for k, v in got.items()} == {k: tuple(v) for k, v in meters["d"].items()}
    assert set(meters["d"]) == {"rx:1", "rx:2", "rx:4"}
    # Antenna and RF quality ride along: the JSON client had them in device_update frames.
    for device_id, levels in got.items():
        dev = hub.devices[device_id]
        assert len(levels) == 5, "antenna and quality changed: the frame carries them"
        antenna, quality = levels[3], levels[4]
        assert (antenna, quality) == (dev.antenna, dev.rf_quality) and quality == "excellent"
    # The binary client's JSON carries no meters, and its frame names its layout.
    assert not [f for f in binary_phone.feed.take_due() if b'"meters"' in f]
    assert binary_phone.snapshot["meter_layout"] == hub.generation & 0xFFFF


async def test_every_client_of_a_subscription_gets_the_same_bytes_once_per_tick() -> None:
    hub, fan = venue(channels=4)
    phones = [Phone(fan, BINARY) for _ in range(5)]
    for step in range(6):  # six samples of one receiver within one tick interval
        hub.apply("rx", [meters_reading(1, -50 - step, -20 - step)])
        await asyncio.sleep(0)
    await async_wait_for(
        lambda: all(len(p.frames) == 2 for p in phones), what="the first and the coalesced frame"
    )
    first = phones[0].frames
    for p in phones[1:]:
        assert [a is b for a, b in zip(p.frames, first, strict=True)] == [True, True]
    # The first frame went at once; the tick after it carries only the latest value.
    # Antenna and quality did not change since the first: meters alone.
    assert phones[0].decoded(first[1]) == {"rx:1": (-55, -25, -25)}


async def test_a_binary_client_gets_non_meter_changes_as_json_and_meters_never() -> None:
    hub, fan = venue()
    phone = Phone(fan, BINARY)
    hub.apply("rx", [Reading(3, {"name": "Vox", "rf_signal": -60})])
    await async_wait_for(lambda: phone.frames, what="the meter frame")
    frames = [json.loads(f) for f in phone.feed.take_due()]
    assert [f["type"] for f in frames] == ["device_update"]
    assert frames[0]["name"] == "Vox" and "rf_signal" not in frames[0]


async def test_a_client_that_missed_meter_frames_gets_what_they_carried_in_one() -> None:
    hub, fan = venue()
    phone = Phone(fan, BINARY, takes=False)
    hub.apply("rx", [meters_reading(2, -70, -30)])
    await async_wait_for(lambda: phone.feed.meters_behind, what="the missed frame noted")
    hub.apply("rx", [meters_reading(3, -72, -31), meters_reading(2, -75, -33)])
    await async_wait_for(lambda: "rx:3" in phone.feed.missed, what="the next one folded in")
    payload = phone.feed.take_meters()
    assert payload is not None and phone.feed.take_meters() is None
    phone.takes = True
    got = phone.decoded(meterframe.wire(payload))
    # Latest values, once each, with their antenna and quality (changed in what was missed).
    assert got == {"rx:2": (-75, -33, -33, "B", "fair"), "rx:3": (-72, -31, -31, "B", "fair")}


async def test_a_new_device_gives_binary_clients_a_new_layout_and_snapshot() -> None:
    hub, fan = venue()
    phone = Phone(fan, BINARY)
    json_phone = Phone(fan, JSON)
    before = phone.snapshot["meter_layout"]
    hub.upsert_receiver("rx2", address="10.0.0.6", family=Family.ULXD, channels=2)
    await async_wait_for(lambda: phone.feed.resync, what="a fresh snapshot owed")
    assert not json_phone.feed.resync, "JSON clients learn new devices from device_update"
    snap = phone.feed.initial_frame()
    assert snap["meter_layout"] != before
    assert [d.device_id for d in snap["devices"]][-2:] == ["rx2:1", "rx2:2"]


def test_the_encoder_takes_the_shorter_of_bitmap_and_list() -> None:
    dense = meterframe.encode(
        1, 0, 100, [(i, (-60.0, -30.0, None, "AB", "good"), i == 99) for i in range(0, 100, 3)]
    )
    sparse = meterframe.encode(1, 0, 1000, [(7, (-60.4, -29.6, 0.0, "CD", None), True)])
    assert dense[1] == 0 and sparse[1] == meterframe.FLAG_LISTED
    # Header, bitmap, 34 x 3 meter bytes, 5 bytes saying which carry state, one state byte.
    assert len(dense) == meterframe.HEADER_SIZE + 13 + 3 * 34 + 5 + 1
    got = meterframe.decode(dense, 100).meters
    assert got[99] == (-60, -30, None, "AB", "good") and got[0] == (-60, -30, None)
    assert meterframe.decode(sparse, 1000).meters == {7: (-60, -30, 0, "CD", None)}
    with pytest.raises(meterframe.MeterFrameError):
        meterframe.decode(dense[:-1], 100)
    with pytest.raises(meterframe.MeterFrameError):
        meterframe.decode(b"\x02" + dense[1:], 100)
