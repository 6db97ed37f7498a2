"""REST for alerts and history on the Litestar app, with clear 4xx answers."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from micboardd.alerts.service import Alerts
from micboardd.history.service import History
from micboardd.web.routes.alerts import AlertsController
from micboardd.web.routes.history import HistoryController, auto_step
from micboardd.web.routes.inject import context
from micboardd.web.routes.queries import parse_time
from tests.clocked_hub import ON_AIR, RX, T0, make_history

from .conftest import Rig

DEV = f"{RX}:1"
Client = httpx.AsyncClient


@dataclass
class Engines:
    """The part of the app context the handlers read."""

    alerts: Alerts | None
    history: History | None


def engines_app(engines: Engines) -> Litestar:
    """Only the alert and history routes, handed these engines as their context."""
    return Litestar(
        route_handlers=[AlertsController, HistoryController], dependencies=context(engines)
    )


@pytest.fixture
async def history(rig: Rig) -> AsyncIterator[History]:
    h = make_history(rig.hub, rig.store, rig.clock)
    await h.start()
    yield h
    await h.stop()


@pytest.fixture
async def client(rig: Rig, history: History) -> AsyncIterator[Client]:
    # In this event loop (the engines' queues and tasks live here), not in a portal thread.
    app = engines_app(Engines(rig.alerts, history))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://micboardd") as c:
        yield c


def run(rig: Rig, history: History, seconds: float) -> None:
    end = rig.clock.t + seconds
    while rig.clock.t < end:
        rig.clock.t += 0.5
        rig.alerts.tick()
        history.tick()


async def test_alert_list_filters_and_ack(rig: Rig, history: History, client: Client) -> None:
    rig.read(1, battery_bars=1)
    rig.read(2, interference=True)
    run(rig, history, 6)
    r = await client.get("/api/alerts")
    assert r.status_code == 200
    body: list[dict[str, Any]] = r.json()
    assert {a["kind"] for a in body} == {"battery", "interference"}
    battery = next(a for a in body if a["kind"] == "battery")
    assert battery["severity"] == "critical" and battery["active"] and not battery["acked"]
    assert battery["raised_at"].endswith("Z") and battery["cleared_at"] is None

    r = await client.get("/api/alerts", params={"device": DEV, "active": "true"})
    assert [a["id"] for a in r.json()] == [battery["id"]]
    r = await client.get("/api/alerts", params={"active": "false"})
    assert r.json() == []
    r = await client.get("/api/alerts", params={"since": "2099-01-01T00:00:00Z"})
    assert r.json() == []
    r = await client.get("/api/alerts", params={"since": str(T0)})
    assert len(r.json()) == 2

    r = await client.post(f"/api/alerts/{battery['id']}/ack")
    assert r.status_code == 200 and r.json()["acked"] is True and r.json()["active"] is True
    r = await client.get("/api/alerts", params={"device": DEV})
    assert r.json()[0]["acked"] is True


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"active": "maybe"}, "active"),
        ({"since": "yesterday"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
    ],
)
async def test_alert_list_rejects_bad_queries(
    client: Client, params: dict[str, str], fragment: str
) -> None:
    r = await client.get("/api/alerts", params=params)
    assert r.status_code == 400, r.text
    assert fragment in r.text


async def test_ack_unknown_alert_is_404(client: Client) -> None:
    assert (await client.post("/api/alerts/0123456789abcdef/ack")).status_code == 404
    assert (await client.post("/api/alerts/not-an-id/ack")).status_code == 404


async def test_history_json_and_csv(rig: Rig, history: History, client: Client) -> None:
    rig.read(1, **{**ON_AIR, "rf_signal": -60.0})
    run(rig, history, 5)
    rig.read(1, rf_signal=-70.0)
    rig.read(1, tx_on=False)
    run(rig, history, 25)
    params = {"device_id": DEV, "from": str(T0), "to": str(T0 + 30), "step": "10"}
    r = await client.get("/api/history", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["step"] == 10 and body["columns"][0] == "t"
    series = body["series"]
    assert series["t"] == [T0, T0 + 10, T0 + 20]
    assert series["rf_min"][0] == -70.0 and series["rf_max"][0] >= -60.0
    assert series["status"][-1] == "prev_good"
    assert "tx_off" in [a["kind"] for a in body["alerts"]]
    assert [e["value"] for e in body["events"]][-2:] == ["good", "prev_good"]

    r = await client.get("/api/history", params={**params, "step": "1", "to": str(T0 + 5)})
    assert r.json()["step"] == 1 and len(r.json()["series"]["t"]) == 5

    r = await client.get("/api/history.csv", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["time", "device_id", "rf_min_dbm"]
    assert len(rows) == 4 and rows[1][1] == DEV and rows[1][0].endswith("Z")

    # Defaults: the last hour, an automatic step.
    r = await client.get("/api/history", params={"device_id": DEV})
    assert r.status_code == 200 and r.json()["step"] == 5


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({}, 400, "device_id"),
        ({"device_id": "nocolon"}, 400, "not a device id"),
        ({"device_id": "rx9:1"}, 404, "no history"),
        ({"device_id": DEV, "from": "soon"}, 400, "from"),
        ({"device_id": DEV, "from": str(T0 + 10), "to": str(T0)}, 400, "earlier"),
        ({"device_id": DEV, "step": "0"}, 400, "step"),
        ({"device_id": DEV, "step": "abc"}, 400, "step"),
        ({"device_id": DEV, "from": str(T0 - 7 * 86400), "step": "1"}, 400, "points"),
    ],
)
async def test_history_rejects_bad_queries(
    client: Client, params: dict[str, str], status: int, fragment: str
) -> None:
    for path in ("/api/history", "/api/history.csv"):
        r = await client.get(path, params=params)
        assert r.status_code == status, (path, r.text)
        assert fragment in r.text


def test_time_parsing_and_auto_step() -> None:
    assert parse_time("1700000000", "x") == 1_700_000_000
    assert parse_time("2023-11-14T22:13:20Z", "x") == 1_700_000_000
    assert parse_time("2023-11-14T23:13:20+01:00", "x") == 1_700_000_000
    assert auto_step(60) == 1 and auto_step(3600) == 5 and auto_step(7 * 86400) == 1800
    # The timeline's hour in whole seconds (floor(now - 3600) .. ceil(now)): still 5 s.
    assert auto_step(3601) == 5 and auto_step(3602) == 5 and auto_step(3620) == 10
    assert auto_step(6 * 3600 + 1) == 30


async def test_routes_exist_but_answer_503_without_the_engines() -> None:
    app = engines_app(Engines(None, None))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://micboardd") as c:
        assert (await c.get("/api/alerts")).status_code == 503
        assert (await c.post("/api/alerts/0123456789abcdef/ack")).status_code == 503
        assert (await c.get("/api/history", params={"device_id": DEV})).status_code == 503


async def test_history_of_a_fresh_daemon_is_one_second(rig: Rig) -> None:
    """The daemon started between two ten-second boundaries a minute ago: a fine step over
    a range reaching back before its start is answered from memory, at that step."""
    rig.clock.t = T0 + 3.5
    history = make_history(rig.hub, rig.store, rig.clock)
    await history.start()
    app = engines_app(Engines(rig.alerts, history))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    try:
        rig.read(1, rf_signal=-65.0)
        run(rig, history, 70)
        await history.flush()
        async with httpx.AsyncClient(transport=transport, base_url="http://micboardd") as c:
            params = {"device_id": DEV, "from": str(T0), "to": str(rig.clock.t), "step": "1"}
            body = (await c.get("/api/history", params=params)).json()
            assert body["step"] == 1
            assert body["series"]["t"] == list(range(int(T0) + 3, int(T0) + 73))
            body = (await c.get("/api/history", params={"device_id": DEV})).json()
            assert body["step"] == 5 and body["series"]["t"][0] == T0
            # What the timeline sends for its hour: whole seconds around it (3601 s).
            now = rig.clock.t
            hour = {
                "device_id": DEV,
                "from": str(math.floor(now - 3600)),
                "to": str(math.ceil(now)),
            }
            body = (await c.get("/api/history", params=hour)).json()
            assert body["step"] == 5 and body["series"]["t"][0] == T0
    finally:
        await history.stop()


def test_csv_cells_never_start_a_formula() -> None:
    """A device id (a System API or a receiver names it) must not run in a spreadsheet."""
    from micboardd.history.blob import HistoryRow
    from micboardd.history.service import Series
    from micboardd.web.routes.history import series_csv

    hostile = ['=HYPERLINK("http://evil.example","x"):1', "+1+2:1", "-2:1", "@SUM(A1):1"]
    hostile += ["\tcmd:1", "\rcmd:1"]
    rows = [HistoryRow(int(T0), dev, rf_min=-80.0, status="=1+1") for dev in hostile]
    rows.append(HistoryRow(int(T0), DEV, rf_min=-80.5, status="good"))
    text = series_csv(Series(DEV, T0, T0 + 10, 10, rows))
    parsed = list(csv.reader(io.StringIO(text)))[1:]
    for line, dev in zip(parsed, [*hostile, DEV], strict=True):
        assert line[1] == (dev if dev == DEV else "'" + dev)
        assert line[2] in ("-80.0", "-80.5")  # numbers, negative ones included, stay numbers
        assert line[-1] in ("'=1+1", "good")
