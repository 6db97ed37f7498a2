"""`micboardd run` (the default command), and the settings flags every command shares.

The flags come from one table, `config.SPECS`: every setting has a flag here, a
`MICBOARDD_*` environment twin and a key in the TOML file, and the flag wins over both.
`add_settings_flags()` is the public builder; `demo` and `poll` take the same flags.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from micboardd.config import DEFAULT_CONFIG_FILE, SPEC_BY_KEY, SPECS, Settings, Spec, resolve


def _shown(value: Any) -> str:
    """A default as `--help` says it; "" when there is nothing to say (no value)."""
    if value is None or value == ():
        return ""
    return str(value)


def flag_help(spec: Spec) -> str:
    """The flag's help: the setting's own line, whether it repeats, and its default."""
    notes = ["repeatable"] if spec.repeatable else []
    default = getattr(Settings(), spec.key)
    shown = spec.shown_default if spec.shown_default is not None else _shown(default)
    if shown and spec.switch is None:
        notes.append(f"default: {shown}")
    text = f"do not {spec.help}" if spec.switch is False else spec.help
    text = f"{text} ({'; '.join(notes)})" if notes else text
    return text.replace("%", "%%")  # argparse formats help with %


def add_settings_flag(parser: argparse.ArgumentParser, spec: Spec) -> None:
    """The flag of one setting. Its default is SUPPRESS: only flags the user gave reach
    `resolve()`, where they override the file and the environment."""
    options: dict[str, Any] = {"dest": spec.key, "default": argparse.SUPPRESS}
    if spec.switch is not None:
        options.update(action="store_const", const=spec.switch)
    elif spec.repeatable:
        options.update(action="append")
    if spec.metavar is not None and spec.switch is None:
        options["metavar"] = spec.metavar
    parser.add_argument(spec.flag_name, help=flag_help(spec), **options)


def add_settings_flags(
    parser: argparse.ArgumentParser, keys: Iterable[str] | None = None, *, config: bool = True
) -> None:
    """`--config` and a flag for every setting (or only those of `keys`), from `SPECS`."""
    if config:
        parser.add_argument(
            "--config",
            type=Path,
            default=argparse.SUPPRESS,
            help=f"TOML settings file (default {DEFAULT_CONFIG_FILE} if present)",
        )
    for spec in SPECS if keys is None else [SPEC_BY_KEY[key] for key in keys]:
        add_settings_flag(parser, spec)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Resolve the settings from the flags given (plus the file and the environment)."""
    given = {spec.key: getattr(args, spec.key) for spec in SPECS if hasattr(args, spec.key)}
    return resolve(given, config_path=getattr(args, "config", None))


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_flags(parser)


def run_daemon(args: argparse.Namespace) -> int:
    """The daemon, until SIGTERM. Bad configuration raises `ConfigError` (exit status 2 in
    `cli.main`) before anything starts."""
    settings = settings_from_args(args)
    from micboardd.ssapi.options import check_settings

    check_settings(settings)  # bad System API settings: exit 2 before anything starts
    from micboardd.daemon import logs
    from micboardd.daemon.run import Daemon, run_on_uvloop
    from micboardd.daemon.wiring import make_sources

    logs.setup(settings.log_level)
    return run_on_uvloop(Daemon(settings, source_factory=make_sources).run())
