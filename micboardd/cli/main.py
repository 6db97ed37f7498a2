"""Subcommands besides `run` (only working ones are listed in --help).

Each entry: name -> (help, add_arguments, main). Modules are imported when the command runs,
so `micboardd run` never loads the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _demo_args(p: argparse.ArgumentParser) -> None:
    from micboardd.cli.demo import add_demo_arguments

    add_demo_arguments(p)


def _demo(args: argparse.Namespace) -> int:
    from micboardd.cli.demo import run_demo

    return run_demo(args)


def _sim_args(p: argparse.ArgumentParser) -> None:
    from micboardd.sim.cli import add_sim_arguments

    add_sim_arguments(p)


def _sim(args: argparse.Namespace) -> int:
    from micboardd.daemon import logs
    from micboardd.sim.cli import run_sim

    logs.setup("info")
    return asyncio.run(run_sim(args))


def _discover_args(p: argparse.ArgumentParser) -> None:
    from micboardd.cli.discover import add_discover_arguments

    add_discover_arguments(p)


def _discover(args: argparse.Namespace) -> int:
    from micboardd.cli.discover import run_discover

    return run_discover(args)


def _passwd_args(p: argparse.ArgumentParser) -> None:
    from micboardd.cli.passwd import add_passwd_arguments

    add_passwd_arguments(p)


def _passwd(args: argparse.Namespace) -> int:
    from micboardd.cli.passwd import run_passwd

    return run_passwd(args)


def _import_args(p: argparse.ArgumentParser) -> None:
    from micboardd.cli.import_micboard import add_import_arguments

    add_import_arguments(p)


def _import(args: argparse.Namespace) -> int:
    from micboardd.cli.import_micboard import run_import

    return run_import(args)


def _poll_args(p: argparse.ArgumentParser) -> None:
    from micboardd.cli.poll import add_poll_arguments

    add_poll_arguments(p)


def _poll(args: argparse.Namespace) -> int:
    from micboardd.cli.poll import run_poll

    return run_poll(args)


COMMANDS: dict[str, Command] = {
    "discover": ("one-shot scan for receivers (SLP, mDNS, probe)", _discover_args, _discover),
    "demo": ("the daemon with a simulated venue (loopback only)", _demo_args, _demo),
    "sim": ("simulated Shure receivers on loopback, for tests and demos", _sim_args, _sim),
    "import-micboard": (
        "import a Micboard config.json: receivers, names, groups",
        _import_args,
        _import,
    ),
    "passwd": ("set the admin password (or the viewer PIN) on this box", _passwd_args, _passwd),
    "poll": ("poll every configured source once (or --continuous) and print", _poll_args, _poll),
}
