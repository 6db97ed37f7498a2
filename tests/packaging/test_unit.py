"""The systemd unit: systemd-analyze verify, and the directives the process contract needs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "micboardd.service"
VERIFY = Path(__file__).parent / "verify_unit.sh"


def directives() -> dict[str, list[str]]:
    """Key -> every value given (systemd allows repeats, e.g. SystemCallFilter=)."""
    found: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_systemd_analyze_verify() -> None:
    if shutil.which("systemd-analyze") is None:
        # CI installs systemd (make verify-unit / pkgdeps): missing there is a failure.
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is not installed in CI (apt-get install systemd)")
        pytest.skip("systemd-analyze not installed")
    done = subprocess.run(
        ["sh", str(VERIFY), str(UNIT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout


def test_process_contract_directives() -> None:
    d = directives()
    one = {k: v[-1] for k, v in d.items()}
    assert one["Type"] == "notify"
    assert int(one["WatchdogSec"]) > 0
    assert one["Restart"] == "on-failure"
    assert one["RestartPreventExitStatus"] == "2"  # bad configuration: restarting cannot help
    assert one["ExecStart"] == "/usr/bin/micboardd run --port 80 --state-dir /var/lib/micboardd"
    assert one["DynamicUser"] == "yes"
    assert one["StateDirectory"] == "micboardd"
    assert one["ConfigurationDirectory"] == "micboardd"
    assert one["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert one["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert one["RestrictAddressFamilies"].split() == [
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
    ]
    assert "@system-service" in d["SystemCallFilter"]
    for key in (
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "NoNewPrivileges",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
    ):
        assert one[key] == "yes", key
    assert one["ProtectSystem"] == "strict"
    # Resource caps: a flood from the LAN is stopped by the daemon's own limits, and what
    # gets past them cannot take the whole box (docs/security.md, "Limits").
    assert one["MemoryMax"].endswith("M") and 128 <= int(one["MemoryMax"][:-1]) <= 512
    assert int(one["MemoryHigh"][:-1]) < int(one["MemoryMax"][:-1])
    assert 32 <= int(one["TasksMax"]) <= 256
    assert int(one["LimitNOFILE"]) >= 4096
    assert one["UMask"] == "0077"


def test_multicast_discovery_is_not_blocked() -> None:
    # IPAddressDeny= would also drop SLP/mDNS announcements; PrivateNetwork= would hide the LAN.
    d = directives()
    assert "IPAddressDeny" not in d
    assert d.get("PrivateNetwork", ["no"])[-1] == "no"
