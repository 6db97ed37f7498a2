"""Simulated receivers for the benchmark, in their own process, logging every meter sent.

Prints `READY <address> ...` once listening. On SIGTERM writes `<time> <device_id> <rf>`
lines (the rf_signal the daemon will compute from each SAMPLE, through the family's own
interpreter) to the log file, then exits. Used by `micboardd.bench.run` to measure latency
simulator send -> WebSocket client receive.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from micboardd.shure.decoder import StreamDecoder
from micboardd.shure.families import FAMILIES
from micboardd.sim.receiver import SimReceiver
from micboardd.sim.venue import Venue


def _hook(rx: SimReceiver, log: list[tuple[float, str, float]]) -> None:
    spec = FAMILIES[rx.family]
    interpreter = spec.new_interpreter()
    decoder = StreamDecoder(spec.framing)
    original = rx.meter_frames

    def meter_frames(channel: int) -> list[str]:
        frames = original(channel)
        now = time.time()
        for frame in decoder.feed("".join(frames).encode()):
            for reading in interpreter.interpret(frame):
                rf = reading.fields.get("rf_signal")
                if isinstance(rf, int | float):
                    log.append((now, f"{rx.address}:{reading.channel}", float(rf)))
        return frames

    rx.meter_frames = meter_frames  # type: ignore[method-assign]


async def main(args: argparse.Namespace) -> int:
    venue = Venue.many(args.receivers, args.model, base_host=args.base_host, port=0, seed=1)
    log: list[tuple[float, str, float]] = []
    for rx in venue.receivers:
        _hook(rx, log)
    await venue.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("READY " + " ".join(rx.address for rx in venue.receivers), flush=True)
    await stop.wait()
    await venue.close()
    with open(args.log, "w", encoding="ascii") as fh:
        fh.writelines(f"{t:.6f} {d} {v:g}\n" for t, d, v in log)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--receivers", type=int, default=25)
    parser.add_argument("--model", default="ULXD4Q")
    parser.add_argument("--base-host", default="127.0.0.1")
    parser.add_argument("--log", required=True)
    sys.exit(asyncio.run(main(parser.parse_args())))
