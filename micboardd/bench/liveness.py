"""Liveness figures: how fast and how honestly the daemon follows a receiver that goes and comes.

`python -m micboardd.bench.liveness` (`make bench-liveness`) runs the daemon as its own
process against simulated ULXD4Q receivers metering every 100 ms, watches `/ws/devices/` and
`/ws/health/` as a phone does, and prints:

- silence -> rx_offline: a receiver hangs (TCP open, nothing answers) until its tiles say so;
- looks at the tiles while it stays hung (four a second) that did not say rx_offline (must
  be 0), and how many status changes the page was sent meanwhile (must be 0);
- its rx_offline alert: latency from the hang, raised and cleared how many times (once each);
- power restored -> live tiles, without and with an SLP announcement at power-on;
- a healthy receiver while another controller sets METER_RATE to 05000, then 00000: times
  it flapped offline in 60 s (must be 0).

Announcements are multicast, so that part runs only inside a private network namespace:
as root the script re-runs itself under `unshare -n` with only `lo` up; otherwise it says
so and measures the rest. Nothing leaves loopback either way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from micboardd.sim.announce import AnnouncedDevice, SlpAnnouncer
from micboardd.sim.receiver import SimReceiver

# Inside the namespace: loopback up, the multicast range routed to it (as the tests do).
NETNS_SETUP = "ip link set lo up && ip route add 224.0.0.0/4 dev lo"
LOOK_EVERY_S = 0.25  # a crew member glancing at a phone, four times a second
HUNG_WATCH_S = 20.0
FLAP_WATCH_S = 60.0
REPEATS = 5
DEADLINE_S = 30.0


@dataclass
class Watch:
    """What a phone was sent: every status per device, and every alert frame."""

    statuses: dict[str, str] = field(default_factory=dict)
    changes: list[tuple[float, str, str]] = field(default_factory=list)  # (t, device, status)
    alerts: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def take(self, t: float, dev: dict[str, Any]) -> None:
        device, status = dev.get("device_id"), dev.get("status")
        if isinstance(device, str) and isinstance(status, str):
            if self.statuses.get(device) != status:
                self.changes.append((t, device, status))
            self.statuses[device] = status

    def of(self, prefix: str) -> list[str]:
        return [s for d, s in self.statuses.items() if d.startswith(prefix)]


def ws_url(url: str) -> str:
    return "ws://" + url.removeprefix("http://")


async def watch_devices(url: str, watch: Watch) -> None:
    async with connect(ws_url(url) + "/ws/devices/", max_size=None) as ws:
        async for text in ws:
            msg, now = json.loads(text), time.monotonic()
            kind = msg.get("type")
            if kind == "initial_data":
                for dev in msg["devices"]:
                    watch.take(now, dev)
            elif kind == "device_update":
                watch.take(now, msg)
            elif kind == "batch_update":
                for dev in msg["updates"]:
                    watch.take(now, dev)


async def watch_health(url: str, watch: Watch) -> None:
    async with connect(ws_url(url) + "/ws/health/", max_size=None) as ws:
        async for text in ws:
            msg = json.loads(text)
            if msg.get("type") == "system_alert":
                watch.alerts.append((time.monotonic(), msg))


async def until(check: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> float:
    """Poll `check` every 10 ms; the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic()


def prefix_of(rx: SimReceiver) -> str:
    return f"{rx.address}:"


def all_status(watch: Watch, rx: SimReceiver, wanted: Callable[[str], bool]) -> Callable[[], bool]:
    def check() -> bool:
        found = watch.of(prefix_of(rx))
        return len(found) == len(rx.channels) and all(wanted(s) for s in found)

    return check


def offline(s: str) -> bool:
    return s == "rx_offline"


def live(s: str) -> bool:
    return s != "rx_offline"


def start_daemon(
    workdir: Path, receivers: list[SimReceiver], discovery: bool
) -> subprocess.Popen[str]:
    config = workdir / "liveness.toml"
    config.write_text("")
    args = [sys.executable, "-m", "micboardd", "run", "--host", "127.0.0.1", "--port", "0"]
    args += ["--state-dir", str(workdir / "state"), "--config", str(config)]
    args += ["--discovery-interface", "127.0.0.1"] if discovery else ["--no-discovery"]
    for rx in receivers:
        args += ["--receiver", rx.address]
    with (workdir / "daemon.log").open("w") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            args, stderr=log, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )


