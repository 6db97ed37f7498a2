"""Command line: `micboardd [run] [flags]` and the other commands (`micboardd --help` lists
them; only working ones are listed).

One module per command, named in `COMMANDS` with its two functions: one adds its arguments
to a parser, the other runs it and returns the exit status. `sim` lives with the simulator
(`micboardd.sim.cli`). A command's module is imported only when that command is parsed, so
`micboardd run` never loads the simulator. Every `run` flag has a MICBOARDD_* environment
twin and a key in the TOML file (`cli.run`, `config.SPECS`); bad configuration exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from micboardd import __version__
from micboardd.config import EXIT_CONFIG
from micboardd.errors import ConfigError

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
DEFAULT_COMMAND = "run"

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True, slots=True)
class Command:
    help: str
    module: str
    add_arguments: str  # the module's function that adds the command's arguments
    run: str  # the module's function that runs it: args -> exit status


COMMANDS: dict[str, Command] = {
    "run": Command(
        "run the daemon (the default)", "micboardd.cli.run", "add_run_arguments", "run_daemon"
    ),
    "discover": Command(
        "one-shot scan for receivers (SLP, mDNS, probe)",
        "micboardd.cli.discover",
        "add_discover_arguments",
        "run_discover",
    ),
    "demo": Command(
        "the daemon with a simulated venue (loopback only)",
        "micboardd.cli.demo",
        "add_demo_arguments",
        "run_demo",
    ),
    "sim": Command(
        "simulated Shure receivers on loopback, for tests and demos",
        "micboardd.sim.cli",
        "add_sim_arguments",
        "run_command",
    ),
    "import-micboard": Command(
        "import a Micboard config.json: receivers, names, groups",
        "micboardd.cli.import_micboard",
        "add_import_arguments",
        "run_import",
    ),
    "passwd": Command(
        "set the admin password (or the viewer PIN) on this box",
        "micboardd.cli.passwd",
        "add_passwd_arguments",
        "run_passwd",
    ),
    "poll": Command(
        "poll every configured source once (or --continuous) and print",
        "micboardd.cli.poll",
        "add_poll_arguments",
        "run_poll",
    ),
}


def _add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    command: Command,
    *,
    load: bool,
) -> None:
    parser = sub.add_parser(name, help=command.help)
    if load:
        module = importlib.import_module(command.module)
        add_arguments: AddArguments = getattr(module, command.add_arguments)
        run: Run = getattr(module, command.run)
        add_arguments(parser)
        parser.set_defaults(func=run)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `command`, only that command's arguments are loaded
    (the others are listed in --help by name)."""
    parser = argparse.ArgumentParser(
        prog="micboardd",
        description="Live monitoring of Shure wireless microphones: daemon, dashboard, WebSockets.",
    )
    parser.add_argument("--version", action="version", version=f"micboardd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, spec in COMMANDS.items():
        _add_command(sub, name, spec, load=command is None or command == name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in {"-h", "--help", "--version"}):
        argv.insert(0, DEFAULT_COMMAND)
    args = build_parser(argv[0]).parse_args(argv)  # --help and --version exit here
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"micboardd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
