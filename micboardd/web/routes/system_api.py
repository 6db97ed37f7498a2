"""REST for the Shure System API settings (admin only, reads included).

- `GET /api/system-api`: URL, pinned fingerprint, whether a key is stored (never the key),
  CA file, where the settings come from, whether the dashboard may change them, the latest
  `api_health` frame.
- `PUT /api/system-api` `{"url", "key", "fingerprint"}`: check, store (the key in a 0600 file
  of the state directory), and restart the System API source live. `key` null or absent keeps
  the stored one, for the same host and port only (a new server needs the key again).
- `DELETE /api/system-api`: turn it off and forget the URL and the key.

422 with a sentence for a value that cannot be used; 409 when the configuration sets
`ssapi_url` (it wins over the dashboard). The runtime is `micboardd/ssapi/runtime.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

import msgspec
from litestar import Response, delete, get, put
from litestar.exceptions import ServiceUnavailableException
from litestar.params import JSONBody

from micboardd.ssapi.options import (
    MAX_KEY_BYTES,
    format_fingerprint,
    normalize_fingerprint,
    parse_url,
)
from micboardd.ssapi.runtime import SetByConfiguration, SettingRefused, pin_key_for
from micboardd.web.answers import CHANGE, ConflictException, UnprocessableException, answers
from micboardd.web.ports import SystemApiControl
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected
from micboardd.web.security import ACCESS_OPT, ADMIN

PATH = "/api/system-api"
# A URL of a server on the LAN; anything near this long is a mistake, not a host name.
URL_MAX = 2048
# "AB:CD:..." of a SHA-256 is 95 characters; room for "sha256:" and spaces around it.
FINGERPRINT_TEXT_MAX = 200
# Reveals a server on the venue network: admin only, read or write (web/security.py).
ADMIN_ONLY = {ACCESS_OPT: ADMIN}


ORIGIN_CONFIG = "config"  # ssapi_url from the file, the environment or a flag: read-only here
ORIGIN_DASHBOARD = "dashboard"


class SystemApiBody(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=URL_MAX)]
    key: Annotated[str, msgspec.Meta(max_length=MAX_KEY_BYTES)] | None = None
    fingerprint: Annotated[str, msgspec.Meta(max_length=FINGERPRINT_TEXT_MAX)] | None = None


class SystemApiContext(Protocol):
    @property
    def ssapi(self) -> SystemApiControl | None: ...


async def system_api_view(control: SystemApiControl) -> dict[str, Any]:
    """What `GET /api/system-api` answers: never the key, only whether one is set."""
    settings = control.settings
    if not control.editable:
        url: str | None = settings.ssapi_url
        pin = _normalized_or_none(settings.ssapi_fingerprint)
        key_file = settings.ssapi_key_file
        origin: str | None = ORIGIN_CONFIG
    else:
        wanted = await control.stored()
        url = wanted.url if wanted else None
        pin = wanted.fingerprint if wanted else None
        key_file = control.key_file
        origin = ORIGIN_DASHBOARD if wanted else None
    pin_key = pin_key_for(url) if url else None
    trusted = await control.store.get_setting(pin_key) if pin_key else None
    return {
        "url": url,
        # As `api_health` frames name it (https://host:port/path): how a page matches them.
        "endpoint": _endpoint(url),
        "fingerprint": format_fingerprint(pin) if pin else None,
        "key_set": key_file is not None and key_file.is_file(),
        "ca_file": str(settings.ssapi_ca_file) if settings.ssapi_ca_file else None,
        "origin": origin,
        "editable": control.editable,
        "health": control.health,
        # Recorded on first use (trust.py): what to compare with the server's certificate.
        "trusted_fingerprint": format_fingerprint(trusted) if trusted else None,
        "error": control.error,
    }


def _endpoint(url: str | None) -> str | None:
    try:
        return parse_url(url)[0] if url else None
    except ValueError:
        return None


def _normalized_or_none(text: str | None) -> str | None:
    try:
        return normalize_fingerprint(text) if text else None
    except ValueError:  # config.py keeps it as text; options.py refused a bad one at start
        return None


def _answer(view: dict[str, Any]) -> Response[dict[str, Any]]:
    # Settings of a secured server: never kept by a browser or proxy cache.
    return Response(view, headers={"Cache-Control": "no-store"})


def runtime(ctx: SystemApiContext) -> SystemApiControl:
    """The System API runtime, or 503 while the daemon has not plugged one in."""
    if ctx.ssapi is None:
        raise ServiceUnavailableException("the System API is not managed by this instance")
    return ctx.ssapi


class SystemApiController(ApiController):
    path = PATH

    @get(opt=ADMIN_ONLY, responses=answers(401, 403, 503))
    async def get_system_api(self, ctx: Injected[SystemApiContext]) -> Response[dict[str, Any]]:
        """The System API settings and health (the key itself is never shown)."""
        return _answer(await system_api_view(runtime(ctx)))

    @put(opt=ADMIN_ONLY, responses=answers(*CHANGE, 409, 422, 503))
    async def put_system_api(
        self, ctx: Injected[SystemApiContext], data: JSONBody[SystemApiBody]
    ) -> Response[dict[str, Any]]:
        """Set the URL, the key (null: keep the stored one, same host and port only) and an
        optional pinned fingerprint."""
        control = runtime(ctx)
        try:
            await control.configure(data.url, data.key, data.fingerprint)
        except SetByConfiguration as exc:
            raise ConflictException(str(exc)) from None
        except SettingRefused as exc:
            raise UnprocessableException(str(exc)) from None
        return _answer(await system_api_view(control))

    @delete(opt=ADMIN_ONLY, status_code=200, responses=answers(*CHANGE, 409, 503))
    async def delete_system_api(self, ctx: Injected[SystemApiContext]) -> Response[dict[str, Any]]:
        """Turn the System API off: its devices go, the URL and the key are forgotten."""
        control = runtime(ctx)
        try:
            await control.disable()
        except SetByConfiguration as exc:
            raise ConflictException(str(exc)) from None
        return _answer(await system_api_view(control))
