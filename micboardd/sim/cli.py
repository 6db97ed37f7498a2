"""`micboardd sim`: run simulated receivers in the foreground and drive them from stdin.

    micboardd sim --venue demo
    micboardd sim --receiver AD4Q@127.0.0.5:2202 --receiver UR4D@127.0.0.6:2202
    micboardd sim --many 25 --model ULXD4Q --base-host 127.0.1.1

One line per receiver is printed on start (`AD4Q@127.0.0.5:2202 tcp 4ch`). Then each stdin
line is a scenario verb, answered `ok` or `error: ...`:

    tx_off 127.0.0.5:2202 1
    battery_drain 127.0.0.5:2202 2 bars=1 minutes=25
    front_panel_rename 127.0.0.5 3 Lead Vox
    power_loss 127.0.0.5:2202

Runs until SIGINT/SIGTERM (stdin EOF only ends the commands). Only loopback addresses
(127.0.0.0/8) are accepted; anything else exits with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Callable

from micboardd.aio import cancel_and_wait
from micboardd.errors import ConfigError
from micboardd.sim.receiver import SHURE_PORT, SimReceiver
from micboardd.sim.sennheiser import SennheiserSim
from micboardd.sim.state import MODELS, check_loopback, lookup_model
from micboardd.sim.venue import AnyReceiver, Venue, host_at

VERBS = frozenset(
    {
        "tx_off",
        "tx_on",
        "battery_drain",
        "rf_dropout",
        "interference",
        "encryption_error",
        "front_panel_rename",
        "power_loss",
        "power_restore",
        "send_garbage",
        "slow_drip",
        "freeze",
        "hang",
        "power_cycle",
        "other_controller",
    }
)
# Verbs that only a Shure receiver's TCP connection or its METER_RATE scope give meaning to.
SHURE_ONLY_VERBS = frozenset({"slow_drip", "other_controller"})
EXIT_OK = 0
EXIT_CONFIG = 2

VERB_HELP = """verbs (ADDRESS is HOST:PORT, or HOST when unique):
  tx_off ADDRESS CH | tx_on ADDRESS CH
  battery_drain ADDRESS CH [bars=N] [minutes=N] [percent=N]
  rf_dropout ADDRESS CH SECONDS
  interference ADDRESS CH [on|off] | encryption_error ADDRESS CH [on|off]
  front_panel_rename ADDRESS CH NAME...
  power_loss ADDRESS | power_restore ADDRESS
  send_garbage ADDRESS TEXT (backslash escapes allowed)
  slow_drip ADDRESS on|off | freeze ADDRESS on|off | hang ADDRESS on|off
  power_cycle ADDRESS [BOOT_SECONDS]   (off, on, then silent while it boots)
  other_controller ADDRESS METER_RATE_MS   (another controller sets it receiver-wide)
  list | help
Sennheiser receivers (EW-DX, ew G4) take the same verbs but slow_drip and other_controller;
their battery is percent= and minutes= (no bars=)."""


def add_sim_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `micboardd sim` (also usable by any command that embeds receivers)."""
    models = ", ".join(MODELS)
    parser.add_argument(
        "--receiver",
        action="append",
        default=[],
        metavar="MODEL@HOST[:PORT]",
        help=f"simulate one receiver (repeatable; port defaults to {SHURE_PORT}; models: {models})",
    )
    parser.add_argument(
        "--venue", choices=["demo"], help="the demo rig: ~24 channels of every family"
    )
    parser.add_argument("--many", type=int, metavar="N", help="N identical receivers (load tests)")
    parser.add_argument("--model", default="ULXD4Q", help="model for --many (default ULXD4Q)")
    parser.add_argument(
        "--base-host",
        default="127.0.0.2",
        help="first loopback address for --venue/--many; each receiver takes the next one",
    )
    parser.add_argument(
        "--rx-port",
        type=int,
        default=SHURE_PORT,
        help=f"port for --venue/--many receivers (default {SHURE_PORT}; 0 = any free port)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the liveliness random walk")
    parser.add_argument(
        "--split-writes", action="store_true", help="cut writes inside frames (client stress)"
    )
    parser.add_argument(
        "--static", action="store_true", help="no liveliness loop: meters and batteries hold"
    )


def parse_receiver_spec(text: str) -> tuple[str, str, int]:
    """`MODEL@HOST[:PORT]` -> (model, host, port); raises ConfigError."""
    model, sep, where = text.partition("@")
    if not sep or not model or not where:
        raise ConfigError("--receiver", text, "command line", "expected MODEL@HOST[:PORT]")
    host, _, port_text = where.partition(":")
    port = SHURE_PORT
    if port_text:
        if not port_text.isdigit() or int(port_text) > 65535:
            raise ConfigError("--receiver", text, "command line", "bad port")
        port = int(port_text)
    lookup_model(model)
    return model, check_loopback(host), port


def build_venue(args: argparse.Namespace) -> Venue[AnyReceiver]:
    """Every receiver the options ask for, as one venue; raises ConfigError."""
    receivers: list[AnyReceiver] = []
    if args.venue == "demo":
        receivers += Venue.demo(args.base_host, args.rx_port, seed=args.seed).receivers
    if args.many is not None:
        # After the demo rig, continue with the next free address.
        base = host_at(receivers[-1].host, 1) if receivers else args.base_host
        many = Venue.many(args.many, args.model, base, args.rx_port, seed=args.seed)
        receivers += many.receivers
    for spec in args.receiver:
        model, host, port = parse_receiver_spec(spec)
        receivers.append(SimReceiver(model, host, port, split_writes=args.split_writes))
    if not receivers:
        raise ConfigError(
            "sim", "", "command line", "nothing to simulate: give --receiver, --venue or --many"
        )
    for rx in receivers:
        if isinstance(rx, SimReceiver):
            rx.split_writes = rx.split_writes or args.split_writes
    return Venue(receivers, seed=args.seed, lively=not args.static)


