"""Simulated receivers for the benchmark and the soak, in their own process, logging every
meter sent.

Prints `READY <address> ...` once listening. Every SAMPLE written is recorded as
`<time> <device_id> <rf>` (the rf_signal the daemon will compute from it, through the
family's own interpreter), so `micboardd.bench.run` can measure latency simulator send ->
WebSocket client receive:

- by default the records go to the `--log` file on SIGTERM (the benchmark: a few seconds);
- with `--stream` they are printed to stdout as `S <time> <device_id> <rf>` lines a few
  times a second and never kept (the soak: hours).

`--commands` reads scenario verbs (`micboardd sim`'s: `power_loss ADDRESS`, `freeze ADDRESS
on`, ...) from stdin and answers each with an `R <answer>` line. `--every-sample` moves every
meter value before every sample (the liveliness walk alone moves them five times a second).
`--swap-batteries` puts a fresh pack into a transmitter whose battery ran out (the venue
drains them at 30x speed), so battery alerts keep coming and going for hours.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time
from collections.abc import Callable

from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.families import FAMILIES
from micboardd.sim.cli import execute
from micboardd.sim.receiver import SimReceiver
from micboardd.sim.venue import BATTERY_MINUTE_S, Venue

# How often streamed send records are written out: often enough that the soak's window of
# recent sends is current, rarely enough to cost nothing.
STREAM_EVERY_S = 0.25
# How often empty batteries are looked for: a few seconds of an empty pack is realistic.
SWAP_EVERY_S = 5.0

SendLog = list[tuple[float, str, float]]


def _hook(rx: SimReceiver, log: SendLog, move: Callable[[int], None] | None = None) -> None:
    spec = FAMILIES[rx.family]
    interpreter = spec.new_interpreter()
    decoder = StreamDecoder(spec.framing)
    original = rx.meter_frames

    def meter_frames(channel: int) -> list[str]:
        if move is not None:
            move(channel)
        frames = original(channel)
        if rx.frozen:  # a hung receiver sends nothing: nothing to match
            return frames
        now = time.time()
        for frame in decoder.feed("".join(frames).encode()):
            for reading in interpreter.interpret(frame):
                rf = reading.fields.get("rf_signal")
                if isinstance(rf, int | float):
                    log.append((now, f"{rx.address}:{reading.channel}", float(rf)))
        return frames

    rx.meter_frames = meter_frames  # type: ignore[method-assign]


async def _stream(log: SendLog) -> None:
    """Write the send records out and forget them (a soak runs for hours)."""
    while True:
        await asyncio.sleep(STREAM_EVERY_S)
        if log:
            lines = [f"S {t:.6f} {d} {v:g}\n" for t, d, v in log]
            log.clear()
            sys.stdout.write("".join(lines))
            sys.stdout.flush()


async def _swap_batteries(venue: Venue[SimReceiver]) -> None:
    """A fresh pack for every transmitter whose battery ran out, as at an interval."""
    while True:
        await asyncio.sleep(SWAP_EVERY_S)
        for rx in venue.receivers:
            empty = [ch for ch in rx.channels if ch.tx_present and ch.battery_minutes == 0]
            for ch in empty:
                ch.set_battery(percent=100)
            if empty:
                rx.publish()


def _read_stdin(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    try:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
    except (RuntimeError, ValueError, OSError):
        return  # the loop is gone: we are stopping
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def _commands(venue: Venue[SimReceiver]) -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=_read_stdin, args=(loop, queue), daemon=True).start()
    while (line := await queue.get()) is not None:
        answer = await execute(venue, line)
        if answer:
            print("R " + answer.replace("\n", " | "), flush=True)


async def main(args: argparse.Namespace) -> int:
    venue = Venue.many(
        args.receivers,
        args.model,
        base_host=args.base_host,
        port=0,
        seed=1,
        split_writes=args.split_writes,
        battery_minute_s=args.battery_minute_s,
    )
    log: SendLog = []
    for index, rx in enumerate(venue.receivers):
        move = (lambda ch, i=index: venue.move(i, ch)) if args.every_sample else None
        _hook(rx, log, move)
    await venue.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    helpers = []
    if args.stream:
        helpers.append(asyncio.create_task(_stream(log)))
    if args.commands:
        helpers.append(asyncio.create_task(_commands(venue)))
    if args.swap_batteries:
        helpers.append(asyncio.create_task(_swap_batteries(venue)))
    print("READY " + " ".join(rx.address for rx in venue.receivers), flush=True)
    await stop.wait()
    for task in helpers:
        task.cancel()
    await asyncio.gather(*helpers, return_exceptions=True)
    await venue.close()
    if args.log:
        with open(args.log, "w", encoding="ascii") as fh:
            fh.writelines(f"{t:.6f} {d} {v:g}\n" for t, d, v in log)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="micboardd.bench.simworker")
    parser.add_argument("--receivers", type=int, default=25)
    parser.add_argument("--model", default="ULXD4Q")
    parser.add_argument("--base-host", default="127.0.0.1")
    parser.add_argument("--log", help="write the send records here on SIGTERM")
    parser.add_argument("--stream", action="store_true", help="print send records as they go")
    parser.add_argument("--commands", action="store_true", help="scenario verbs from stdin")
    parser.add_argument("--split-writes", action="store_true", help="cut writes inside frames")
    parser.add_argument(
        "--every-sample", action="store_true", help="move every meter before every sample"
    )
    parser.add_argument(
        "--battery-minute-s",
        type=float,
        default=BATTERY_MINUTE_S,
        help="seconds per battery minute drained (the demo's default is fast; 60 is real)",
    )
    parser.add_argument(
        "--swap-batteries", action="store_true", help="a fresh pack when a battery runs out"
    )
    return parser


if __name__ == "__main__":
    sys.exit(asyncio.run(main(build_parser().parse_args())))
