"""The SLP listener's datagram path, flood gate and interface choice (no sockets needed)."""

from __future__ import annotations

import logging

import pytest

from micboardd.discovery.slp import (
    FLOOD_BURST,
    FLOOD_RATE_PER_S,
    BoundedOnce,
    FloodGate,
    Interface,
    SlpListener,
    select_interfaces,
)
from micboardd.discovery.slp_parse import Announcement
from micboardd.sim.announce import (
    AnnouncedDevice,
    announcement_packet,
    build_attr_reply,
    make_cid,
)

from .test_slp_parse import SLXD4DE_PACKET


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_listener(clock: Clock) -> tuple[SlpListener, list[Announcement]]:
    got: list[Announcement] = []
    return SlpListener((), got.append, clock=clock), got


def test_announcements_are_forwarded_and_counted() -> None:
    listener, got = make_listener(Clock())
    listener.handle_datagram(SLXD4DE_PACKET, "192.168.3.21")
    assert [a.model for a in got] == ["SLXD4DE"]
    s = listener.stats
    assert (s.packets, s.announcements, s.malformed, s.ignored, s.flooded) == (1, 1, 0, 0, 0)


def test_malformed_packets_are_counted_and_logged_once_per_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listener, got = make_listener(Clock())
    caplog.set_level(logging.DEBUG, logger="micboardd.discovery.slp")
    for _ in range(5):
        listener.handle_datagram(b"\x02\x07garbage", "10.0.0.9")
    listener.handle_datagram(b"junk", "10.0.0.10")
    assert got == [] and listener.stats.malformed == 6
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "malformed SLP packet from 10.0.0.9 (further ones from it are only counted)",
        "malformed SLP packet from 10.0.0.10 (further ones from it are only counted)",
    ]
    # Raw bytes only at DEBUG, truncated.
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug and all(len(r.getMessage()) < 200 for r in debug)


def test_what_a_bad_packet_says_reaches_only_debug_escaped_and_cut_short(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listener, got = make_listener(Clock())
    caplog.set_level(logging.DEBUG, logger="micboardd.discovery")
    evil = b"SSH-2.0-OpenSSH_9.2p1\x1b[2J" + b"A" * 500
    listener.handle_datagram(build_attr_reply(b"(cid=" + evil + b")"), "10.0.0.9")
    listener.handle_datagram(build_attr_reply(b"(" + evil + b")"), "10.0.0.8")
    assert got == [] and listener.stats.malformed == 2
    above = [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG]
    assert len(above) == 2 and not any("SSH" in m or "AAAA" in m for m in above), above
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("OpenSSH" in m for m in debug)
    assert all(len(m) < 300 and "\x1b" not in m for m in debug)


def test_the_arrival_interface_travels_with_the_announcement() -> None:
    listener, got = make_listener(Clock())
    listener.handle_datagram(SLXD4DE_PACKET, "192.168.3.21", 7)
    assert (got[0].address, got[0].ifindex) == ("192.168.3.21", 7)


def test_other_slp_messages_are_ignored_quietly(caplog: pytest.LogCaptureFixture) -> None:
    listener, got = make_listener(Clock())
    caplog.set_level(logging.INFO, logger="micboardd.discovery.slp")
    listener.handle_datagram(b"\x02\x01" + SLXD4DE_PACKET[2:], "10.0.0.9")
    assert got == [] and listener.stats.ignored == 1 and listener.stats.malformed == 0
    assert caplog.records == []


def test_a_flood_is_dropped_before_parsing_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    listener, got = make_listener(clock)
    caplog.set_level(logging.WARNING, logger="micboardd.discovery.slp")
    packets = [
        announcement_packet(AnnouncedDevice("QLXD4", "10.0.0.9", make_cid(str(i)), "F"))
        for i in range(100)
    ]
    for packet in packets:
        listener.handle_datagram(packet, "10.0.0.9")
    assert len(got) == FLOOD_BURST
    assert listener.stats.flooded == 100 - FLOOD_BURST
    # A second later the bucket has refilled by the rate.
    clock.now = 1.0
    for packet in packets[:20]:
        listener.handle_datagram(packet, "10.0.0.9")
    assert len(got) == FLOOD_BURST + FLOOD_RATE_PER_S
    # Another source is not affected.
    listener.handle_datagram(SLXD4DE_PACKET, "192.168.3.21")
    assert got[-1].model == "SLXD4DE"
    assert [r.getMessage() for r in caplog.records] == [
        "SLP announcement flood from 10.0.0.9: dropping beyond 5 a second"
    ]


def test_a_broken_handler_does_not_stop_the_listener(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def broken(announcement: Announcement) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("bug")

    listener = SlpListener((), broken)
    listener.handle_datagram(SLXD4DE_PACKET, "192.168.3.21")
    listener.handle_datagram(SLXD4DE_PACKET, "192.168.3.21")
    assert calls == 2
    assert "handling the announcement of 192.168.3.21 failed" in caplog.text


def test_flood_gate_memory_is_bounded() -> None:
    gate = FloodGate(limit=50)
    for i in range(1000):
        assert gate.allow(f"10.0.{i // 250}.{i % 250}", 0.0)
    assert len(gate) == 50


def test_bounded_once() -> None:
    once = BoundedOnce(limit=2)
    assert once.first("a") and not once.first("a")
    assert once.first("b") and once.first("c")  # "a" forgotten
    assert once.first("a")
    once.forget("a")
    assert once.first("a")


LO = Interface("lo", 1, "127.0.0.1")
ETH = Interface("eth0", 2, "192.168.1.20")
ETH_ALIAS = Interface("eth0", 2, "192.168.1.21")
DANTE = Interface("eth1", 3, "169.254.10.10")


def test_select_every_interface_once_when_none_configured() -> None:
    chosen, missing = select_interfaces([LO, ETH, ETH_ALIAS, DANTE], ())
    assert chosen == {1: LO, 2: ETH, 3: DANTE}
    assert missing == []


def test_select_configured_interfaces_and_report_missing_ones() -> None:
    chosen, missing = select_interfaces([LO, ETH, DANTE], ("169.254.10.10", "10.9.9.9"))
    assert chosen == {3: DANTE}
    assert missing == ["10.9.9.9"]
