"""The SSCv2 HTTP client: one EW-DX on firmware >= 4 over HTTPS, pinned, with Basic auth.

Every request goes through `_request`, and every failure (an exception or an HTTP status)
becomes one of `errors.py`'s `Sscv2Unavailable` classes in `error_for`, naming the method and
path, never the password (it lives only in the request headers). The certificate is checked
by the pinning context inside the handshake (`tls/pinning.py`), before the first byte of HTTP:
a changed certificate never sees the password.

`GET /api/ssc/version` is sent without credentials (the spec's `security: []`): it tells
which protocol a box speaks before we hand it anything. The event stream
(`GET /api/ssc/state/subscriptions`) is `EventStream`, read chunk by chunk into the codec's
`EventStreamParser`; its subscriptions are managed with `PUT .../{uuid}/add` and `/remove`.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import TypeVar

import httpx

from micboardd.errors import ConnectionFailed, PeerTimeout
from micboardd.model import JSON
from micboardd.sennheiser.errors import (
    BadResource,
    CertificateChanged,
    NotSscv2,
    PasswordMissing,
    PasswordRefused,
    Sscv2Unavailable,
)
from micboardd.sennheiser.sscv2 import (
    SUBSCRIPTIONS_PATH,
    VERSION_PATH,
    EventStreamParser,
    SscVersion,
    SseEvent,
    add_path,
    basic_auth,
    parse_add_error,
    parse_paths,
    parse_version,
    paths_body,
    remove_path,
    session_from_location,
    subscription_path,
)
from micboardd.sennheiser.sscv2_trust import Password
from micboardd.tls.pinning import PinMismatchError, format_fingerprint

# A receiver on the LAN answers a GET within milliseconds; 2 s is the silence watchdog's
# bound too (an answer slower than that is as good as none).
REQUEST_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 2.0
# The first bytes of the event stream (its headers) come at once on a healthy receiver.
STREAM_OPEN_TIMEOUT_S = 2.0
# Bytes of a refused answer quoted in an error (never more: they are the peer's).
QUOTE_BYTES = 60
MAX_ERROR_BODY = 4096

E = TypeVar("E", bound=BaseException)


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}"


def host_port(host: str, port: int) -> str:
    return base_url(host, port).removeprefix("https://")


class Sscv2Client:
    """Requests to one receiver. `password` may be set later (after the version probe)."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        password: Password | None = None,
        *,
        timeout: float = REQUEST_TIMEOUT_S,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.port = port
        self.password = password
        self.where = host_port(host, port)
        self._http = httpx.AsyncClient(
            base_url=base_url(host, port),
            verify=context,
            follow_redirects=False,  # a redirect would carry the password somewhere else
            trust_env=False,  # no proxy from the environment sees the password
            headers={"accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout),
        )

    def __repr__(self) -> str:
        return f"<Sscv2Client {self.where}>"

    async def __aenter__(self) -> Sscv2Client:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _auth(self) -> dict[str, str]:
        if self.password is None:
            raise PasswordMissing(
                f"{self.where}: SSCv2 needs a password: set the receiver's third-party "
                "password (Edit > Settings, or sscv2_password_file)"
            )
        return {"authorization": basic_auth(self.password.reveal())}

    # --- the verbs ---

    async def version(self) -> SscVersion:
        """`GET /api/ssc/version`, without credentials."""
        response = await self._request("GET", VERSION_PATH, auth=False)
        try:
            return parse_version(response.content)
        except BadResource as exc:
            raise NotSscv2(f"{self.where} answers HTTPS but not as SSCv2: {exc}") from None

    async def get(self, path: str, *, auth: bool = True) -> JSON:
        response = await self._request("GET", path, auth=auth)
        return _json(response, f"GET {path}")

    async def add(self, session: str, paths: Iterable[str]) -> None:
        await self._put_paths(add_path(session), paths)

    async def remove(self, session: str, paths: Iterable[str]) -> None:
        await self._put_paths(remove_path(session), paths)

    async def subscriptions(self, session: str) -> list[str]:
        """The session's resource list (`GET .../{uuid}`): proof the session is alive."""
        response = await self._request("GET", subscription_path(session))
        return parse_paths(response.content)

    async def end(self, session: str) -> None:
        """`DELETE .../{uuid}`: frees one of the receiver's few session slots."""
        await self._request("DELETE", subscription_path(session))

    def stream(self) -> EventStream:
        return EventStream(self)

    # --- the funnel ---

    async def _put_paths(self, path: str, paths: Iterable[str]) -> None:
        await self._request("PUT", path, body=paths_body(paths))

    async def _request(
        self, method: str, path: str, *, auth: bool = True, body: bytes | None = None
    ) -> httpx.Response:
        headers = self._auth() if auth else {}
        if body is not None:
            headers["content-type"] = "application/json"
        try:
            response = await self._http.request(method, path, headers=headers, content=body)
        except Exception as exc:  # mapped, never swallowed: error_for re-raises bugs
            raise self.error_for(method, path, exc) from exc
        if not response.is_success:
            raise self.error_for(method, path, response)
        return response

    async def open_stream(self) -> httpx.Response:
        """Send the event-stream GET; the response's body is read by `EventStream`."""
        headers = self._auth() | {"accept": "text/event-stream"}
        # No read timeout on the stream: the session's watchdog decides what silence means.
        timeout = httpx.Timeout(STREAM_OPEN_TIMEOUT_S, read=None)
        request = self._http.build_request(
            "GET", SUBSCRIPTIONS_PATH, headers=headers, timeout=timeout
        )
        try:
            response = await self._http.send(request, stream=True)
        except Exception as exc:
            raise self.error_for("GET", SUBSCRIPTIONS_PATH, exc) from exc
        if not response.is_success:
            try:
                await response.aread()
            except httpx.HTTPError:
                pass  # the status says enough
            finally:
                await response.aclose()
            raise self.error_for("GET", SUBSCRIPTIONS_PATH, response)
        return response

    # --- the one place where failures become our errors ---

    def error_for(
        self, method: str, path: str, cause: BaseException | httpx.Response
    ) -> ConnectionFailed:
        where = f"{method} {path}"
        if isinstance(cause, httpx.Response):
            return self._status_error(where, cause)
        pin = _find(cause, PinMismatchError)
        if pin is not None:
            return CertificateChanged(
                f"{self.where}: the receiver's certificate changed: it presents SHA-256 "
                f"{format_fingerprint(pin.seen)}, expected {format_fingerprint(pin.expected)} "
                f"({pin.origin}). The password was not sent. If the receiver was reset or "
                "replaced, remove it and add it again to trust its new certificate"
            )
        tls = _find(cause, ssl.SSLError)
        if tls is not None:
            return Sscv2Unavailable(f"{self.where}: TLS handshake failed: {tls}")
        if isinstance(cause, httpx.ConnectTimeout):
            return PeerTimeout(f"{self.where}: no connection in time")
        if isinstance(cause, httpx.TimeoutException | TimeoutError):
            return PeerTimeout(f"{self.where}: {where} not answered in time")
        if isinstance(cause, httpx.ConnectError):
            return ConnectionFailed(f"cannot connect to {self.where}: {_reason(cause)}")
        if isinstance(cause, httpx.TransportError | OSError):
            return ConnectionFailed(f"{self.where}: {where} failed: {_reason(cause)}")
        raise cause  # not a network failure: a bug, let it surface with its traceback

    def _status_error(self, where: str, response: httpx.Response) -> ConnectionFailed:
        status = response.status_code
        if status in (401, 403):
            return PasswordRefused(
                f"{self.where} refused the SSCv2 password (HTTP {status}): set the third-party "
                "password the receiver was given in Sennheiser's control software"
            )
        if response.request.url.path == VERSION_PATH:
            return NotSscv2(f"{self.where}: no SSCv2 API here ({where}: HTTP {status})")
        if status == 429:
            return Sscv2Unavailable(
                f"{self.where}: every subscription session of the receiver is taken "
                "(too many clients)"
            )
        if status == 400:
            resource, code = parse_add_error(response.content[:MAX_ERROR_BODY])
            if resource is not None:
                return Sscv2Unavailable(
                    f"{self.where}: {where}: the receiver has no resource {resource!r} "
                    f"(error {code})"
                )
        quoted = response.content[:QUOTE_BYTES].decode("utf-8", "replace")
        return Sscv2Unavailable(f"{self.where}: {where}: HTTP {status} {quoted!r}")


class EventStream:
    """The open event stream of one subscription session, as batches of events.

    `session` is known from `Content-Location` at once when the receiver sends it, else
    from the `event: open` that comes first.
    """

    def __init__(self, client: Sscv2Client) -> None:
        self.client = client
        self.parser = EventStreamParser()
        self.session: str | None = None
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> EventStream:
        self._response = await self.client.open_stream()
        location = self._response.headers.get("content-location")
        if location:
            try:
                self.session = session_from_location(location)
            except BadResource:
                pass  # the open event names it too
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._response is not None:
            await self._response.aclose()

    async def batches(self) -> AsyncIterator[list[SseEvent]]:
        """The events of each chunk read; ends when the receiver ends the stream."""
        assert self._response is not None, "use `async with`"
        try:
            async for chunk in self._response.aiter_raw():
                yield self.parser.feed(chunk)
        except Exception as exc:
            raise self.client.error_for("GET", SUBSCRIPTIONS_PATH, exc) from exc


def _json(response: httpx.Response, what: str) -> JSON:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raise BadResource(f"{what}: not JSON") from None


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not c for c in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _find(exc: BaseException, kind: type[E]) -> E | None:
    for item in _chain(exc):
        if isinstance(item, kind):
            return item
    return None


def _reason(exc: BaseException) -> str:
    root = _chain(exc)[-1]
    return str(root) or type(root).__name__