async def daemon_url(workdir: Path) -> str:
    log = workdir / "daemon.log"

    def listening() -> bool:
        return "listening on http://" in log.read_text()

    await until(listening, "the daemon to listen")
    line = next(x for x in log.read_text().splitlines() if "listening on http://" in x)
    return "http://" + line.rsplit("http://", 1)[1].strip()


async def silence_and_hang(url: str, watch: Watch, rx: SimReceiver) -> dict[str, Any]:
    to_offline: list[float] = []
    t0 = 0.0
    for _ in range(REPEATS):
        await until(all_status(watch, rx, live), "live tiles")
        await until(lambda: not open_alert(watch, rx), "no open offline alert")
        t0 = time.monotonic()
        rx.hang(True)
        t1 = await until(all_status(watch, rx, offline), "rx_offline tiles")
        to_offline.append(t1 - t0)
        if len(to_offline) < REPEATS:
            rx.hang(False)
    hung_at = t0  # the last hang lasts: its alert is the one measured
    # Still hung: look at it as a phone would, while it is reconnected again and again.
    changes_before = len(watch.changes)
    looks = not_offline = 0
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        end = time.monotonic() + HUNG_WATCH_S
        while time.monotonic() < end:
            devices = (await client.get("/api/devices")).json()
            mine = [d for d in devices if d["device_id"].startswith(prefix_of(rx))]
            looks += 1
            not_offline += sum(1 for d in mine if d["status"] != "rx_offline")
            await asyncio.sleep(LOOK_EVERY_S)
    sent = [c for c in watch.changes[changes_before:] if c[1].startswith(prefix_of(rx))]
    rx.hang(False)
    await until(all_status(watch, rx, live), "live tiles after the hang")
    await until(lambda: bool(alert_times(watch, rx, "cleared", hung_at)), "the alert cleared")
    raised = alert_times(watch, rx, "raised", hung_at)
    return {
        "silence_to_offline_s": to_offline,
        "hung_looks": looks,
        "hung_looks_not_offline": not_offline,
        "hung_status_changes_sent": len(sent),
        "alert_latency_s": (raised[0] - hung_at) if raised else None,
        "alerts_raised": len(raised),
        "alerts_cleared": len(alert_times(watch, rx, "cleared", hung_at)),
    }


def alert_times(watch: Watch, rx: SimReceiver, state: str, since: float) -> list[float]:
    return [
        t
        for t, a in watch.alerts
        if a.get("kind") == "rx_offline"
        and a.get("receiver_id") == rx.address
        and a.get("state") == state
        and t >= since
    ]


def open_alert(watch: Watch, rx: SimReceiver) -> bool:
    """Whether the receiver's last rx_offline alert frame says it is still open."""
    mine = [
        a
        for _, a in watch.alerts
        if a.get("kind") == "rx_offline" and a.get("receiver_id") == rx.address
    ]
    return bool(mine) and bool(mine[-1].get("active"))


async def power_return(
    watch: Watch, rx: SimReceiver, announcer: SlpAnnouncer | None
) -> list[float]:
    times: list[float] = []
    for _ in range(REPEATS):
        await until(all_status(watch, rx, live), "live tiles")
        await rx.power_loss()
        await until(all_status(watch, rx, offline), "rx_offline tiles")
        await asyncio.sleep(8.0)  # long enough for the retry schedule to reach its cap
        t0 = time.monotonic()
        await rx.power_restore()
        if announcer is not None:
            announcer.announce_now()  # receivers announce themselves as they boot
        t1 = await until(all_status(watch, rx, live), "live tiles after power-on")
        times.append(t1 - t0)
    return times


async def other_controller(watch: Watch, rx: SimReceiver) -> dict[str, Any]:
    await until(all_status(watch, rx, live), "live tiles")
    before = len(watch.changes)
    rx.other_controller(5000)
    await asyncio.sleep(FLAP_WATCH_S / 2)  # an observation window, not a synchronisation
    rx.other_controller(0)
    await asyncio.sleep(FLAP_WATCH_S / 2)
    flaps = [
        c for c in watch.changes[before:] if c[1].startswith(prefix_of(rx)) and c[2] == "rx_offline"
    ]
    return {"other_controller_flaps_in_60s": len(flaps)}


