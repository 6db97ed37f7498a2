"""The System API client: one private request funnel, one place that maps failures.

Every call goes through `_request`: the circuit breaker is asked first, the request runs under
httpx's connect/read timeouts and an overall deadline, transient failures are retried with
capped backoff that honours `Retry-After`, and the outcome (with its duration) is reported to
the health tracker. `error_for` turns every failure - an exception or an HTTP status - into
one of `errors.py`'s classes, chained to its cause and naming the method and path (never the
key, which lives only in the request headers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
from websockets.exceptions import InvalidStatus, WebSocketException

from micboardd.ssapi.backoff import BreakerState, CircuitBreaker, parse_retry_after, retry_delay
from micboardd.ssapi.errors import (
    ApiTimeout,
    BadResponse,
    CircuitOpen,
    NotAvailable,
    Rejected,
    ServerError,
    SystemApiError,
    TlsMismatch,
    Unauthorized,
    Unreachable,
)
from micboardd.ssapi.health import HealthTracker
from micboardd.ssapi.options import ApiKey, SsapiOptions, format_fingerprint
from micboardd.ssapi.tls import PinMismatchError
from micboardd.ssapi.tuning import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)

KEY_HEADER = "x-api-key"
# Conditional GETs remembered (one per device endpoint); the oldest are forgotten beyond this.
MAX_ETAG_ENTRIES = 2000
# Bytes of a bad reply quoted in an error message.
QUOTE_BYTES = 80

Sleep = Callable[[float], Awaitable[None]]
E = TypeVar("E", bound=BaseException)


class SystemApiClient:
    def __init__(
        self,
        options: SsapiOptions,
        key: ApiKey,
        context: ssl.SSLContext,
        *,
        tuning: Tuning = DEFAULT_TUNING,
        health: HealthTracker | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.options = options
        self.tuning = tuning
        self.health = health or HealthTracker(options.endpoint, clock, tuning.slow_ms)
        self.breaker = CircuitBreaker(
            tuning.breaker_threshold, tuning.breaker_open_s, tuning.breaker_max_open_s, clock
        )
        self._key = key
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._etags: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._http = httpx.AsyncClient(
            base_url=options.base_url,
            verify=context,
            transport=transport,
            follow_redirects=False,  # a redirect would carry the key somewhere else
            trust_env=False,  # no proxy from the environment sees the key
            headers={"accept": "application/json"},
            timeout=httpx.Timeout(
                tuning.read_timeout_s,
                connect=tuning.connect_timeout_s,
                pool=tuning.connect_timeout_s,
            ),
        )

    def __repr__(self) -> str:
        return f"<SystemApiClient {self.options.endpoint}>"

    def set_key(self, key: ApiKey) -> None:
        self._key = key

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- the verbs ---

    async def get(self, path: str) -> Any:
        """GET with `If-None-Match` when we have the resource's ETag (304 -> cached body)."""
        return await self._request("GET", path)

    async def post(self, path: str) -> Any:
        """Body-less POST: no Content-Type header (the server rejects it on an empty body)."""
        return await self._request("POST", path)

    async def patch(self, path: str, body: dict[str, Any]) -> Any:
        return await self._request("PATCH", path, body)

    async def delete(self, path: str) -> Any:
        return await self._request("DELETE", path)

    # --- the funnel ---

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        attempt = 0
        while True:
            if not self.breaker.allow():
                error = CircuitOpen(
                    f"{method} {path}: requests paused after repeated failures",
                    retry_in=self.breaker.retry_in(),
                )
                self.health.failure(error)
                error.reported = True
                raise error
            started = self._clock()
            try:
                result = await self._once(method, path, body)
            except SystemApiError as error:
                elapsed_ms = (self._clock() - started) * 1000
                if error.counts_as_failure:
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success()  # a 404 is an answer: the server works
                self.health.failure(error, elapsed_ms)
                error.reported = True
                attempt += 1
                if (
                    not error.transient
                    or attempt >= self.tuning.retry_attempts
                    or self.breaker.state is not BreakerState.CLOSED
                ):
                    raise  # hopeless, out of tries, or the breaker just opened
                retry_after = error.retry_after if isinstance(error, ServerError) else None
                delay = retry_delay(
                    attempt - 1,
                    base_s=self.tuning.retry_base_s,
                    cap_s=self.tuning.retry_cap_s,
                    retry_after=retry_after,
                    rng=self._rng,
                )
                if delay > self.tuning.retry_cap_s:
                    raise  # the server asked for a longer pause: the caller reschedules
                log.debug("System API %s; retry %d in %.1f s", error, attempt, delay)
                await self._sleep(delay)
                continue
            self.breaker.record_success()
            self.health.success((self._clock() - started) * 1000)
            return result

    async def _once(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        headers = {KEY_HEADER: self._key.reveal()}
        cached = self._etags.get(path) if method == "GET" else None
        if cached is not None:
            headers["if-none-match"] = cached[0]
        try:
            async with asyncio.timeout(self.tuning.request_deadline_s):
                if body is None:
                    response = await self._http.request(method, path, headers=headers)
                else:
                    response = await self._http.request(method, path, headers=headers, json=body)
        except Exception as exc:  # mapped, never swallowed: error_for re-raises bugs
            raise self.error_for(method, path, exc) from exc
        if response.status_code == 304 and cached is not None:
            self._etags.move_to_end(path)
            return cached[1]
        if not response.is_success:
            raise self.error_for(method, path, response)
        if not response.content.strip():
            return None
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.error_for(method, path, exc, response) from exc
        etag = response.headers.get("etag")
        if method == "GET" and etag:
            self._etags[path] = (etag, data)
            self._etags.move_to_end(path)
            while len(self._etags) > MAX_ETAG_ENTRIES:
                self._etags.popitem(last=False)
        return data

    # --- the one place where failures become our errors ---

    def error_for(
        self,
        method: str,
        path: str,
        cause: BaseException | httpx.Response,
        response: httpx.Response | None = None,
    ) -> SystemApiError:
        where = f"{method} {path}"
        if isinstance(cause, httpx.Response):
            return _status_error(where, cause.status_code, cause.headers, cause.content)
        if isinstance(cause, InvalidStatus):  # the subscription WebSocket's upgrade was refused
            answer = cause.response
            return _status_error(
                where, answer.status_code, answer.headers, bytes(answer.body or b"")
            )
        if isinstance(cause, ValueError | UnicodeDecodeError) and response is not None:
            quoted = response.content[:QUOTE_BYTES].decode("utf-8", "replace")
            return BadResponse(f"{where}: reply is not JSON ({quoted!r}...)")
        pin = _find(cause, PinMismatchError)
        if pin is not None:
            return TlsMismatch(
                f"the server's certificate changed: it presents SHA-256 "
                f"{format_fingerprint(pin.seen)}, expected {format_fingerprint(pin.expected)} "
                f"({pin.origin}). The API key was not sent. If the server was reinstalled, "
                f"check the new fingerprint on it and set ssapi_fingerprint"
            )
        verify = _find(cause, ssl.SSLCertVerificationError)
        if verify is not None:
            return TlsMismatch(
                f"certificate not trusted with ssapi_ca_file {self.options.ca_file}: "
                f"{verify.verify_message or verify}"
            )
        tls = _find(cause, ssl.SSLError)
        if tls is not None:
            return TlsMismatch(f"TLS handshake with {self.options.host_port} failed: {tls}")
        if isinstance(cause, httpx.ConnectTimeout):
            return Unreachable(f"{where}: no connection to {self.options.host_port} in time")
        if isinstance(cause, httpx.TimeoutException | TimeoutError):
            return ApiTimeout(f"{where}: no answer within the request deadline")
        if isinstance(cause, httpx.ConnectError):
            return Unreachable(f"cannot connect to {self.options.host_port}: {_reason(cause)}")
        if isinstance(cause, httpx.TransportError | OSError | WebSocketException):
            return Unreachable(f"{where}: connection failed: {_reason(cause)}")
        raise cause  # not a network failure: a bug, let it surface with its traceback


def _status_error(
    where: str, status: int, headers: Mapping[str, str], content: bytes
) -> SystemApiError:
    title = _problem_title(content)
    text = f"{where}: HTTP {status}" + (f" {title}" if title else "")
    if status in (401, 403):
        return Unauthorized(text, status=status)
    if status in (404, 405):
        return NotAvailable(text, status=status)
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(headers.get("retry-after"), time.time())
        return ServerError(text, status=status, retry_after=retry_after)
    return Rejected(text, status=status)


def _problem_title(content: bytes) -> str:
    """The `title` of an RFC 7807 problem-details body, if there is one."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return ""
    title = body.get("title") if isinstance(body, dict) else None
    return str(title)[:QUOTE_BYTES] if title else ""


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost first (cycles cut)."""
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
