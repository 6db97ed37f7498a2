"""`micboardd demo`: the real daemon monitoring a lively simulated venue on loopback.

The simulated receivers (every Shure family, about 24 channels, on 127.0.0.2 and up, port
2202; then an EW-DX EM 4 over SSC v1 on the same port and an ew G4 over the Media Control
Protocol on 53212, on the next two addresses) are monitored exactly like real ones
(`--receiver`, `ssc1://HOST:PORT` where the port does not name the protocol); discovery
stays off, so the demo never multicasts on a real interface. There is no demo-only branch in
the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import replace
from pathlib import Path

from micboardd.aio import cancel_and_wait
from micboardd.cli.run import add_settings_flags, settings_from_args
from micboardd.config import Layer, ReceiverAddress, Settings, parse_receiver
from micboardd.daemon import logs
from micboardd.daemon.run import Daemon, run_on_uvloop
from micboardd.daemon.wiring import make_sources
from micboardd.sim.cli import serve_commands
from micboardd.sim.receiver import SimReceiver
from micboardd.sim.venue import AnyReceiver, Venue

log = logging.getLogger(__name__)

DEMO_BASE_HOST = "127.0.0.2"
DEMO_STATE_DIR = Path("var/demo")  # never mixes simulated receivers into a real store


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    add_settings_flags(p)
    p.add_argument(
        "--sim-base-host",
        default=DEMO_BASE_HOST,
        help="first loopback address of the simulated receivers",
    )
    p.add_argument(
        "--sim-port",
        type=int,
        default=2202,
        help="port of the simulated receivers (0 = free ports)",
    )


def monitor_address(rx: AnyReceiver) -> ReceiverAddress:
    """The address the daemon is given for a simulated receiver (its protocol named when the
    port does not say it)."""
    if isinstance(rx, SimReceiver):
        return ReceiverAddress(rx.host, rx.port)
    return parse_receiver(f"{rx.protocol}://{rx.host}:{rx.port}")


async def demo(settings: Settings, base_host: str, port: int) -> int:
    venue = Venue.demo(base_host=base_host, port=port)
    await venue.start()
    # Scenario verbs on stdin, as `micboardd sim` takes them: `hang 127.0.0.3 on`,
    # `power_cycle 127.0.0.5 20`, `other_controller 127.0.0.2 5000`, `tx_off 127.0.0.11 2`
    # (the EW-DX), `help`.
    commands = asyncio.create_task(serve_commands(venue), name="demo scenario verbs")
    try:
        addresses = tuple(monitor_address(rx) for rx in venue.receivers)
        log.info(
            "demo venue: %d simulated receivers, %d channels; scenario verbs on stdin (help)",
            len(addresses),
            venue.channel_count,
        )
        settings = replace(settings, receivers=addresses, discovery=False)
        return await Daemon(settings, source_factory=make_sources).run()
    finally:
        await cancel_and_wait(commands)
        await venue.close()


def run_demo(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if settings.layer("state_dir") is Layer.DEFAULT:
        settings = replace(settings, state_dir=DEMO_STATE_DIR)
    logs.setup(settings.log_level)
    return run_on_uvloop(demo(settings, args.sim_base_host, args.sim_port))