def in_private_netns() -> bool:
    """Only `lo` in this network namespace (/sys/class/net would show the host's)."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


async def run(announce: bool) -> dict[str, Any]:
    hung = SimReceiver("ULXD4Q", "127.0.0.1", 0)
    back = SimReceiver("ULXD4Q", "127.0.0.2", 0)
    shared = SimReceiver("ULXD4Q", "127.0.0.3", 0, meter_scope="receiver")
    receivers = [hung, back, shared]
    for rx in receivers:
        await rx.start()
    announcer = SlpAnnouncer([AnnouncedDevice.of(back)]) if announce else None
    watch = Watch()
    with tempfile.TemporaryDirectory(prefix="micboardd-liveness-") as tmp:
        workdir = Path(tmp)
        daemon = start_daemon(workdir, receivers, discovery=announce)
        tasks: list[asyncio.Task[None]] = []
        try:
            url = await daemon_url(workdir)
            tasks = [
                asyncio.create_task(watch_devices(url, watch)),
                asyncio.create_task(watch_health(url, watch)),
            ]
            for rx in receivers:
                await until(all_status(watch, rx, live), f"{rx.address} live")
            figures = await silence_and_hang(url, watch, hung)
            figures["return_without_announcement_s"] = await power_return(watch, back, None)
            if announcer is not None:
                figures["return_with_announcement_s"] = await power_return(watch, back, announcer)
            figures |= await other_controller(watch, shared)
            log = (workdir / "daemon.log").read_text()
            figures["other_controller_log_lines"] = sum(
                1 for line in log.splitlines() if "another controller set METER_RATE" in line
            )
            figures["daemon_tracebacks"] = log.count("Traceback")
        except Exception:
            tail = (workdir / "daemon.log").read_text().splitlines()[-20:]
            print("the daemon's last log lines:", *tail, sep="\n  ", file=sys.stderr)
            raise
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            daemon.terminate()
            daemon.wait(10)
            if announcer is not None:
                await announcer.stop()
            for rx in receivers:
                await rx.close()
    return figures


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s, min {min(values):.2f}, "
        f"max {max(values):.2f} (n={len(values)})"
    )


def report(figures: dict[str, Any], announce_note: str | None) -> None:
    print("liveness (ULXD4Q, metering every 100 ms)")
    print(f"  silence -> rx_offline tiles      {summary(figures['silence_to_offline_s'])}")
    print(
        f"  while hung {HUNG_WATCH_S:g} s: {figures['hung_looks']} looks, "
        f"{figures['hung_looks_not_offline']} tile(s) not rx_offline, "
        f"{figures['hung_status_changes_sent']} status change(s) sent"
    )
    latency = figures["alert_latency_s"]
    print(
        f"  rx_offline alert                 latency {latency:.2f} s, "
        f"raised {figures['alerts_raised']}x, cleared {figures['alerts_cleared']}x"
        if latency is not None
        else "  rx_offline alert                 not raised"
    )
    print(f"  return, no announcement          {summary(figures['return_without_announcement_s'])}")
    if "return_with_announcement_s" in figures:
        print(
            f"  return, SLP announcement at boot {summary(figures['return_with_announcement_s'])}"
        )
    else:
        print(f"  return, SLP announcement         not measured: {announce_note}")
    print(
        f"  another controller 05000 then 00000 for {FLAP_WATCH_S:g} s: "
        f"{figures['other_controller_flaps_in_60s']} offline flap(s), "
        f"{figures['other_controller_log_lines']} log line(s)"
    )
    print(f"  tracebacks in the daemon's log   {figures['daemon_tracebacks']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="micboardd.bench.liveness")
    parser.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    note: str | None = None
    if not args.in_netns:
        if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
            inner = [sys.executable, "-m", "micboardd.bench.liveness", "--in-netns"]
            if args.json:
                inner += ["--json", str(args.json.resolve())]
            cmd = ["unshare", "-n", "--", "sh", "-c", f'{NETNS_SETUP} && exec "$@"', "netns"]
            return subprocess.call([*cmd, *inner])
        note = "needs root (unshare -n) to multicast inside a private network namespace"
    announce = args.in_netns and in_private_netns()
    if args.in_netns and not announce:
        note = "the namespace has interfaces other than lo: not multicasting"
    figures = asyncio.run(run(announce))
    report(figures, note)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
