"""`micboardd poll --manufacturer shure [--continuous --interval 30] [--json]`.

Polls every configured source - the receivers from the flags, the configuration and the
store, and the System API when `ssapi_url` is set - once (or every `--interval` seconds) and
prints what they report, for diagnostics and scripts. Uses the same sources as the daemon
(and its store, so a certificate pinned by the daemon is enforced here too).
Exit status: 0 when every source answered, 1 when one did not, 2 for bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import replace
from typing import Any, TextIO

import msgspec

from micboardd.cli.run import add_settings_flags, settings_from_args
from micboardd.config import EXIT_CONFIG, Settings
from micboardd.daemon import logs
from micboardd.daemon.state_dir import drop_to_owner
from micboardd.errors import ConfigError, MicboardError
from micboardd.isotime import iso
from micboardd.model import SourceState
from micboardd.ssapi.runtime import effective_settings
from micboardd.ssapi.source import SystemApiSource
from micboardd.ssapi.tuning import DEFAULT_TUNING
from micboardd.state.hub import Hub
from micboardd.store.database import Store

# How long one poll waits for every source to answer (a receiver that is off never will).
SETTLE_TIMEOUT_S = 10.0
SETTLE_CHECK_S = 0.05  # how often "has everyone answered?" is asked while waiting
DEFAULT_INTERVAL_S = 30.0
MIN_INTERVAL_S = 1.0  # faster polling helps no diagnosis and loads the System API server
# Stopping sends METER_RATE 00000 and closes each link (bounded by the link's own timeouts);
# this is the backstop so `poll` always exits.
STOP_TIMEOUT_S = 10.0


def add_poll_arguments(p: argparse.ArgumentParser) -> None:
    add_settings_flags(p)
    p.add_argument(
        "--manufacturer", choices=["shure"], default="shure", help="only Shure is supported"
    )
    p.add_argument("--continuous", action="store_true", help="poll again every --interval s")
    p.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_S,
        help=f"seconds between polls with --continuous (default {DEFAULT_INTERVAL_S:.0f})",
    )
    p.add_argument("--json", action="store_true", help="print JSON (one object per poll)")
    p.add_argument(
        "--timeout",
        type=float,
        default=SETTLE_TIMEOUT_S,
        help=f"seconds to wait for every source to answer (default {SETTLE_TIMEOUT_S:.0f})",
    )


def run_poll(
    args: argparse.Namespace, out: TextIO | None = None, *, configure_logging: bool = True
) -> int:
    out = out or sys.stdout
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"micboardd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if configure_logging:
        # The report goes to stdout; only problems to stderr unless --log-level says more.
        logs.setup(settings.log_level if hasattr(args, "log_level") else "warning")
    interval = max(MIN_INTERVAL_S, float(args.interval))
    try:
        return asyncio.run(_poll(settings, args, interval, out))
    except ConfigError as exc:
        print(f"micboardd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


async def _poll(settings: Settings, args: argparse.Namespace, interval: float, out: TextIO) -> int:
    from micboardd.sources.receivers import ReceiverManager

    # A tool beside the daemon: as root it becomes the state directory's owner where it can,
    # and never moves a damaged database aside (state_dir.py, store.py).
    drop_to_owner(settings.state_dir)
    store = Store(settings.db_path, quarantine=False)
    hub = Hub()
    manager = ReceiverManager(hub, store, settings)
    api: SystemApiSource | None = None
    health: dict[str, Any] = {}
    await store.open()
    try:
        # The System API the daemon would use: the configuration's, else the dashboard's.
        settings = await effective_settings(store, settings)
        if settings.ssapi_url:  # bad settings raise here
            tuning = replace(DEFAULT_TUNING, inventory_s=interval, poll_normal_s=interval)
            api = SystemApiSource(
                hub, store, settings, lambda _e, body: health.update(body), tuning=tuning
            )
    except BaseException:
        await store.close()
        raise
    code = 0
    try:
        await manager.start()
        if api is not None:
            await api.start()
        while True:
            await _settle(hub, api, float(args.timeout))
            report = _report(hub, api, health)
            code = 0 if _all_answered(report) else 1
            _print(report, bool(args.json), out)
            if not args.continuous:
                return code
            await asyncio.sleep(interval)
    finally:
        # A diagnostic command must always exit, even past a receiver that will not let go.
        with contextlib.suppress(MicboardError, OSError, TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await manager.stop()
        if api is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await api.stop()
        await store.close()


def _answered(state: SourceState, error: str | None) -> bool:
    return state in (SourceState.ONLINE, SourceState.ERROR) or (
        state is SourceState.DISCONNECTED and error is not None
    )


async def _settle(hub: Hub, api: SystemApiSource | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        direct = [rx for rx in hub.receivers.values() if rx.source != "system_api"]
        if all(_answered(rx.state, rx.error) for rx in direct) and (
            api is None or api.synced.is_set()
        ):
            return
        await asyncio.sleep(SETTLE_CHECK_S)


def _report(hub: Hub, api: SystemApiSource | None, health: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": iso(time.time()),
        "system_api": None
        if api is None
        else {"endpoint": api.options.endpoint, "health": dict(health), "devices": api.devices()},
        "receivers": hub.receiver_list(),
        "devices": msgspec.to_builtins(hub.device_list()),
    }


def _all_answered(report: dict[str, Any]) -> bool:
    api = report["system_api"]
    if api is not None and api["health"].get("status") != "healthy":
        return False
    return all(rx["status"] == "online" for rx in report["receivers"])


def _print(report: dict[str, Any], as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(report, sort_keys=True) + "\n")
        out.flush()
        return
    lines = [f"# {report['time']}"]
    api = report["system_api"]
    if api is not None:
        h = api["health"]
        lines.append(
            f"System API {api['endpoint']}: {h.get('status', 'no answer')}"
            f" - {h.get('message', '')} ({h.get('response_time_ms')} ms,"
            f" {h.get('error_count', 0)} errors, updates {h.get('updates', '-')})"
        )
        for d in api["devices"]:
            battery = d["battery"]
            text = (
                "" if battery is None else f"  battery {battery['percentage']}% {battery['state']}"
            )
            lines.append(
                f"  {d['model'] or '?':8} {d['serial'] or '-':13} {d['state']:10}"
                f" {d['name'] or ''}{text}"
                + ("  (merged)" if d["merged_with_direct_receiver"] else "")
            )
    lines.append("Receivers:")
    for rx in report["receivers"]:
        lines.append(
            f"  {rx['receiver_id']:24} {rx['model'] or '?':8} {rx['source']:10} {rx['status']}"
            + (f" - {rx['error']}" if rx["error"] else "")
        )
    lines.append("Devices:")
    for dev in report["devices"]:
        battery = "-" if dev["battery_level"] is None else f"{dev['battery_level']}%"
        lines.append(
            f"  {dev['device_id']:28} {dev['name'] or '':12} battery {battery:5}"
            f" charging {dev['charging']!s:5} {dev['status']}"
        )
    out.write("\n".join(lines) + "\n")
    out.flush()
