"""Binary meter frames: the layout, one frame per tick per subscription shared by every
client, the same values as the JSON `meters` frame, and a client that missed frames."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def meters_reading(channel: int, rf: int, audio: int, peak: int | None = None) -> Reading:
    """A metering sample; `peak` None: one audio value feeding both fields, as ULX-D does."""
    fields = {"rf_signal": rf, "audio_level": audio, "antenna": "B"}
    fields["peak_level"] = audio if peak is None else peak
    return Reading(channel, {**fields, "tx_on": True})


async def same_tick(
    binary_phone: Phone, json_phone: Phone
) -> tuple[bytes, dict[str, meterframe.Levels], dict[str, Any]]:
    """The binary frame of one tick, decoded, and the JSON meters frame; asserts they agree."""
    await async_wait_for(lambda: binary_phone.frames, what="the binary frame")
    (frame,) = binary_phone.frames
    sent = [json.loads(f) for f in json_phone.feed.take_due()]
    (meters,) = [f for f in sent if f["type"] == "meters"]
    got = binary_phone.decoded(frame)
    assert {k: v[:3] for k, v in got.items()} == {k: tuple(v) for k, v in meters["d"].items()}
    return frame, got, meters


async def test_a_binary_frame_says_what_the_json_meters_frame_of_the_same_tick_says() -> None:
    hub, fan = venue()
    json_phone = Phone(fan, JSON)
    binary_phone = Phone(fan, BINARY)
    json_phone.feed.take_due()
    hub.apply("rx", [meters_reading(ch, -50 - ch, -20 - ch) for ch in (1, 2, 4)])
    _, got, meters = await same_tick(binary_phone, json_phone)
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


async def test_peaks_that_differ_from_the_audio_level_say_what_the_json_frame_says() -> None:
    # Axient Digital and SLX-D report a peak of their own; ULX-D one value for both.
    hub, fan = venue()
    json_phone = Phone(fan, JSON)
    binary_phone = Phone(fan, BINARY)
    json_phone.feed.take_due()
    hub.apply(
        "rx",
        [
            meters_reading(1, -50, -30, peak=-12),
            meters_reading(2, -52, -31),
            meters_reading(3, -54, -20, peak=0),
        ],
    )
    frame, got, _ = await same_tick(binary_phone, json_phone)
    assert got["rx:1"][:3] == (-50, -30, -12) and got["rx:2"][:3] == (-52, -31, -31)
    payload = unwire(frame)
    assert payload[1] == meterframe.FLAG_PEAKS | meterframe.FLAG_STATES
    # Header, bitmap; rf and audio of three; which carry a peak and the two peaks (rx:2's
    # equals its audio level); which carry a state byte and the three (antenna B is new).
    assert len(payload) == meterframe.HEADER_SIZE + 1 + 3 * 2 + (1 + 2) + (1 + 3)


def test_a_peak_byte_travels_only_where_the_peak_differs_from_the_audio_level() -> None:
    def frame(*meters: meterframe.Meter) -> bytes:
        return meterframe.encode(3, 1234, 8, [(i, m, False) for i, m in enumerate(meters)])

    # ULX-D: peak = audio (in whole dB), unknown or known: rf and audio alone, no section.
    same = frame((-60.0, -30.2, -29.8, None, None), (-61.0, None, None, None, None))
    assert same[1] == 0
    assert len(same) == meterframe.HEADER_SIZE + 1 + 2 * 2
    assert meterframe.decode(same, 8).meters == {0: (-60, -30, -30), 1: (-61, None, None)}
    # A peak that differs, one that is unknown while the audio level is not, and the
    # other way round: each carries its byte.
    differ = frame(
        (-60.0, -30.0, -12.0, None, None),
        (-60.0, -30.0, None, None, None),
        (-60.0, None, -3.0, None, None),
        (-60.0, -30.0, -30.0, None, None),
    )
    assert differ[1] == meterframe.FLAG_PEAKS
    assert len(differ) == meterframe.HEADER_SIZE + 1 + 4 * 2 + 1 + 3
    assert meterframe.decode(differ, 8).meters == {
        0: (-60, -30, -12),
        1: (-60, -30, None),
        2: (-60, None, -3),
        3: (-60, -30, -30),
    }


def test_the_encoder_takes_the_shorter_of_bitmap_and_list() -> None:
    dense = meterframe.encode(
        1, 0, 100, [(i, (-60.0, -30.0, -30.0, "AB", "good"), i == 99) for i in range(0, 100, 3)]
    )
    sparse = meterframe.encode(1, 0, 1000, [(7, (-60.4, -29.6, 0.0, "CD", None), True)])
    assert dense[1] == meterframe.FLAG_STATES
    assert sparse[1] == meterframe.FLAG_LISTED | meterframe.FLAG_PEAKS | meterframe.FLAG_STATES
    # Header, bitmap, 34 x 2 meter bytes, 5 bytes saying which carry state, one state byte.
    assert len(dense) == meterframe.HEADER_SIZE + 13 + 2 * 34 + 5 + 1
    got = meterframe.decode(dense, 100).meters
    assert got[99] == (-60, -30, -30, "AB", "good") and got[0] == (-60, -30, -30)
    assert meterframe.decode(sparse, 1000).meters == {7: (-60, -30, 0, "CD", None)}


def test_a_frame_that_is_not_a_version_2_frame_for_the_layout_is_refused() -> None:
    frame = meterframe.encode(
        1, 0, 20, [(i, (-60.0, -30.0, -20.0, "A", "good"), i % 2 == 0) for i in range(0, 20, 3)]
    )
    assert meterframe.decode(frame, 20).meters
    listed = meterframe.encode(1, 0, 1000, [(5, (-60.0, -30.0, -30.0, None, None), False)])
    bad = {
        "cut short": frame[:-1],
        "a byte too many": frame + b"\x00",
        "version 1": b"\x01" + frame[1:],
        "unknown flag": frame[:1] + bytes([frame[1] | 0x08]) + frame[2:],
        "no peak section": frame[:1] + bytes([frame[1] & ~meterframe.FLAG_PEAKS]) + frame[2:],
        "position beyond the layout": listed[:10] + (1000).to_bytes(2, "little") + listed[12:],
        "header only": frame[: meterframe.HEADER_SIZE - 1],
    }
    for what, data in bad.items():
        with pytest.raises(meterframe.MeterFrameError):
            meterframe.decode(data, 20 if data[1] & meterframe.FLAG_LISTED == 0 else 1000)
            pytest.fail(f"{what}: decoded")
    with pytest.raises(meterframe.MeterFrameError, match="beyond"):
        meterframe.decode(frame, 17)  # the bitmap names position 18


def _whole(value: float | None) -> int | None:
    """What a meter value becomes on the wire: whole dB, half up, within -127..127."""
    if value is None:
        return None
    whole = int(value + 0.5) if value >= 0 else -int(-value + 0.5)
    return max(-127, min(127, whole))


LEVEL = st.none() | st.floats(-200.0, 200.0, allow_nan=False)
METER = st.tuples(
    LEVEL,
    LEVEL,
    LEVEL,
    st.none() | st.sampled_from(["A", "B", "AB", "C", "ABCD", "BD"]),
    st.sampled_from(meterframe.QUALITY),
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    size=st.integers(1, 300),
    layout=st.integers(0, 2**20),
    t_ms=st.integers(0, 2**45),
    data=st.data(),
)
def test_what_is_encoded_decodes_to_the_same_values(
    size: int, layout: int, t_ms: int, data: st.DataObject
) -> None:
    positions = data.draw(st.sets(st.integers(0, size - 1), max_size=size), label="positions")
    present = [
        (p, data.draw(METER, label="meter"), data.draw(st.booleans(), label="with state"))
        for p in sorted(positions)
    ]
    got = meterframe.decode(meterframe.encode(layout, t_ms, size, present), size)
    assert (got.layout, got.t_ms) == (layout & 0xFFFF, t_ms & 0xFFFFFFFF)
    want: dict[int, meterframe.Levels] = {}
    for p, (rf, audio, peak, antenna, quality), stated in present:
        levels = (_whole(rf), _whole(audio), _whole(peak))
        want[p] = (*levels, antenna, quality) if stated else levels
    assert got.meters == want


@settings(max_examples=500, deadline=None, database=None)
@given(st.binary(max_size=80), st.integers(0, 300))
def test_any_bytes_decode_or_fail_with_a_meter_frame_error(data: bytes, size: int) -> None:
    for frame in (data, bytes([meterframe.VERSION]) + data[1:]):
        try:
            meterframe.decode(frame, size)
        except meterframe.MeterFrameError:
            pass
