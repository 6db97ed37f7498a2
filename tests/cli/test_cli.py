"""The command line: one flag per setting, built from `config.SPECS`, and the dispatch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from micboardd.cli.main import COMMANDS, build_parser
from micboardd.cli.run import settings_from_args
from micboardd.config import SPECS, Layer, ReceiverAddress, env_name
from tests.helpers import daemon_env


@pytest.mark.parametrize("command", ["run", "demo", "poll"])
def test_every_setting_has_its_flag(command: str) -> None:
    parser = build_parser(command)
    for spec in SPECS:
        given = [spec.flag_name] if spec.switch is not None else [spec.flag_name, "x"]
        args = parser.parse_args([command, *given])
        assert hasattr(args, spec.key), spec.flag_name
        assert spec.env == env_name(spec.key) == "MICBOARDD_" + spec.key.upper()


def test_flags_reach_the_settings_with_their_origin(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text("meter_rate_ms = 500\n")
    args = build_parser("run").parse_args(
        [
            "run",
            "--config",
            str(config),
            "--receiver",
            "10.0.0.5",
            "--receiver",
            "10.0.0.6:2203",
            "--no-discovery",
            "--discovery-approval",
            "--meter-rate-ms",
            "250",
            "--trusted-proxy",
            "10.0.0.0/24",
        ]
    )
    s = settings_from_args(args)
    assert s.receivers == (ReceiverAddress("10.0.0.5"), ReceiverAddress("10.0.0.6", 2203))
    assert (s.discovery, s.discovery_approval, s.meter_rate_ms) == (False, True, 250)
    assert s.trusted_proxies == ("10.0.0.0/24",)
    assert s.origins["meter_rate_ms"] == "command line --meter-rate-ms"
    assert s.layer("meter_rate_ms") is Layer.FLAG
    # Flags not given leave the lower layers alone.
    assert s.layer("port") is Layer.DEFAULT
    assert not hasattr(build_parser("run").parse_args(["run"]), "port")


def test_help_says_defaults_and_repeats(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser("run").parse_args(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "HTTP port, 0 picks a free one (default: 8058)" in text
    assert "--receiver HOST[:PORT] receiver to monitor (repeatable)" in text
    assert "--no-discovery do not look for receivers" in text
    assert "(repeatable; default: all)" in text


def test_a_command_loads_only_its_own_module() -> None:
    code = (
        "import sys; from micboardd.cli.main import build_parser; "
        "build_parser('run').parse_args(['run']); "
        "print(sorted(m for m in sys.modules if m.startswith('micboardd.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert "micboardd.cli.run" in out
    assert "micboardd.sim" not in out and "micboardd.cli.demo" not in out


def test_every_command_is_listed_and_runs_its_help() -> None:
    for name in COMMANDS:
        result = subprocess.run(
            [sys.executable, "-m", "micboardd", name, "--help"],
            capture_output=True,
            text=True,
            timeout=30,
            env=daemon_env(),
            check=False,
        )
        assert result.returncode == 0, (name, result.stderr)
        assert f"micboardd {name}" in result.stdout
