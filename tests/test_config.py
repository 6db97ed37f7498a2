"""Settings layers and bad configuration: exit 2 with one line naming key, value and origin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from micboardd.config import (
    DASHBOARD_ORIGIN,
    MIN_METER_RATE_MS,
    Layer,
    ReceiverAddress,
    Settings,
    dashboard_may_set,
    parse_receiver,
    resolve,
    with_dashboard,
)
from micboardd.errors import ConfigError
from micboardd.sources.receivers import METER_RATE_SETTING, ReceiverManager
from micboardd.state.hub import Hub
from micboardd.store.database import Store

from .helpers import daemon_env


def test_layers_defaults_file_env_cli(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text('port = 9000\nmeter_rate_ms = 500\nreceivers = ["10.0.0.5", "10.0.0.6:2203"]\n')
    s = resolve({}, environ={}, config_path=cfg)
    assert s.port == 9000
    assert s.meter_rate_ms == 500
    assert s.receivers == (ReceiverAddress("10.0.0.5"), ReceiverAddress("10.0.0.6", 2203))
    assert s.origins["port"] == str(cfg)
    assert s.origins["host"] == "default"

    s = resolve({}, environ={"MICBOARDD_PORT": "9100"}, config_path=cfg)
    assert s.port == 9100
    assert s.origins["port"] == "environment MICBOARDD_PORT"

    s = resolve({"port": "9200"}, environ={"MICBOARDD_PORT": "9100"}, config_path=cfg)
    assert s.port == 9200
    assert s.meter_rate_ms == 500  # file still applies where nothing overrides it


def test_section_table_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text("[micboardd]\ndiscovery = false\n")
    assert resolve({}, environ={}, config_path=cfg).discovery is False


@pytest.mark.parametrize(
    ("cli", "env", "key", "origin"),
    [
        ({"port": "http"}, {}, "port", "command line --port"),
        ({"port": "70000"}, {}, "port", "command line --port"),
        (
            {},
            {"MICBOARDD_METER_RATE_MS": "50"},
            "meter_rate_ms",
            "environment MICBOARDD_METER_RATE_MS",
        ),
        ({}, {"MICBOARDD_DISCOVERY": "maybe"}, "discovery", "environment MICBOARDD_DISCOVERY"),
        ({}, {"MICBOARDD_COLOUR": "blue"}, "colour", "environment MICBOARDD_COLOUR"),
        ({"receivers": ["host:notaport"]}, {}, "receivers", "command line --receiver"),
        ({"discovery_interfaces": ["eth0"]}, {}, "discovery_interfaces", "command line"),
    ],
)
def test_invalid_values_name_key_value_origin(
    cli: dict[str, object], env: dict[str, str], key: str, origin: str
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(cli, environ=env, config_path=None)
    err = info.value
    assert err.key == key
    assert origin in err.origin
    assert key in str(err) and origin in str(err)


def test_parse_receiver_forms() -> None:
    assert parse_receiver("192.168.1.20") == ReceiverAddress("192.168.1.20", 2202)
    assert parse_receiver("rx1.local:2300") == ReceiverAddress("rx1.local", 2300)
    assert parse_receiver("[fe80::1]:2202") == ReceiverAddress("fe80::1", 2202)
    assert parse_receiver("rx_2.venue-lan.") == ReceiverAddress("rx_2.venue-lan.", 2202)
    # Found by schemathesis: a name no resolver can take (IDNA fails on it) crashed the
    # receiver's task instead of being refused at the door.
    for bad in ("", ":2202", "host:0", "a b", "ñ\x87", "r\x1fx", "-rx", "a..b", "x" * 254):
        with pytest.raises(ValueError):
            parse_receiver(bad)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "micboardd", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=daemon_env(env),
        check=False,
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_cli_bad_flag_value_exits_2(tmp_path: Path) -> None:
    result = run_cli(
        "run", "--port", "eighty", "--state-dir", str(tmp_path), "--config", "/dev/null"
    )
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "port" in line and "'eighty'" in line and "command line --port" in line


def test_cli_unknown_key_in_file_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text("prot = 80\n")
    result = run_cli("--config", str(cfg), "--state-dir", str(tmp_path))
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "prot" in line and "unknown setting" in line and str(cfg) in line


def test_cli_broken_toml_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text("port = = 80\n")
    result = run_cli("--config", str(cfg))
    assert result.returncode == 2
    assert "not valid TOML" in _one_line(result.stderr)


def test_cli_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "does not exist" in _one_line(result.stderr)


def test_cli_bad_env_exits_2(tmp_path: Path) -> None:
    result = run_cli("--config", "/dev/null", env={"MICBOARDD_MAX_CLIENTS": "-1"})
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "max_clients" in line and "MICBOARDD_MAX_CLIENTS" in line


def test_help_lists_only_working_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "run" in result.stdout
    run_help = run_cli("run", "--help").stdout
    for flag in (
        "--host",
        "--port",
        "--state-dir",
        "--config",
        "--receiver",
        "--no-discovery",
        "--meter-rate-ms",
        "--ssapi-url",
        "--ssapi-key-file",
        "--redis-url",
        "--discovery-interface",
    ):
        assert flag in run_help


def test_alert_and_history_settings_reach_the_rules(tmp_path: Path) -> None:
    from micboardd.daemon.wiring import alert_config

    cfg = tmp_path / "m.toml"
    cfg.write_text(
        "alert_battery_low_minutes = 45\nalert_rf_weak_dbm = -80\nalert_rf_weak_hold_s = 8\n"
    )
    s = resolve({"history_retention_days": "30"}, environ={}, config_path=cfg)
    assert s.history_retention_days == 30
    rules = alert_config(s)
    assert rules.battery_low_minutes == 45
    assert rules.battery_critical_minutes == 15
    assert rules.rf_weak_dbm == -80.0 and rules.rf_weak_clear_dbm == -75.0
    assert rules.rf_weak.raise_s == 8.0
    with pytest.raises(ConfigError):
        resolve({"alert_rf_weak_dbm": "-5"}, environ={}, config_path=None)


# --- the dashboard's layer: default < dashboard < file < environment < flag ---


def test_the_dashboard_wins_over_the_default_only(tmp_path: Path) -> None:
    saved = {"meter_rate_ms": "500"}
    s = with_dashboard(resolve({}, environ={}, config_path=None), saved)
    assert s.meter_rate_ms == 500
    assert s.layer("meter_rate_ms") is Layer.DASHBOARD
    assert s.origins["meter_rate_ms"] == DASHBOARD_ORIGIN
    cfg = tmp_path / "m.toml"
    cfg.write_text("meter_rate_ms = 250\n")
    for configured, layer in (
        (resolve({}, environ={}, config_path=cfg), Layer.FILE),
        (resolve({}, environ={"MICBOARDD_METER_RATE_MS": "250"}), Layer.ENVIRONMENT),
        (resolve({"meter_rate_ms": "250"}, environ={}, config_path=cfg), Layer.FLAG),
    ):
        assert configured.layer("meter_rate_ms") is layer
        assert not dashboard_may_set(configured, "meter_rate_ms")
        assert with_dashboard(configured, saved).meter_rate_ms == 250
        assert configured.layer("port") is Layer.DEFAULT


def test_a_setting_left_empty_by_the_configuration_is_the_dashboards(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text('ssapi_url = ""\nssapi_fingerprint = "' + "ab" * 32 + '"\n')
    configured = resolve({}, environ={}, config_path=cfg)
    assert configured.layer("ssapi_url") is Layer.FILE and configured.ssapi_url is None
    saved = {"ssapi_url": "https://api.venue:10000/api", "ssapi_fingerprint": ""}
    s = with_dashboard(configured, saved, ruled_by="ssapi_url")
    assert s.ssapi_url == "https://api.venue:10000/api"
    # Ruled by ssapi_url: the dashboard's "no pin" goes with its URL, over the file's pin.
    assert s.ssapi_fingerprint is None
    assert s.origins["ssapi_fingerprint"] == DASHBOARD_ORIGIN


def test_a_configured_url_keeps_every_dashboard_system_api_setting_out() -> None:
    configured = resolve(
        {"ssapi_url": "https://configured:10000/api"}, environ={}, config_path=None
    )
    saved = {"ssapi_url": "https://dashboard:10000/api", "ssapi_key_file": "/var/key"}
    assert with_dashboard(configured, saved, ruled_by="ssapi_url") is configured


def test_a_bad_saved_value_names_the_dashboard() -> None:
    with pytest.raises(ConfigError) as info:
        with_dashboard(Settings(), {"meter_rate_ms": "50"})
    assert info.value.origin == DASHBOARD_ORIGIN and info.value.key == "meter_rate_ms"


async def test_receivers_meter_at_the_dashboards_rate_unless_configured(tmp_path: Path) -> None:
    store = Store(tmp_path / "micboardd.db")
    await store.open()
    try:
        await store.set_setting(METER_RATE_SETTING, "500")
        for settings, expected in (
            (Settings(state_dir=tmp_path), 500),
            (resolve({"meter_rate_ms": "250"}, environ={}, config_path=None), 250),
        ):
            manager = ReceiverManager(Hub(), store, settings)
            await manager.start()
            assert manager.meter_rate_ms == expected
            await manager.stop()
        await store.set_setting(METER_RATE_SETTING, "fast")  # never from the API; kept safe
        manager = ReceiverManager(Hub(), store, Settings(state_dir=tmp_path))
        await manager.start()
        assert manager.meter_rate_ms == MIN_METER_RATE_MS
    finally:
        await store.close()


def test_the_command_line_origin_names_the_flag_given() -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"receivers": ["host:notaport"]}, environ={}, config_path=None)
    assert info.value.origin == "command line --receiver"
    s = resolve({"discovery": False}, environ={}, config_path=None)
    assert s.origins["discovery"] == "command line --no-discovery"
    assert s.layer("discovery") is Layer.FLAG
