"""The web side of security: who may call what, CSRF, response headers (the login routes
are `web/routes/session.py`).

Rules (docs/security.md):
- Reading is open to everyone on the network, unless a viewer PIN is set: then `/api/*` and
  `/ws/*` need a session (viewer or admin). Monitoring (`/api/health`, `/healthz`,
  `/metrics`), `/api/session` and the dashboard's files stay open: a phone must be able to
  load the page that asks for the PIN.
- Every state-changing request (any method but GET/HEAD/OPTIONS, on any route, including
  routes added later) needs an admin session, the CSRF token in `X-CSRF-Token`, and no
  foreign Origin/Referer. Only handlers marked `opt={"access": "public"}` (login, logout)
  are exempt from the admin part; never from the same-origin part.
- Handlers marked `opt={"access": "admin"}` need an admin session to be read as well (the
  System API settings: they name a server on the venue network).
- WebSocket messages that change state (none yet) need an admin session too:
  `ws_command_refusal` is the check, `READ_ONLY_WS_COMMANDS` the list of harmless ones.
- Every request, WebSockets included, must name the box in its `Host` header (web/hosts.py:
  DNS rebinding); "same origin" means the same scheme, host and port.
- API answers are never cached (`Cache-Control: no-store`): they can hold what only a
  session may read, and a shared phone's cache outlives the logout.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Guard, Message, Receive, Scope

from micboardd.auth.passwords import Auth, Session
from micboardd.config import Settings
from micboardd.feed.fanout import API_CONNECTION_KEY, API_HEALTH_KEY
from micboardd.ssapi.health import STATE_MESSAGES
from micboardd.store.secret_files import loose_permissions
from micboardd.web.hosts import HostAllowList, origin_of, own_origin

log = logging.getLogger(__name__)

SESSION_COOKIE = "micboardd_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ACCESS_OPT = "access"
PUBLIC = "public"
ADMIN = "admin"  # reads need an admin session too (no CSRF token: reading changes nothing)
# Open even with a viewer PIN: monitoring scrapers and the page's own session check.
PUBLIC_READ_PATHS = frozenset({"/api/health", "/healthz", "/metrics", "/api/session"})
GATED_PREFIXES = ("/api/", "/ws/")
# Request bodies are small JSON commands; the largest (a group of 256 slots of 300-character
# ids) is under 80 KB. Litestar answers 413 above this.
MAX_BODY_BYTES = 128 * 1024
READ_ONLY_WS_COMMANDS = frozenset({"ping", "subscribe", "resync"})
_STATE_KEY = "micboardd_session"

# Shown to anyone who tries to change something: it names no path of the box (the state
# directory is logged at startup for the operator instead).
NO_PASSWORD = (
    "No admin password is set on this micboard box, so nothing can be changed yet. "
    "Set one on the box: `sudo micboardd passwd` (packaged install) or "
    "`micboardd passwd --state-dir DIR` with the daemon's state directory."
)

# No inline script or style anywhere: the dashboard sets styles only through the CSSOM.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


# ------------------------------------------------------------------------------ headers


NO_STORE = (b"cache-control", b"no-store")
# Answers nobody may keep: the API (and monitoring) reads.
NO_STORE_PREFIXES = ("/api/", "/metrics", "/healthz", "/schema")


async def add_security_headers(message: Message, scope: Scope) -> None:
    """`before_send` hook: every HTTP response, errors and static files included."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers") or [])
    present = {bytes(name).lower() for name, _ in headers}
    headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
    if NO_STORE[0] not in present and str(scope.get("path", "")).startswith(NO_STORE_PREFIXES):
        headers.append(NO_STORE)
    message["headers"] = headers


# A request for a host name that is not ours is logged at most this often.
HOST_REFUSAL_LOG_EVERY_S = 60.0
HOST_REFUSED_BODY = (
    b"This micboard box does not answer to that host name. Open it by its address or by "
    b"micboard.local, or add the name to allowed_hosts.\n"
)


def host_guard(allow: HostAllowList) -> Callable[[ASGIApp], ASGIApp]:
    """Litestar middleware: a request naming another host (DNS rebinding) is refused."""
    logged_at = [float("-inf")]

    def middleware(app: ASGIApp) -> ASGIApp:
        async def guarded(scope: Any, receive: Receive, send: Any) -> None:
            if scope["type"] in ("http", "websocket"):
                host = _header(scope, b"host")
                if not allow.allowed(host):
                    now = time.monotonic()
                    if now - logged_at[0] >= HOST_REFUSAL_LOG_EVERY_S:
                        logged_at[0] = now
                        client = scope.get("client")
                        address = client[0] if client else "unknown"
                        log.warning(
                            "refused a request for host %r from %s: not a name of this box "
                            "(allowed_hosts; logged once a minute)",
                            (host or "")[:80],
                            address,
                            extra={"REMOTE_ADDR": address},
                        )
                    await _refuse_host(scope["type"], send)
                    return
            await app(scope, receive, send)

        return guarded

    return middleware


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _refuse_host(kind: str, send: Any) -> None:
    if kind == "websocket":  # before accept: the handshake is answered 403
        await send({"type": "websocket.close", "code": 1008, "reason": "unknown host"})
        return
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(HOST_REFUSED_BODY)).encode()),
        *SECURITY_HEADERS,
        NO_STORE,
    ]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": HOST_REFUSED_BODY})


# ------------------------------------------------------------------------------ checks


