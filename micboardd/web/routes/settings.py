"""`/api/settings`: the settings the dashboard may change (the rest live in the TOML file)."""

from __future__ import annotations

from typing import Annotated, Any, Protocol

import msgspec
from litestar import get, put
from litestar.params import JSONBody

from micboardd.config import MAX_METER_RATE_MS, MIN_METER_RATE_MS, Settings
from micboardd.web.answers import CHANGE, READ, answers
from micboardd.web.ports import ReceiverControl
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected
from micboardd.web.routes.receivers import managed


class SettingsBody(msgspec.Struct, forbid_unknown_fields=True):
    meter_rate_ms: (
        Annotated[int, msgspec.Meta(ge=MIN_METER_RATE_MS, le=MAX_METER_RATE_MS)] | None
    ) = None


class SettingsContext(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def receivers(self) -> ReceiverControl | None: ...


def settings_view(ctx: SettingsContext) -> dict[str, Any]:
    rate = ctx.receivers.meter_rate_ms if ctx.receivers else ctx.settings.meter_rate_ms
    return {"meter_rate_ms": rate, "min_meter_rate_ms": MIN_METER_RATE_MS}


class SettingsController(ApiController):
    path = "/api/settings"

    @get(responses=answers(*READ))
    async def get_settings(self, ctx: Injected[SettingsContext]) -> dict[str, Any]:
        """Settings the dashboard may change (the rest live in the TOML file)."""
        return settings_view(ctx)

    @put(responses=answers(*CHANGE, 503))
    async def put_settings(
        self, ctx: Injected[SettingsContext], data: JSONBody[SettingsBody]
    ) -> dict[str, Any]:
        if data.meter_rate_ms is not None:
            await managed(ctx.receivers).set_meter_rate(data.meter_rate_ms)
        return settings_view(ctx)
