"""`/api/settings`: the settings the dashboard may change (the rest live in the TOML file).

- `meter_rate_ms`: the receivers' metering interval.
- `sscv2_password`: the third-party password of Sennheiser SSCv2 receivers (EW-DX firmware
  >= 4), one for all. Write-only: it is kept in `<state_dir>/secrets/sscv2.password` (mode
  0600) and never shown back; GET says only whether one is set. `""` removes it. When
  `sscv2_password_file` comes from the configuration (file, environment, flag) it wins, and
  a PUT of a password is refused with 409. Saving one wakes the SSCv2 receivers waiting for a
  password, which use it at once.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Protocol

import msgspec
from litestar import get, put
from litestar.params import JSONBody

from micboardd.config import MAX_METER_RATE_MS, MIN_METER_RATE_MS, Settings
from micboardd.sennheiser.sscv2_trust import (
    MAX_PASSWORD_BYTES,
    SHARED_PASSWORD_FILE,
    PasswordBook,
    check_password,
)
from micboardd.store.secret_files import write_secret_file
from micboardd.web.answers import CHANGE, READ, ConflictException, UnprocessableException, answers
from micboardd.web.ports import ReceiverControl
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected
from micboardd.web.routes.receivers import managed


class SettingsBody(msgspec.Struct, forbid_unknown_fields=True):
    meter_rate_ms: (
        Annotated[int, msgspec.Meta(ge=MIN_METER_RATE_MS, le=MAX_METER_RATE_MS)] | None
    ) = None
    sscv2_password: Annotated[str, msgspec.Meta(max_length=MAX_PASSWORD_BYTES)] | None = None


class SettingsContext(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def receivers(self) -> ReceiverControl | None: ...


def password_book(settings: Settings) -> PasswordBook:
    return PasswordBook.for_settings(settings)


def settings_view(ctx: SettingsContext) -> dict[str, Any]:
    rate = ctx.receivers.meter_rate_ms if ctx.receivers else ctx.settings.meter_rate_ms
    return {
        "meter_rate_ms": rate,
        "min_meter_rate_ms": MIN_METER_RATE_MS,
        # Never the password: whether one is set, and whether the dashboard may set it.
        "sscv2_password_set": password_book(ctx.settings).is_set(),
        "sscv2_password_editable": ctx.settings.sscv2_password_file is None,
    }


async def save_sscv2_password(settings: Settings, text: str) -> None:
    """Store (or with "" remove) the dashboard's SSCv2 password, mode 0600."""
    if settings.sscv2_password_file is not None:
        origin = settings.origins.get("sscv2_password_file", "the configuration")
        raise ConflictException(
            f"The SSCv2 password is set by sscv2_password_file ({origin}), which wins over "
            "the dashboard: change that file instead."
        )
    book = password_book(settings)
    if not text:
        await asyncio.to_thread(book.dashboard_file.unlink, missing_ok=True)
        return
    try:
        value = check_password(text)
    except ValueError as exc:
        raise UnprocessableException(f"SSCv2 password {exc}") from None
    await asyncio.to_thread(
        write_secret_file, settings.state_dir, SHARED_PASSWORD_FILE, value + "\n"
    )


class SettingsController(ApiController):
    path = "/api/settings"

    @get(responses=answers(*READ))
    async def get_settings(self, ctx: Injected[SettingsContext]) -> dict[str, Any]:
        """Settings the dashboard may change (the rest live in the TOML file)."""
        return settings_view(ctx)

    @put(responses=answers(*CHANGE, 409, 422, 503))
    async def put_settings(
        self, ctx: Injected[SettingsContext], data: JSONBody[SettingsBody]
    ) -> dict[str, Any]:
        """Change the meter rate and/or the SSCv2 password (write-only; "" removes it)."""
        if data.sscv2_password is not None:
            await save_sscv2_password(ctx.settings, data.sscv2_password)
            if ctx.receivers is not None:  # those waiting for a password try it now
                ctx.receivers.credentials_changed("sscv2")
        if data.meter_rate_ms is not None:
            await managed(ctx.receivers).set_meter_rate(data.meter_rate_ms)
        return settings_view(ctx)
