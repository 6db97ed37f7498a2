"""Discovery end to end, each scenario in its own private network namespace.

Every scenario multicasts (SLP, mDNS), so it runs in a child process under `unshare -n`
with only `lo` (see `netns.py`); the scenario code lives in `scenarios.py`. These tests fail,
never skip, where a namespace cannot be made: CI runs as root.
"""

from __future__ import annotations

import re

from .netns import run_scenario


def test_mixed_families_over_slp_and_mdns_are_all_found_within_5_s() -> None:
    out = run_scenario("mixed")
    match = re.search(r"found (\d+) receivers in ([\d.]+) s", out)
    assert match is not None, out
    assert int(match[1]) == 10
    assert float(match[2]) < 5.0


def test_an_address_change_keeps_the_receiver_id_and_silence_is_flagged() -> None:
    assert "followed from 127.0.2.10 to 127.0.2.11" in run_scenario("moved")


def test_garbage_floods_and_an_impostor_are_survived() -> None:
    assert "survived" in run_scenario("garbage")


def test_the_appliance_advertises_http_and_micboard_local() -> None:
    out = run_scenario("advertise")
    assert "micboard.local and micboard-2.local" in out


def test_discover_command_lists_announced_receivers_as_json() -> None:
    assert "discover listed 2 receivers" in run_scenario("cli")


def test_the_listener_joins_and_leaves_as_interfaces_come_and_go() -> None:
    assert "joined and left" in run_scenario("rejoin")


def test_the_daemon_monitors_every_announced_receiver_with_no_configuration() -> None:
    assert "daemon monitors 6 discovered receivers" in run_scenario("daemon")


def test_slp_probes_only_the_source_on_its_subnet_never_link_local() -> None:
    assert "none probed" in run_scenario("refused")


def test_mdns_addresses_are_believed_only_from_the_address_itself() -> None:
    assert "believed 1" in run_scenario("mdns_spoof")


def test_ewdx_receivers_are_found_over_ssc_dns_sd_without_the_password_sent() -> None:
    out = run_scenario("sennheiser")
    assert "found 3 EW-DX over _ssc._udp" in out, out