def same_origin(headers: Any, allowed: tuple[str, ...], scheme: str = "http") -> bool:
    """The request comes from a page of ours (or names no page at all: not a browser).

    Ours: the scheme, host and port this request was made to (`scheme` is the request's,
    `http` or `https`), or one of the configured `allowed_origins`. Browsers send Origin on
    every state-changing fetch; Referer is the fallback for old ones.
    """
    origin = headers.get("origin")
    source = str(origin) if origin is not None else headers.get("referer")
    if not source:
        return True
    if origin is not None and source == "null":
        return False
    theirs = origin_of(str(source))
    if theirs is None:
        return False
    if theirs in {origin_of(a) for a in allowed}:
        return True
    return theirs == own_origin(scheme, str(headers.get("host", "")))


def session_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Session | None:
    """The session the access guard found for this request or socket."""
    session: Session | None = connection.scope.get("state", {}).get(_STATE_KEY)
    return session


def ws_command_refusal(session: Session | None, kind: str) -> str | None:
    """Why this WebSocket client may not send this command (None: it may)."""
    if kind in READ_ONLY_WS_COMMANDS:
        return None
    if session is not None and session.is_admin and session.valid():
        return None
    return f"unknown message type {kind[:40]!r} (commands that change state need an admin login)"


def _csrf_ok(connection: ASGIConnection[Any, Any, Any, Any], session: Session) -> bool:
    sent = str(connection.headers.get(CSRF_HEADER, ""))
    return hmac.compare_digest(sent.encode(), session.csrf.encode())


def make_access_guard(auth: Auth, settings: Settings) -> Guard:
    """The app-wide guard implementing the rules in this module's docstring."""

    async def require_admin(session: Session | None, *, reading: bool = False) -> Session:
        creds = await auth.credentials()
        if not creds.admin_set:
            creds = await auth.credentials(fresh=True)  # just set by `micboardd passwd`?
        if not creds.admin_set:
            raise PermissionDeniedException(NO_PASSWORD)
        if session is None:
            raise NotAuthorizedException(
                f"log in as admin to {'see' if reading else 'change'} this"
            )
        if not session.is_admin:
            raise PermissionDeniedException(
                "only the crew may see this: log in as admin"
                if reading
                else "viewers cannot change anything: log in as admin"
            )
        return session

    async def access_guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        session = await auth.session(connection.cookies.get(SESSION_COOKIE))
        connection.scope.setdefault("state", {})[_STATE_KEY] = session
        public = handler.opt.get(ACCESS_OPT) == PUBLIC
        method = connection.scope.get("method", "GET")  # WebSockets have none: they read
        path = connection.scope["path"]
        if method in SAFE_METHODS:
            if handler.opt.get(ACCESS_OPT) == ADMIN:
                await require_admin(session, reading=True)
                return
            if public or path in PUBLIC_READ_PATHS or not path.startswith(GATED_PREFIXES):
                return
            if session is None and (await auth.credentials()).pin_required:
                raise NotAuthorizedException("this dashboard needs the viewer PIN")
            return
        scheme = connection.scope.get("scheme", "http")
        if not same_origin(connection.headers, settings.allowed_origins, scheme):
            log.warning(
                "refused a cross-site %s %s from %s (Origin %s)",
                method,
                path,
                remote_address(connection),
                connection.headers.get("origin") or connection.headers.get("referer"),
                extra={"REMOTE_ADDR": remote_address(connection)},
            )
            raise PermissionDeniedException("cross-site request refused")
        if public:
            return
        session = await require_admin(session)
        if not _csrf_ok(connection, session):
            raise PermissionDeniedException(
                "missing or wrong CSRF token (X-CSRF-Token header from GET /api/session)"
            )

    return access_guard


def can_view(connection: ASGIConnection[Any, Any, Any, Any], pin_required: bool) -> bool:
    return session_of(connection) is not None or not pin_required


def redact_health(health: dict[str, Any]) -> dict[str, Any]:
    """`/api/health` for someone who may not see the dashboard: counts, no addresses."""
    discovery = health.get("discovery")
    if isinstance(discovery, dict):
        named = ("devices", "rejections", "slp", "mdns")  # these carry addresses and names
        slim = {k: v for k, v in discovery.items() if k not in named}
        slim["devices"] = len(discovery.get("devices") or [])
        slim["rejections"] = len(discovery.get("rejections") or [])
        health = {**health, "discovery": slim}
    return health


# How the System API is named to someone without a session: its URL names a server on
# the venue network (the settings themselves are admin-only, routes/system_api.py).
SYSTEM_API_LABEL = "System API"


def redact_api_frame(key: str, frame: dict[str, Any]) -> dict[str, Any]:
    """A System API frame (`api_health`, its `connection_update`) without address or URL,
    for a client without a session; every other frame as it is."""
    if key.startswith(API_HEALTH_KEY):
        state = str(frame.get("state"))
        return {
            **{k: frame.get(k) for k in REDACTED_HEALTH_FIELDS if k in frame},
            "endpoint": SYSTEM_API_LABEL,
            "message": STATE_MESSAGES.get(state, state),  # without the detail (host names)
        }
    if key.startswith(API_CONNECTION_KEY):
        return {
            **frame,
            "id": SYSTEM_API_LABEL,
            "address": None,
            "error": "the System API is down" if frame.get("error") else None,
        }
    return frame


REDACTED_HEALTH_FIELDS = ("type", "status", "state", "error_count", "response_time_ms", "updates")


def warn_about_secret_files(settings: Settings) -> None:
    """A key file others can read is a leak waiting to happen: say so at startup."""
    for key in ("ssapi_key_file", "sscv2_password_file", "tls_key_file"):
        path = getattr(settings, key, None)
        if path is not None and loose_permissions(path):
            log.warning(
                "%s %s can be read by other users: chmod 600 it (and chown it to the daemon)",
                key,
                path,
            )


def remote_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"
