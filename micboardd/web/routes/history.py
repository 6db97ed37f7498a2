"""`/api/history`: one channel over the show, as columns, and the same rows as CSV.

- `GET /api/history?device_id=&from=&to=&step=`: one channel over time, as columns.
- `GET /api/history.csv?...`: the same rows as CSV, for a spreadsheet after the show.

Times in answers are ISO-8601 UTC, except the `t` column of a series (epoch seconds, what
charts want). Every failure is a 4xx with a sentence saying what was wrong.
"""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Response, get
from litestar.exceptions import ClientException, NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from micboardd.history.blob import VALUE_COLUMNS, Event
from micboardd.history.service import Series
from micboardd.isotime import iso
from micboardd.model import split_device_id
from micboardd.web.answers import READ, answers
from micboardd.web.routes.alerts import AlertsContext, engines
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected
from micboardd.web.routes.queries import ID_MAX, TIME_TEXT_MAX, parse_time

DEFAULT_WINDOW_S = 3600.0  # no `from`: the last hour (what the dashboard timeline opens on)
MAX_POINTS = 10_000  # a chart never needs more; bounds the answer to ~1 MB
TARGET_POINTS = 720  # automatic step: about one point per pixel of a phone-wide chart
# Clients send whole seconds (the timeline: floor(now - 1 h) .. ceil(now), 3601 s): a point
# or two over the target keeps the step such a range was meant to get (5 s, not 10 s).
TARGET_SLACK = 2
STEPS = (1, 2, 5, 10, 30, 60, 300, 600, 1800, 3600, 21600, 86400)
MAX_STEP = 86400

CSV_HEADER = (
    "time",
    "device_id",
    "rf_min_dbm",
    "rf_max_dbm",
    "rf_avg_dbm",
    "audio_min_dbfs",
    "audio_max_dbfs",
    "audio_avg_dbfs",
    "peak_max_dbfs",
    "battery_percent",
    "battery_minutes",
    "status",
)
# A text cell starting with one of these is a formula to a spreadsheet (CSV injection):
# `=HYPERLINK(...)` in a device id named by a System API or a receiver would run on the crew's
# laptop. Such a cell gets a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# The success answer as the OpenAPI document must say it (errors stay JSON).
CSV_ANSWER = ResponseSpec(
    data_container=str,
    media_type=CSV_MEDIA_TYPE,
    generate_examples=False,
    description="one row per step: time, device, RF, audio, peak, battery, status",
)

# The query both routes take (`from` and `to` are Python keywords: named here).
DeviceId = Annotated[str, QueryParameter(min_length=3, max_length=ID_MAX)]
From = Annotated[str | None, QueryParameter(name="from", max_length=TIME_TEXT_MAX)]
To = Annotated[str | None, QueryParameter(name="to", max_length=TIME_TEXT_MAX)]
Step = Annotated[int | None, QueryParameter(ge=1, le=MAX_STEP)]


def auto_step(span_s: float) -> int:
    for step in STEPS:
        if span_s / step <= TARGET_POINTS + TARGET_SLACK:
            return step
    return MAX_STEP


def _round(value: Any) -> Any:
    return round(value, 1) if isinstance(value, float) else value


def series_columns(series: Series) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {"t": [row.t for row in series.rows]}
    for name in VALUE_COLUMNS:
        columns[name] = [_round(getattr(row, name)) for row in series.rows]
    return columns


def event_dict(event: Event) -> dict[str, Any]:
    return {
        "t": iso(event.t),
        "kind": event.kind,
        "value": event.value,
        "previous": event.previous,
    }


def csv_cell(value: Any) -> Any:
    """A value safe to open in a spreadsheet: text never starts a formula; numbers stay."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def series_csv(series: Series) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in series.rows:
        values = ["" if v is None else csv_cell(_round(v)) for v in row.values()]
        writer.writerow([iso(row.t), csv_cell(row.device_id), *values])
    return out.getvalue()


async def select(
    ctx: AlertsContext, device_id: str, start: str | None, end: str | None, step: int | None
) -> Series:
    """The rows asked for: 400 for a bad query, 404 for a device never seen, 503 without
    the engines."""
    alerts, history = engines(ctx)
    try:
        split_device_id(device_id)
    except ValueError:
        raise ClientException(
            f"device_id: {device_id!r} is not a device id (<receiver>:<channel>)"
        ) from None
    if device_id not in history.hub.devices and not history.known(device_id):
        raise NotFoundException(f"no history for device {device_id!r}")
    t1 = parse_time(end, "to") if end is not None else alerts.clock()
    t0 = parse_time(start, "from") if start is not None else t1 - DEFAULT_WINDOW_S
    if t0 >= t1:
        raise ClientException("from must be earlier than to")
    chosen = step if step is not None else auto_step(t1 - t0)
    if (t1 - t0) / chosen > MAX_POINTS:
        raise ClientException(
            f"step {chosen} s gives more than {MAX_POINTS} points for this range; "
            f"use step >= {math.ceil((t1 - t0) / MAX_POINTS)}"
        )
    return await history.series(device_id, t0, t1, chosen)


class HistoryController(ApiController):
    path = "/api"

    @get("/history", responses=answers(*READ, 404, 503))
    async def get_history(
        self,
        ctx: Injected[AlertsContext],
        device_id: DeviceId,
        start: From = None,
        end: To = None,
        step: Step = None,
    ) -> dict[str, Any]:
        """One channel over time: `series` holds one list per column (`t` in epoch seconds,
        RF in dBm, audio in dBFS), plus its status changes and the alerts that overlap."""
        alerts, history = engines(ctx)
        series = await select(ctx, device_id, start, end, step)
        receiver_id = split_device_id(device_id)[0]
        events = await history.events(device_id, series.start, series.end)
        overlapping = await alerts.overlapping(device_id, receiver_id, series.start, series.end)
        return {
            "device_id": device_id,
            "from": iso(series.start),
            "to": iso(series.end),
            "step": series.step,
            "columns": ["t", *VALUE_COLUMNS],
            "series": series_columns(series),
            "events": [event_dict(e) for e in events],
            "alerts": [a.as_dict() for a in overlapping],
        }

    @get("/history.csv", responses={200: CSV_ANSWER, **answers(*READ, 404, 503)})
    async def get_history_csv(
        self,
        ctx: Injected[AlertsContext],
        device_id: DeviceId,
        start: From = None,
        end: To = None,
        step: Step = None,
    ) -> Response[str]:
        series = await select(ctx, device_id, start, end, step)
        stamp = datetime.fromtimestamp(series.start, UTC).strftime("%Y%m%dT%H%M%SZ")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", device_id)
        return Response(
            series_csv(series),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="history-{safe}-{stamp}.csv"'},
        )
