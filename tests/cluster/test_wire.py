"""The message format between instances, and the names they go by (no Redis needed)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import msgspec
import pytest

from micboardd.aio import backoff_delay
from micboardd.cluster.bridge import Timing, describe_url
from micboardd.cluster.wire import (
    MAX_MESSAGE_BYTES,
    BadMessage,
    Message,
    clean_device,
    decode,
    encode,
    instance_name,
    with_meters,
)
from micboardd.config import resolve
from micboardd.errors import ConfigError
from micboardd.model import DEVICE_FIELDS, Device


def test_round_trip_and_defaults_left_out() -> None:
    beat = Message(v=1, instance="stage-a", boot="b1", kind="beat")
    data = encode(beat)
    assert b"devices" not in data  # a beat is a few dozen bytes
    assert decode(data) == beat
    delta = Message(
        v=1,
        instance="stage-a",
        boot="b1",
        kind="delta",
        devices=[{"device_id": "rx:1", "name": "Vox"}],
        meters={"rx:2": [-50, -20, -10, None, None, "t"]},
        removed=["rx:3"],
    )
    assert decode(encode(delta)) == delta


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"not json", "JSON"),
        (b"[1]", "Expected `object`"),
        (b'{"v": 2, "instance": "x", "boot": "b", "kind": "beat"}', "version 2"),
        (b'{"v": 1, "instance": "", "boot": "b", "kind": "beat"}', "instance"),
        (b'{"v": 1, "instance": "x", "boot": "b", "kind": "shout"}', "kind"),
        (b'{"v": 1, "instance": "x", "boot": "b", "kind": "delta", "devices": [1]}', "object"),
        (b" " * (MAX_MESSAGE_BYTES + 1), "over"),
    ],
)
def test_unusable_messages_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(BadMessage, match=why):
        decode(data)


def test_remote_device_has_exactly_the_contract_fields_and_its_owner() -> None:
    dev = clean_device({"device_id": "rx:1", "name": "Vox", "evil": 1, "instance": "x"}, "b")
    assert dev is not None
    assert set(msgspec.structs.asdict(dev)) == set(DEVICE_FIELDS)
    assert dev.instance == "b" and dev.name == "Vox"
    # A peer's field of the wrong type makes the device unusable, not a crash later.
    assert clean_device({"device_id": "rx:1", "channel": "one"}, "b") is None
    assert clean_device({"name": "no id"}, "b") is None
    assert clean_device({"device_id": "x" * 301}, "b") is None


def test_meters_entry() -> None:
    dev = Device(device_id="rx:1", rf_signal=-50, status="good")
    updated = with_meters(dev, [-60, -30, -20, [-61, -62], "A", "t2"])
    assert updated == Device(
        device_id="rx:1",
        rf_signal=-60,
        audio_level=-30,
        peak_level=-20,
        rf_antennas=[-61, -62],
        antenna="A",
        last_update="t2",
        status="good",
    )
    assert with_meters(dev, [1, 2]) is None
    assert with_meters(dev, ["loud", -30, -20, None, "A", "t2"]) is None  # checked, not trusted


def test_instance_name() -> None:
    assert instance_name(" stage-a ") == "stage-a"
    assert instance_name("", hostname="foh-pi.local") == "foh-pi"
    assert instance_name("", hostname="") == "micboardd"
    assert len(instance_name("x" * 500)) == 64


def test_redis_url_is_described_without_its_password() -> None:
    assert describe_url("redis://:secret@10.0.0.2:6380/3") == "10.0.0.2:6380/3"
    assert describe_url("redis://redis.lan") == "redis.lan:6379/0"
    assert describe_url("unix:///run/redis.sock") == "/run/redis.sock"


def test_redis_backoff_is_the_shared_schedule_capped_at_its_timing() -> None:
    t = Timing()
    delay = partial(backoff_delay, first_s=t.backoff_first_s, max_s=t.backoff_max_s)
    assert delay(0, rng=lambda: 0.5) == pytest.approx(0.5)
    assert delay(3, rng=lambda: 0.5) == pytest.approx(4.0)
    assert delay(50, rng=lambda: 0.5) == pytest.approx(30.0)


def test_bad_redis_url_is_a_configuration_error(tmp_path: Path) -> None:
    cfg = tmp_path / "micboardd.toml"
    cfg.write_text("")
    with pytest.raises(ConfigError, match="redis://"):
        resolve({"redis_url": "http://10.0.0.2"}, environ={}, config_path=cfg)
    ok = resolve({"redis_url": "redis://10.0.0.2:6379/0"}, environ={}, config_path=cfg)
    assert ok.redis_url == "redis://10.0.0.2:6379/0"
