"""The simulator's announcers refuse real networks; the discover command's output."""

from __future__ import annotations

import argparse

import pytest

from micboardd.cli.discover import add_discover_arguments, render_text, run_discover
from micboardd.cli.main import build_parser
from micboardd.errors import ConfigError
from micboardd.sim.announce import (
    AnnouncedDevice,
    MdnsAnnouncer,
    SlpAnnouncer,
    attribute_list,
    make_cid,
)
from micboardd.sim.receiver import SimReceiver

REAL = "192.168.1.20"


def test_slp_announcer_refuses_a_real_interface_or_device_address() -> None:
    with pytest.raises(ConfigError, match="allow_non_loopback"):
        SlpAnnouncer(interface=REAL)
    device = AnnouncedDevice("AD4Q", REAL, make_cid("x"), "X")
    with pytest.raises(ConfigError, match="allow_non_loopback"):
        SlpAnnouncer([device])
    announcer = SlpAnnouncer()
    with pytest.raises(ConfigError):
        announcer.set(device)
    with pytest.raises(ConfigError):
        announcer.send_raw(b"x", REAL)
    with pytest.raises(ConfigError, match="not an IPv4"):
        SlpAnnouncer(interface="lo")
    # Explicitly allowed: constructed, nothing sent (never started here).
    assert SlpAnnouncer([device], interface=REAL, allow_non_loopback=True).devices


async def test_mdns_announcer_refuses_a_real_interface() -> None:
    with pytest.raises(ConfigError, match="allow_non_loopback"):
        MdnsAnnouncer(interface=REAL)
    announcer = MdnsAnnouncer()  # not started: no zeroconf, no packets
    with pytest.raises(ConfigError):
        await announcer.set(AnnouncedDevice("AD4Q", REAL, make_cid("x"), "X"))


def test_announced_device_of_a_receiver_is_stable_and_follows_a_move() -> None:
    rx = SimReceiver("SLXD4D", "127.0.0.7", 2202, device_id="Host")
    device = AnnouncedDevice.of(rx)
    assert device == AnnouncedDevice.of(rx)
    assert device.cid.startswith("DD") and device.cid.endswith("-0000-11DD-A000-000EDDCCCCCC")
    assert (device.model, device.name, device.port) == ("SLXD4D", "Host", 2202)
    moved = device.moved_to("127.0.0.8")
    assert (moved.cid, moved.host) == (device.cid, "127.0.0.8")


def test_slxd_announcement_looks_like_the_real_capture() -> None:
    device = AnnouncedDevice("SLXD4D", "127.0.0.7", "DDB0C8C5-0000-11DD-A000-000EDDCCCCCC", "G57")
    assert attribute_list(device) == (
        b"(cid=DDB0C8C5-0000-11DD-A000-000EDDCCCCCC),(acn-fctn=SLXD4D_RX),(acn-uacn=G57),"
        b"(acn-services=esta.dmp),"
        b"(csl-esta.dmp=esta.sdt/127.0.0.7:57383;esta.dmp/cd:320CA2FC-2932-11ED-8BBF-0015C5F3F612),"
        b"(device-description=$:tftp://127.0.0.7/$.ddl),"
        b"(csl-esta.dmp.values=version:1_interfaceId:65552_extVersion:1)"
    )


def test_render_text_report() -> None:
    report = {
        "receivers": [
            {
                "model": "AD4Q-A",
                "channels": 4,
                "address": "10.0.0.5",
                "port": 2202,
                "via": ["probe", "slp"],
                "name": "Stage L",
                "receiver_id": "dd000001-0000-11dd-a000-000eddcccccc",
            }
        ],
        "rejected": [{"address": "10.0.0.9", "reason": "not a supported Shure receiver: x"}],
        "unconfirmed": [{"address": "10.0.0.10", "model": None}],
        "seconds": 5.01,
        "stats": {"packets": 12, "malformed": 1},
    }
    assert render_text(report).splitlines() == [
        "MODEL   CH  ADDRESS   VIA        NAME     ID",
        "AD4Q-A  4   10.0.0.5  probe+slp  Stage L  dd000001-0000-11dd-a000-000eddcccccc",
        "rejected 10.0.0.9: not a supported Shure receiver: x",
        "still probing 10.0.0.10 (unknown model)",
        "1 receiver found in 5.0 s (12 SLP packets, 1 malformed)",
    ]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_discover_arguments(parser)
    return parser.parse_args(argv)


def test_discover_arguments_and_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    args = _args("--timeout", "2", "--json", "--discovery-interface", "127.0.0.1")
    assert (args.timeout, args.json, args.discovery_interfaces) == (2.0, True, ["127.0.0.1"])
    assert not hasattr(_args(), "discovery_interfaces")  # default: from the settings
    assert run_discover(_args("--discovery-interface", "eth0")) == 2
    assert "discovery_interfaces" in capsys.readouterr().err
    assert run_discover(_args("--timeout", "0", "--discovery-interface", "127.0.0.1")) == 2


def test_discover_and_run_share_the_interface_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """`run` and `discover` take the same `--discovery-interface`; `discover --interface`, its
    old name, still works but is not advertised."""
    parser = build_parser()
    for command in ("run", "discover"):
        args = parser.parse_args([command, "--discovery-interface", "10.0.0.5"])
        assert args.discovery_interfaces == ["10.0.0.5"], command
    old = parser.parse_args(
        ["discover", "--interface", "10.0.0.5", "--discovery-interface", "10.0.0.6"]
    )
    assert old.discovery_interfaces == ["10.0.0.5", "10.0.0.6"]
    with pytest.raises(SystemExit):
        parser.parse_args(["discover", "--help"])
    shown = capsys.readouterr().out
    assert "--discovery-interface ADDR" in shown
    assert "--interface" not in shown.replace("--discovery-interface", "")
