"""Command line: `micboardd [run] [flags]` and the other subcommands.

Only subcommands that work are listed. Every `run` flag has a MICBOARDD_* environment twin and
a key in the TOML file (see config.py); flags win over both.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from micboardd import __version__
from micboardd.config import SPECS, Settings, resolve
from micboardd.daemon import logs
from micboardd.errors import ConfigError

EXIT_CONFIG = 2

# Subcommands other than `run`: name -> (help, add_arguments, main). Filled by `_register`.
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    s = argparse.SUPPRESS  # only flags the user gave reach resolve(): they override the file
    p.add_argument(
        "--config",
        type=Path,
        default=s,
        help="TOML settings file (default /etc/micboardd/micboardd.toml if present)",
    )
    p.add_argument("--host", default=s, help="address to serve HTTP on (default 0.0.0.0)")
    p.add_argument("--port", default=s, help="HTTP port (default 8058; 0 picks a free port)")
    p.add_argument(
        "--state-dir",
        dest="state_dir",
        default=s,
        help="directory for the database (default ./var)",
    )
    p.add_argument(
        "--receiver",
        dest="receivers",
        action="append",
        default=s,
        metavar="HOST[:PORT]",
        help="monitor this receiver (repeatable)",
    )
    p.add_argument(
        "--no-discovery",
        dest="discovery",
        action="store_const",
        const=False,
        default=s,
        help="do not look for receivers on the network",
    )
    p.add_argument(
        "--discovery-interface",
        dest="discovery_interfaces",
        action="append",
        default=s,
        metavar="ADDR",
        help="IPv4 address of an interface to discover on (repeatable; default all)",
    )
    p.add_argument(
        "--discovery-approval",
        dest="discovery_approval",
        action="store_const",
        const=True,
        default=s,
        help="new discovered receivers wait for an admin's approval (default: monitored)",
    )
    p.add_argument(
        "--meter-rate-ms",
        dest="meter_rate_ms",
        default=s,
        help="receiver metering interval in ms (default 100, minimum 100)",
    )
    p.add_argument(
        "--ssapi-url",
        dest="ssapi_url",
        default=s,
        help="Shure System API base URL, e.g. https://host:10000/api",
    )
    p.add_argument(
        "--ssapi-key-file",
        dest="ssapi_key_file",
        default=s,
        help="file holding the System API key (mode 0600)",
    )
    p.add_argument(
        "--ssapi-ca-file",
        dest="ssapi_ca_file",
        default=s,
        help="CA file (PEM) for the System API certificate",
    )
    p.add_argument(
        "--ssapi-fingerprint",
        dest="ssapi_fingerprint",
        default=s,
        metavar="SHA256",
        help="pin the System API certificate (default: trust and record the first one)",
    )
    p.add_argument(
        "--redis-url",
        dest="redis_url",
        default=s,
        help="Redis URL to join other micboardd instances",
    )
    p.add_argument("--instance", default=s, help="name of this instance when several share Redis")
    p.add_argument("--log-level", dest="log_level", default=s, help="debug, info, warning or error")
    p.add_argument(
        "--max-clients",
        dest="max_clients",
        default=s,
        help="most WebSocket clients at once (default 500)",
    )
    p.add_argument(
        "--max-clients-per-address",
        dest="max_clients_per_address",
        default=s,
        help="most WebSocket clients from one address, admin sessions excepted (default 30)",
    )
    p.add_argument(
        "--max-connections",
        dest="max_connections",
        default=s,
        help="most HTTP connections at once (default 2000)",
    )
    p.add_argument(
        "--max-connections-per-address",
        dest="max_connections_per_address",
        default=s,
        help="most HTTP connections from one address, trusted proxies excepted (default 64)",
    )
    p.add_argument(
        "--ws-send-timeout-s",
        dest="ws_send_timeout_s",
        default=s,
        help="close a WebSocket client that has not taken a frame for this long (default 10)",
    )
    p.add_argument(
        "--allowed-origin",
        dest="allowed_origins",
        action="append",
        default=s,
        metavar="URL",
        help="extra Origin allowed to open WebSockets (repeatable)",
    )
    p.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        default=s,
        metavar="NAME",
        help="extra host name the box answers to, e.g. micboard.venue.lan (repeatable)",
    )
    p.add_argument(
        "--trusted-proxy",
        dest="trusted_proxies",
        action="append",
        default=s,
        metavar="ADDR[/BITS]",
        help="reverse proxy whose X-Forwarded-For is believed (repeatable; default none)",
    )
    p.add_argument(
        "--tls-cert-file",
        dest="tls_cert_file",
        default=s,
        help="PEM certificate to serve HTTPS with (needs --tls-key-file)",
    )
    p.add_argument(
        "--tls-key-file",
        dest="tls_key_file",
        default=s,
        help="PEM private key for --tls-cert-file (mode 0600)",
    )
    for key, text in (
        ("alert_battery_low_minutes", "battery low alert at or below these minutes (default 30)"),
        ("alert_battery_critical_minutes", "battery critical alert at or below (default 15)"),
        ("alert_rf_weak_dbm", "RF weak alert below this dBm (default -85)"),
        ("alert_rf_weak_hold_s", "seconds RF must stay weak before alerting (default 5)"),
        ("history_retention_days", "days of history kept on disk (default 7)"),
    ):
        p.add_argument("--" + key.replace("_", "-"), dest=key, default=s, help=text)


def settings_from_args(args: argparse.Namespace) -> Settings:
    given = {spec.key: getattr(args, spec.key) for spec in SPECS if hasattr(args, spec.key)}
    return resolve(given, config_path=getattr(args, "config", None))


def _cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    from micboardd.ssapi.options import check_settings

    check_settings(settings)  # bad System API settings: exit 2 before anything starts
    logs.setup(settings.log_level)
    from micboardd.daemon.run import Daemon
    from micboardd.daemon.wiring import make_sources

    return _run_loop(Daemon(settings, source_factory=make_sources).run())


def _run_loop(coro: Any) -> int:
    try:
        import uvloop

        runner: Callable[[Any], int] = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency; fall back if missing
        runner = asyncio.run
    return runner(coro)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="micboardd",
        description="Live monitoring of Shure wireless microphones: daemon, dashboard, WebSockets.",
    )
    parser.add_argument("--version", action="version", version=f"micboardd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon (the default)")
    _add_run_flags(run)
    run.set_defaults(func=_cmd_run)
    for name, (help_text, add_args, main) in _extra_commands().items():
        p = sub.add_parser(name, help=help_text)
        add_args(p)
        p.set_defaults(func=main)
    return parser


def _extra_commands() -> dict[str, Command]:
    from micboardd.cli.main import COMMANDS

    return COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = {"run", *_extra_commands()}
    if not argv or (argv[0] not in commands and argv[0] not in {"-h", "--help", "--version"}):
        argv.insert(0, "run")
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"micboardd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