def _flag(text: str) -> bool:
    value = text.lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"expected on/off, got {text!r}")


def _channel(words: list[str], index: int = 0) -> int:
    if len(words) <= index or not words[index].isdigit():
        raise ValueError("missing channel number")
    return int(words[index])


def wire_of(rx: AnyReceiver) -> str:
    """How a simulated receiver is reached: `tcp`/`udp` (Shure), `ssc1`, `mcp`."""
    return rx.transport if isinstance(rx, SimReceiver) else rx.protocol


async def execute(venue: Venue[AnyReceiver], line: str) -> str:
    """Run one scenario verb line; return `ok`, a listing, or `error: ...`."""
    words = line.split()
    if not words:
        return ""
    verb, rest = words[0], words[1:]
    if verb == "help":
        return VERB_HELP
    if verb == "list":
        return "\n".join(f"{rx.model}@{rx.address} clients={rx.clients}" for rx in venue.receivers)
    try:
        if verb not in VERBS:
            raise ValueError(f"unknown verb {verb!r} (try: help)")
        if not rest:
            raise ValueError("missing receiver address")
        rx = venue.find(rest[0])
        args = rest[1:]
        if isinstance(rx, SennheiserSim) and verb in SHURE_ONLY_VERBS:
            raise ValueError(f"{verb} is a Shure scenario ({rx.model} is Sennheiser)")
        simple: dict[str, Callable[[int], None]] = {"tx_off": rx.tx_off, "tx_on": rx.tx_on}
        if verb in simple:
            simple[verb](_channel(args))
        elif verb == "battery_drain":
            values = {}
            for word in args[1:]:
                key, sep, value = word.partition("=")
                if not sep or key not in ("bars", "minutes", "percent") or not value.isdigit():
                    raise ValueError(f"bad battery value {word!r} (bars=N minutes=N percent=N)")
                values[key] = int(value)
            if isinstance(rx, SennheiserSim) and "bars" in values:
                raise ValueError("Sennheiser transmitters report no bars (percent=N minutes=N)")
            rx.battery_drain(_channel(args), **values)
        elif verb == "rf_dropout":
            if len(args) != 2:
                raise ValueError("usage: rf_dropout ADDRESS CH SECONDS")
            rx.rf_dropout(_channel(args), float(args[1]))
        elif verb in ("interference", "encryption_error"):
            on = _flag(args[1]) if len(args) > 1 else True
            getattr(rx, verb)(_channel(args), on)
        elif verb == "front_panel_rename":
            rx.front_panel_rename(_channel(args), " ".join(args[1:]))
        elif verb == "power_loss":
            await rx.power_loss()
        elif verb == "power_restore":
            await rx.power_restore()
        elif verb == "power_cycle":
            await rx.power_cycle(float(args[0]) if args else 0.0)
        elif verb == "other_controller":
            if len(args) != 1 or not args[0].isdigit():
                raise ValueError("usage: other_controller ADDRESS METER_RATE_MS (0 = off)")
            assert isinstance(rx, SimReceiver)  # SHURE_ONLY_VERBS
            rx.other_controller(int(args[0]))
        elif verb == "send_garbage":
            text = line.split(None, 2)[2] if len(words) > 2 else ""
            rx.send_garbage(text.encode("latin-1").decode("unicode_escape").encode("latin-1"))
        else:  # slow_drip, freeze, hang
            if len(args) != 1:
                raise ValueError(f"usage: {verb} ADDRESS on|off")
            getattr(rx, verb)(_flag(args[0]))
    except (ValueError, KeyError, IndexError, OSError, UnicodeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        return f"error: {message}"
    return "ok"


def _read_stdin(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Feed stdin lines to the loop from a daemon thread (works for ttys, pipes and files)."""
    try:
        for line in sys.stdin or ():
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)
    except (RuntimeError, ValueError, OSError):
        pass  # the loop is gone or stdin was closed under us: we are shutting down


async def serve_commands(venue: Venue[AnyReceiver]) -> None:
    """Answer scenario verb lines from stdin until it ends (`micboardd sim`, `demo`)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=_read_stdin, args=(loop, queue), daemon=True).start()
    while (line := await queue.get()) is not None:
        answer = await execute(venue, line)
        if answer:
            print(answer, flush=True)


async def run_sim(args: argparse.Namespace) -> int:
    """Run the simulator until SIGINT/SIGTERM; 0 on a clean stop, 2 on bad options."""
    try:
        venue = build_venue(args)
        await venue.start()
    except ConfigError as exc:
        print(f"micboardd sim: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"micboardd sim: cannot listen: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    commands = loop.create_task(serve_commands(venue))
    try:
        for rx in venue.receivers:
            print(f"{rx.model}@{rx.address} {wire_of(rx)} {len(rx.channels)}ch", flush=True)
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await cancel_and_wait(commands)
        await venue.close()
    return EXIT_OK


def run_command(args: argparse.Namespace) -> int:
    """`micboardd sim`: the simulator with log lines on stderr."""
    from micboardd.daemon import logs

    logs.setup("info")
    return asyncio.run(run_sim(args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="micboardd sim", description=(__doc__ or "").split("\n")[0]
    )
    add_sim_arguments(parser)
    return asyncio.run(run_sim(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
