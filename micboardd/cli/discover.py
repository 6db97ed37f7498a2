"""`micboardd discover`: one-shot scan that prints every receiver found, and how.

    micboardd discover                      # 5 s on every IPv4 interface
    micboardd discover --timeout 10 --json
    micboardd discover --discovery-interface 192.168.1.20 --discovery-interface 10.0.0.5

Listens to SLP and browses mDNS for `--timeout` seconds, confirms each device with a probe
and prints model, channel count, address and how it was found (slp, mdns, probe). Devices
that announced themselves but did not answer like a receiver are listed as rejected. The
appliance does not advertise itself during a scan. Exit status 0, 1 if neither SLP nor
mDNS could listen, 2 for a bad setting.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from micboardd.cli.run import add_settings_flags
from micboardd.config import EXIT_CONFIG, resolve
from micboardd.daemon import logs
from micboardd.discovery import Candidate
from micboardd.discovery.service import Discovery
from micboardd.errors import ConfigError

DEFAULT_TIMEOUT_S = 5.0  # two and a half SLP intervals: every receiver announces twice
EXIT_OK = 0
EXIT_NO_LISTENER = 1


def add_discover_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"how long to listen (default {DEFAULT_TIMEOUT_S:g})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    # `run`'s flag; without it, discovery_interfaces from the settings (default: every one).
    add_settings_flags(p, ["discovery_interfaces"], config=False)
    # The name this command had before it took `run`'s: scripts written for it keep working.
    p.add_argument(
        "--interface",
        dest="discovery_interfaces",
        action="append",
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )
    p.add_argument("--verbose", action="store_true", help="log what discovery does (to stderr)")


def _candidate_dict(c: Candidate) -> dict[str, Any]:
    data = asdict(c)
    data["family"] = c.family.value
    data["via"] = sorted(c.via)
    return data


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def render_text(report: dict[str, Any]) -> str:
    """The human-readable report (pure)."""
    lines: list[str] = []
    receivers = report["receivers"]
    if receivers:
        rows = [["MODEL", "CH", "ADDRESS", "VIA", "NAME", "ID"]]
        rows += [
            [
                r["model"],
                str(r["channels"]),
                r["address"] if r["port"] == 2202 else f"{r['address']}:{r['port']}",
                "+".join(r["via"]),
                r["name"] or "-",
                r["receiver_id"],
            ]
            for r in receivers
        ]
        lines.append(_table(rows))
    for r in report["rejected"]:
        lines.append(f"rejected {r['address']}: {r['reason']}")
    for r in report["unconfirmed"]:
        lines.append(f"still probing {r['address']} ({r['model'] or 'unknown model'})")
    count = len(receivers)
    lines.append(
        f"{count} receiver{'' if count == 1 else 's'} found in {report['seconds']:.1f} s"
        f" ({report['stats']['packets']} SLP packets, {report['stats']['malformed']} malformed)"
    )
    return "\n".join(lines)


async def scan(interfaces: tuple[str, ...], timeout: float) -> dict[str, Any]:
    """Listen for `timeout` seconds; return the report as a JSON-ready dict."""
    found: dict[str, Candidate] = {}

    def on_candidate(candidate: Candidate) -> None:
        found[candidate.receiver_id] = candidate

    discovery = Discovery(interfaces, on_candidate, http_port=None, advertise=False)
    started = time.monotonic()
    await discovery.start()
    try:
        await asyncio.sleep(timeout)
        health = discovery.health()
        stats = discovery.stats
    finally:
        await discovery.stop()
    return {
        "receivers": [_candidate_dict(c) for c in sorted(found.values(), key=lambda c: c.address)],
        "rejected": health["rejections"],
        "unconfirmed": [
            d
            for d in health["devices"]
            if d["receiver_id"] not in found
            and d["receiver_id"] not in discovery.rejected
            and not d["ignored"]
        ],
        "seconds": round(time.monotonic() - started, 2),
        "listening": {"slp": health["slp"], "mdns": health["mdns"]},
        "stats": asdict(stats),
    }


def run_discover(args: argparse.Namespace) -> int:
    given = {}
    if hasattr(args, "discovery_interfaces"):
        given["discovery_interfaces"] = args.discovery_interfaces
    try:
        settings = resolve(given, config_path=getattr(args, "config", None))
    except ConfigError as exc:
        print(f"micboardd discover: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.timeout <= 0:
        print("micboardd discover: --timeout must be more than 0 seconds", file=sys.stderr)
        return EXIT_CONFIG
    logs.setup("debug" if args.verbose else "warning", force_stderr=True)
    report = asyncio.run(scan(settings.discovery_interfaces, args.timeout))
    print(json.dumps(report, indent=2) if args.json else render_text(report))
    listening = report["listening"]
    if not listening["slp"]["listening"] and not listening["mdns"]["browsing"]:
        return EXIT_NO_LISTENER
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="micboardd discover", description=(__doc__ or "").split("\n")[0]
    )
    add_discover_arguments(parser)
    return run_discover(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
