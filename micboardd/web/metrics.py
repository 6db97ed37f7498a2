"""Prometheus text exposition (format 0.0.4) of the running daemon, for `GET /metrics`.

`render_metrics(ctx)` is pure: it reads the app context and returns text, so a scrape costs
a walk over the hub and nothing else (no I/O, no locks). Labels are closed vocabularies
(states, statuses, endpoint kinds, counter names chosen in code): no receiver address, id,
name, performer or URL ever appears, so the page can be scraped across the venue LAN without
handing out the inventory.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from micboardd import __version__
from micboardd.feed.fanout import FanOut
from micboardd.model import ChannelStatus, Counters, SourceState
from micboardd.state.hub import Hub

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "micboardd_"

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    value: float
    labels: Labels = ()


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    kind: str  # "gauge" | "counter"
    help: str
    samples: Sequence[Sample]


class MetricsSource(Protocol):
    """What the metrics read; `micboardd.web.context.AppContext` provides it."""

    @property
    def hub(self) -> Hub: ...
    @property
    def fanout(self) -> FanOut: ...
    @property
    def counters(self) -> Counters: ...
    @property
    def db_ok(self) -> bool: ...
    @property
    def cpu_percent(self) -> float: ...

    def uptime_s(self) -> float: ...


def render_metrics(ctx: MetricsSource) -> str:
    """Every metric of the daemon as Prometheus text; ends with a newline."""
    return "".join(_render(m) for m in collect(ctx))


def collect(ctx: MetricsSource) -> list[Metric]:
    return [
        *_daemon(ctx),
        *_hub(ctx.hub),
        *_clients(ctx.fanout, ctx.counters),
        *_system_api(ctx.fanout.latest_api_health.values()),
        *_process(ctx),
    ]


def _daemon(ctx: MetricsSource) -> list[Metric]:
    return [
        Metric(
            "build_info",
            "gauge",
            "Version of micboardd and of the Python running it (always 1).",
            [Sample(1, (("version", __version__), ("python", platform.python_version())))],
        ),
        Metric(
            "uptime_seconds", "gauge", "Seconds since the daemon started.", [Sample(ctx.uptime_s())]
        ),
    ]


def _hub(hub: Hub) -> list[Metric]:
    receivers = list(hub.receivers.values())
    return [
        Metric(
            "receivers",
            "gauge",
            "Receivers by connection state.",
            _count_by(
                "state",
                [s.value for s in SourceState],
                (rx.state.value for rx in receivers),
            ),
        ),
        Metric(
            "source_errors",
            "gauge",
            "Receivers whose connection currently reports an error.",
            [Sample(sum(1 for rx in receivers if rx.error))],
        ),
        Metric(
            "receiver_latency_seconds",
            "gauge",
            "Command round trip to connected receivers: mean and max over receivers.",
            _latency(rx.latency_ms for rx in receivers if rx.online),
        ),
        Metric(
            "channels",
            "gauge",
            "Microphone channels (devices) by status colour.",
            _count_by(
                "status",
                [s.value for s in ChannelStatus],
                (str(dev.status or ChannelStatus.UNKNOWN.value) for dev in hub.devices.values()),
            ),
        ),
        Metric(
            "readings",
            "counter",
            "Readings from sources applied to the hub.",
            [Sample(hub.updates_applied)],
        ),
    ]


def _clients(fanout: FanOut, counters: Counters) -> list[Metric]:
    return [
        Metric(
            "clients",
            "gauge",
            "WebSocket clients connected, by endpoint.",
            [
                Sample(len(fanout.devices), (("endpoint", "devices"),)),
                Sample(len(fanout.connections), (("endpoint", "connections"),)),
                Sample(len(fanout.health), (("endpoint", "health"),)),
            ],
        ),
        Metric(
            "ws_frames_sent",
            "counter",
            "WebSocket frames sent to clients.",
            [Sample(counters.ws_frames_sent)],
        ),
        Metric(
            "ws_sent_bytes",
            "counter",
            "Bytes of WebSocket frames sent to clients (before compression).",
            [Sample(counters.ws_bytes_sent)],
        ),
        Metric(
            "ws_frames_waited",
            "counter",
            "WebSocket frames not written at once (client socket paused or closing).",
            [Sample(counters.ws_frames_waited)],
        ),
        Metric(
            "ws_client_errors",
            "counter",
            "Client messages answered with an error (malformed, unknown, oversized).",
            [Sample(counters.ws_client_errors)],
        ),
        Metric(
            "events",
            "counter",
            "Other events counted by the daemon (alerts raised, ...), by name.",
            [Sample(value, (("event", name),)) for name, value in sorted(counters.extra.items())],
        ),
        Metric(
            "loop_exceptions",
            "counter",
            "Unexpected exceptions on the event loop (each one a bug), by exception type.",
            [
                Sample(value, (("kind", kind),))
                for kind, value in sorted(counters.loop_exceptions.items())
            ],
        ),
    ]


def _process(ctx: MetricsSource) -> list[Metric]:
    return [
        Metric(
            "database_up",
            "gauge",
            "1 when the SQLite database answered the last check.",
            [Sample(1 if ctx.db_ok else 0)],
        ),
        Metric(
            "cpu_percent",
            "gauge",
            "Share of one core used by the daemon over the last health interval.",
            [Sample(ctx.cpu_percent)],
        ),
    ]


def _count_by(label: str, vocabulary: Sequence[str], values: Iterable[str]) -> list[Sample]:
    """One sample per known value (zeros included, so graphs do not gap); unknown -> unknown."""
    counts = dict.fromkeys(vocabulary, 0)
    for value in values:
        key = value if value in counts else "unknown"
        counts[key] = counts.get(key, 0) + 1
    return [Sample(n, ((label, key),)) for key, n in counts.items()]


def _latency(values_ms: Iterable[float | None]) -> list[Sample]:
    known = [float(v) for v in values_ms if v is not None]
    if not known:
        return []  # nothing connected: no sample rather than a misleading 0
    return [
        Sample(sum(known) / len(known) / 1000, (("stat", "mean"),)),
        Sample(max(known) / 1000, (("stat", "max"),)),
    ]


def _system_api(bodies: Iterable[dict[str, Any]]) -> list[Metric]:
    """Shure System API health, aggregated: the endpoint URL is an address, never a label."""
    frames = list(bodies)
    times = [
        float(b["response_time_ms"]) / 1000
        for b in frames
        if isinstance(b.get("response_time_ms"), int | float)
    ]
    errors = sum(int(b["error_count"]) for b in frames if isinstance(b.get("error_count"), int))
    return [
        Metric(
            "system_api_endpoints",
            "gauge",
            "Shure System API endpoints by health.",
            _count_by(
                "status",
                ["healthy", "degraded", "down"],
                (str(b.get("status")) for b in frames),
            ),
        ),
        Metric(
            "system_api_response_seconds",
            "gauge",
            "Slowest last response time of the Shure System API endpoints.",
            [Sample(max(times))] if times else [],
        ),
        Metric(
            "system_api_errors",
            "gauge",
            "Errors reported by the System API health checks (sum over endpoints).",
            [Sample(errors)] if frames else [],
        ),
    ]


# --- text format ---


def _render(metric: Metric) -> str:
    # Counters carry the _total suffix in every line, as prometheus_client writes them.
    name = PREFIX + metric.name + ("_total" if metric.kind == "counter" else "")
    lines = [
        f"# HELP {name} {_escape_help(metric.help)}",
        f"# TYPE {name} {metric.kind}",
    ]
    for sample in metric.samples:
        labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sample.labels)
        braces = "{" + labels + "}" if labels else ""
        lines.append(f"{name}{braces} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))
