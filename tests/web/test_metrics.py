"""GET /metrics text: well-formed Prometheus exposition, right counts, nothing leaked."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pytest

from micboardd.feed.fanout import FanOut
from micboardd.model import Counters, Family, Reading, SourceState
from micboardd.state.hub import Hub
from micboardd.web.metrics import render_metrics

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{({LABEL}(?:,{LABEL})*)?\}})? (\S+)$")
HELP = re.compile(rf"^# HELP ({NAME}) .+$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")


@dataclass
class Ctx:
    """The part of the app context the metrics read (AppContext provides the same)."""

    hub: Hub
    fanout: FanOut
    counters: Counters = field(default_factory=Counters)
    db_ok: bool = True
    cpu_percent: float = 2.5

    def uptime_s(self) -> float:
        return 42.0


def make_ctx() -> Ctx:
    hub = Hub(clock=lambda: 1000.0)
    hub.upsert_receiver("192.168.1.20", address="192.168.1.20", family=Family.ULXD, channels=4)
    hub.set_source_state("192.168.1.20", SourceState.ONLINE, latency_ms=12.0)
    hub.apply("192.168.1.20", [Reading(0, {"name": "FOH RACK"})])
    hub.apply("192.168.1.20", [Reading(1, {"name": "Pastor Dave", "tx_on": True})])
    hub.upsert_receiver("SN-00042", address="192.168.1.21", family=Family.QLXD, channels=1)
    hub.set_source_state("SN-00042", SourceState.ERROR, error="connection refused by 192.168.1.21")
    hub.upsert_receiver("192.168.1.22", address="192.168.1.22", family=Family.AXIENT, channels=2)
    hub.set_source_state("192.168.1.22", SourceState.ONLINE, latency_ms=30.0)
    ctx = Ctx(hub, FanOut(hub))
    ctx.fanout.latest_api_health["https://10.9.8.7:10000/api"] = {
        "type": "api_health",
        "endpoint": "https://10.9.8.7:10000/api",
        "status": "degraded",
        "response_time_ms": 250,
        "error_count": 3,
    }
    ctx.counters.ws_frames_sent = 1234
    ctx.counters.ws_bytes_sent = 987654
    ctx.counters.ws_client_errors = 2
    ctx.counters.ws_frames_waited = 5
    ctx.counters.extra['odd "name"\\x\n'] = 1
    return ctx


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Strict reader of the text format: fails on any line that is not HELP, TYPE or a sample."""
    assert text.endswith("\n")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    typed: dict[str, str] = {}
    helped: set[str] = set()
    for line in text.splitlines():
        if m := HELP.match(line):
            assert m.group(1) not in helped, f"HELP twice: {line}"
            helped.add(m.group(1))
        elif m := TYPE.match(line):
            assert m.group(1) not in typed, f"TYPE twice: {line}"
            assert m.group(1) in helped, f"TYPE before HELP: {line}"
            typed[m.group(1)] = m.group(2)
        else:
            m = SAMPLE.match(line)
            assert m, f"malformed line: {line!r}"
            name, labels_text, value = m.groups()
            assert name in typed, f"sample without TYPE: {line}"
            if typed[name] == "counter":
                assert name.endswith("_total"), line
            labels = tuple(
                (k, v)
                for k, v in re.findall(
                    r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels_text or ""
                )
            )
            key = (name, labels)
            assert key not in samples, f"duplicate sample: {line}"
            number = float(value)  # raises on anything Prometheus would not read
            assert not math.isnan(number) or value == "NaN"
            samples[key] = number
    return samples


def test_every_line_is_well_formed() -> None:
    samples = parse(render_metrics(make_ctx()))
    assert len(samples) > 20


def test_values() -> None:
    s = parse(render_metrics(make_ctx()))
    assert s[("micboardd_receivers", (("state", "online"),))] == 2
    assert s[("micboardd_receivers", (("state", "error"),))] == 1
    assert s[("micboardd_receivers", (("state", "connecting"),))] == 0
    assert s[("micboardd_source_errors", ())] == 1
    assert s[("micboardd_receiver_latency_seconds", (("stat", "max"),))] == 0.03
    assert s[("micboardd_receiver_latency_seconds", (("stat", "mean"),))] == pytest.approx(0.021)
    channels = {k[1][0][1]: v for k, v in s.items() if k[0] == "micboardd_channels"}
    assert sum(channels.values()) == 7  # 4 + 1 + 2 channels
    assert channels["rx_offline"] == 1  # the QLX-D in error
    assert s[("micboardd_ws_frames_sent_total", ())] == 1234
    assert s[("micboardd_ws_sent_bytes_total", ())] == 987654
    assert s[("micboardd_ws_client_errors_total", ())] == 2
    assert s[("micboardd_ws_frames_waited_total", ())] == 5
    assert s[("micboardd_system_api_endpoints", (("status", "degraded"),))] == 1
    assert s[("micboardd_system_api_response_seconds", ())] == 0.25
    assert s[("micboardd_system_api_errors", ())] == 3
    assert s[("micboardd_uptime_seconds", ())] == 42
    assert s[("micboardd_database_up", ())] == 1
    assert s[("micboardd_cpu_percent", ())] == 2.5
    assert s[("micboardd_clients", (("endpoint", "devices"),))] == 0
    build = [k for k in s if k[0] == "micboardd_build_info"]
    assert dict(build[0][1])["version"]


def test_odd_label_values_are_escaped() -> None:
    s = parse(render_metrics(make_ctx()))
    events = [k for k in s if k[0] == "micboardd_events_total"]
    assert events == [("micboardd_events_total", (("event", 'odd \\"name\\"\\\\x\\n'),))]


def test_no_addresses_ids_or_names_leak() -> None:
    text = render_metrics(make_ctx())
    for secret in ("192.168.1.", "10.9.8.7", "SN-00042", "FOH RACK", "Pastor Dave", "https://"):
        assert secret not in text


def test_empty_daemon() -> None:
    hub = Hub()
    s = parse(render_metrics(Ctx(hub, FanOut(hub), db_ok=False)))
    assert s[("micboardd_database_up", ())] == 0
    assert not any(k[0] == "micboardd_receiver_latency_seconds" for k in s)
    assert sum(v for k, v in s.items() if k[0] == "micboardd_channels") == 0
