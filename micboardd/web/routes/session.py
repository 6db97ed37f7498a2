"""Session, login, logout and the viewer PIN (the rules are in `web/security.py`).

- `GET /api/session`: who this browser is (anonymous, viewer, admin) and its CSRF token.
- `POST /api/login` `{"password"}` or `{"pin"}`; `POST /api/logout`.
- `PUT /api/security/viewer-pin` `{"pin"}`: set it, or null to let anyone on the network look.

Answers are never cached: they carry the CSRF token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post, put
from litestar.datastructures import Cookie
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
)
from litestar.params import JSONBody

from micboardd.auth import passwords as auth_module
from micboardd.auth.passwords import PASSWORD_MAX, PIN_MAX, Auth, LoginResult, Session, check_pin
from micboardd.web.answers import CHANGE, answers
from micboardd.web.routes.base import ApiController
from micboardd.web.routes.inject import Injected
from micboardd.web.security import (
    ACCESS_OPT,
    NO_PASSWORD,
    PUBLIC,
    SESSION_COOKIE,
    remote_address,
    session_of,
)

log = logging.getLogger("micboardd.web.security")  # where these lines were always logged


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=PASSWORD_MAX)] | None = None
    pin: Annotated[str, msgspec.Meta(min_length=1, max_length=PIN_MAX)] | None = None


class PinBody(msgspec.Struct, forbid_unknown_fields=True):
    pin: Annotated[str, msgspec.Meta(max_length=PIN_MAX)] | None


def _nothing() -> None:
    pass


@dataclass(slots=True)
class SessionDesk:
    """What the session routes work with (provided as `sessions`): the logins, and what to
    do after a logout or a new PIN (close the WebSockets of the sessions that ended)."""

    auth: Auth
    on_change: Callable[[], None] = _nothing
    pin_budget_logged: bool = False  # the empty budget is logged once, not per refusal

    async def view(self, session: Session | None) -> dict[str, Any]:
        creds = await self.auth.credentials()
        role: str = session.role if session else "viewer"
        if session is None and creds.pin_required:
            role = "anonymous"  # may see nothing until the PIN is entered
        return {
            "role": role,
            "csrf_token": session.csrf if session else None,
            "expires": _iso(session.expires) if session else None,
            "admin_password_set": creds.admin_set,
            "viewer_pin_required": creds.pin_required,
        }

    def refusal(self, result: LoginResult, what: str, remote: str) -> HTTPException:
        """The answer to a refused login (a wrong secret is logged by the caller)."""
        wait = max(1, round(result.retry_after_s))
        retry = {"Retry-After": str(wait)}
        if result.refused == auth_module.NOT_SET:
            return PermissionDeniedException(NO_PASSWORD)
        if result.refused == auth_module.NO_PIN:
            return ClientException("no viewer PIN is set: nothing to log in to")
        if result.refused == auth_module.IN_FLIGHT:
            # Not logged: a flood would flood the journal (counted in /metrics instead).
            return TooManyRequestsException(
                "a login from this address is being checked: wait for its answer", headers=retry
            )
        if result.refused == auth_module.BUSY:
            return ServiceUnavailableException(
                "too many logins are being checked: try again in a moment", headers=retry
            )
        if result.refused == auth_module.PIN_BUDGET:
            if not self.pin_budget_logged:
                self.pin_budget_logged = True
                log.warning(
                    "too many wrong viewer PINs from all addresses together: new viewer "
                    "logins wait until the budget refills (logged-in phones are not affected)"
                )
            return TooManyRequestsException(
                f"too many wrong PINs on this box: try again in {wait} s", headers=retry
            )
        self.pin_budget_logged = False
        if result.refused == auth_module.LOCKED:
            if result.new_lockout:  # once per lockout: a flood of guesses must not flood the log
                log.warning(
                    "%s login from %s locked out for %d s after repeated failures",
                    what,
                    remote,
                    wait,
                    extra={"REMOTE_ADDR": remote, "LOCKOUT_S": wait},
                )
            return TooManyRequestsException(
                f"too many failed logins from this address: try again in {wait} s", headers=retry
            )
        log.warning("failed %s login from %s", what, remote, extra={"REMOTE_ADDR": remote})
        return NotAuthorizedException(f"wrong {'password' if what == 'admin' else 'PIN'}")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _cookie(request: Request[Any, Any, Any], value: str, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _answer(content: dict[str, Any], cookie: Cookie | None = None) -> Response[Any]:
    # The CSRF token must not sit in any cache.
    return Response(
        content, cookies=[cookie] if cookie else None, headers={"Cache-Control": "no-store"}
    )


class SessionController(ApiController):
    path = "/api"

    @get("/session", opt={ACCESS_OPT: PUBLIC})
    async def get_session(
        self, request: Request[Any, Any, Any], sessions: Injected[SessionDesk]
    ) -> Response[Any]:
        """Who this browser is (anonymous, viewer, admin) and its CSRF token."""
        return _answer(await sessions.view(session_of(request)))

    @post(
        "/login",
        opt={ACCESS_OPT: PUBLIC},
        status_code=200,
        responses=answers(401, 403, 413, 429, 503),
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        sessions: Injected[SessionDesk],
        data: JSONBody[LoginBody],
    ) -> Response[Any]:
        """`{"password"}` for admin, `{"pin"}` for a viewer when the PIN is on."""
        if (data.password is None) == (data.pin is None):
            raise ClientException('send either "password" (admin) or "pin" (viewer)')
        auth, remote = sessions.auth, remote_address(request)
        what = "admin" if data.password is not None else "viewer PIN"
        result = await auth.login(remote, password=data.password, pin=data.pin)
        if result.session is None:
            raise sessions.refusal(result, what, remote)
        log.info("%s login from %s", what, remote, extra={"REMOTE_ADDR": remote})
        lifetime = int(result.session.expires - auth.clock())
        cookie = _cookie(request, result.session.token, lifetime)
        return _answer(await sessions.view(result.session), cookie)

    @post("/logout", opt={ACCESS_OPT: PUBLIC}, status_code=200, responses=answers(403))
    async def logout(
        self, request: Request[Any, Any, Any], sessions: Injected[SessionDesk]
    ) -> Response[Any]:
        session = session_of(request)
        if session is not None:
            await sessions.auth.revoke(session)
            sessions.on_change()
            log.info("%s logged out", session.role, extra={"REMOTE_ADDR": remote_address(request)})
        response = _answer(await sessions.view(None))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @put("/security/viewer-pin", responses=answers(*CHANGE))
    async def set_viewer_pin(
        self,
        request: Request[Any, Any, Any],
        sessions: Injected[SessionDesk],
        data: JSONBody[PinBody],
    ) -> Response[Any]:
        """Set the viewer PIN (4-12 digits), or `null` to let anyone on the network look."""
        if data.pin is not None and (why := check_pin(data.pin)):
            raise ClientException(why)
        await sessions.auth.set_pin(data.pin)
        sessions.on_change()
        log.info(
            "viewer PIN %s by an admin",
            "set" if data.pin else "switched off",
            extra={"REMOTE_ADDR": remote_address(request)},
        )
        return _answer(await sessions.view(session_of(request)))
