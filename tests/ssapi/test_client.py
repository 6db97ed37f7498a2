"""The request funnel with an in-memory transport: retries, Retry-After, the breaker, error
mapping, ETags, no Content-Type on body-less POSTs, and the key never shown."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from micboardd.ssapi.client import SystemApiClient
from micboardd.ssapi.errors import (
    BadResponse,
    CircuitOpen,
    NotAvailable,
    ServerError,
    Unauthorized,
    Unreachable,
)
from micboardd.ssapi.health import HealthTracker
from micboardd.ssapi.options import ApiKey, SsapiOptions
from micboardd.ssapi.tls import make_context
from micboardd.ssapi.tuning import Tuning

KEY = "s3cret-key-value"
OPTIONS = SsapiOptions("https://sapi.test:10000/api", "sapi.test", 10000, Path("/k"))
TUNING = Tuning(retry_attempts=3, retry_base_s=0.5, retry_cap_s=5.0, breaker_threshold=4)
Handler = Callable[[httpx.Request], httpx.Response]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make(handler: Handler, clock: Clock, tuning: Tuning = TUNING) -> SystemApiClient:
    return SystemApiClient(
        OPTIONS,
        ApiKey(KEY),
        make_context(ca_file=None, pin=None),
        tuning=tuning,
        clock=clock,
        sleep=clock.sleep,
        rng=lambda: 0.5,  # no jitter
        transport=httpx.MockTransport(handler),
    )


def sequence(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler, seen


def ok(body: object, **headers: str) -> httpx.Response:
    return httpx.Response(200, content=json.dumps(body).encode(), headers=headers)


async def test_transient_failures_are_retried_with_backoff() -> None:
    clock = Clock()
    handler, seen = sequence(
        httpx.Response(500), httpx.Response(200, content=b"{not json"), ok({"name": "x"})
    )
    client = make(handler, clock)
    assert await client.get("/v1/devices/a/name") == {"name": "x"}
    assert clock.slept == [0.5, 1.0]
    assert len(seen) == 3
    assert client.health.error_count == 2 and client.health.status == "healthy"
    await client.aclose()


async def test_retry_after_is_honoured() -> None:
    clock = Clock()
    handler, _ = sequence(httpx.Response(503, headers={"retry-after": "2"}), ok([]))
    client = make(handler, clock)
    assert await client.get("/v1/devices") == []
    assert clock.slept == [2.0]
    # A pause longer than the funnel's cap is left to the caller, with the server's number.
    handler, seen = sequence(httpx.Response(429, headers={"retry-after": "120"}))
    client2 = make(handler, clock)
    with pytest.raises(ServerError) as info:
        await client2.get("/v1/devices")
    assert info.value.retry_after == 120.0 and len(seen) == 1
    await client.aclose()
    await client2.aclose()


async def test_unauthorized_is_not_retried_and_names_the_problem() -> None:
    clock = Clock()
    problem = {"type": "", "title": "Request Unauthorized.", "status": 401, "traceId": "t"}
    handler, seen = sequence(httpx.Response(401, json=problem))
    client = make(handler, clock)
    with pytest.raises(Unauthorized) as info:
        await client.get("/v1/devices")
    assert len(seen) == 1 and clock.slept == []
    assert "Request Unauthorized." in str(info.value) and KEY not in str(info.value)
    assert client.health.status == "down" and client.health.state == "unauthorized"
    assert KEY not in json.dumps(client.health.body())
    assert KEY not in repr(client) and KEY not in repr(ApiKey(KEY))
    assert seen[0].headers["x-api-key"] == KEY
    await client.aclose()


async def test_not_found_is_an_answer_not_a_failure() -> None:
    clock = Clock()
    handler, _ = sequence(httpx.Response(404))
    client = make(handler, clock)
    with pytest.raises(NotAvailable):
        await client.get("/v1/devices/a/battery-level")
    assert client.health.error_count == 0 and client.breaker.failures == 0
    await client.aclose()


async def test_malformed_json_everywhere_gives_bad_response() -> None:
    clock = Clock()
    handler, seen = sequence(httpx.Response(200, content=b'{"edges": ['))
    client = make(handler, clock)
    with pytest.raises(BadResponse):
        await client.get("/v1/devices")
    assert len(seen) == 3 and client.health.error_count == 3
    assert client.health.state == "bad_response" and client.health.status == "down"
    await client.aclose()


async def test_breaker_opens_then_lets_one_trial_through() -> None:
    clock = Clock()
    handler, seen = sequence(httpx.Response(500))
    client = make(handler, clock)
    with pytest.raises(ServerError):
        await client.get("/v1/devices")  # 3 attempts
    with pytest.raises(ServerError):
        await client.get("/v1/devices")  # 4th failure opens the breaker
    assert len(seen) == 4
    with pytest.raises(CircuitOpen) as info:
        await client.get("/v1/devices")
    assert len(seen) == 4  # nothing sent
    assert info.value.retry_in == pytest.approx(TUNING.breaker_open_s)
    assert "paused" in client.health.message()
    clock.now += TUNING.breaker_open_s
    handler2, _ = sequence(ok([]))
    client._http._transport = httpx.MockTransport(handler2)  # the server is back
    assert await client.get("/v1/devices") == []
    assert client.health.status == "healthy"
    await client.aclose()


async def test_connection_refused_is_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    clock = Clock()
    client = make(refuse, clock)
    with pytest.raises(Unreachable) as info:
        await client.get("/v1/devices")
    assert "Connection refused" in str(info.value)
    assert client.health.status == "down" and client.health.state == "unreachable"
    await client.aclose()


async def test_etag_turns_repeat_reads_into_304s() -> None:
    clock = Clock()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return ok({"percentage": 50}, etag='"v1"')

    client = make(handler, clock)
    first = await client.get("/v1/devices/a/battery-level")
    again = await client.get("/v1/devices/a/battery-level")
    assert first == again == {"percentage": 50}
    assert "if-none-match" not in seen[0].headers and seen[1].headers["if-none-match"] == '"v1"'
    await client.aclose()


async def test_body_less_post_has_no_content_type_but_patch_does() -> None:
    clock = Clock()
    handler, seen = sequence(httpx.Response(204))
    client = make(handler, clock)
    assert await client.post("/v1/devices/subscription/t1") is None
    await client.patch("/v1/devices/a/name", {"name": "Lead"})
    assert "content-type" not in seen[0].headers and seen[0].content == b""
    assert seen[1].headers["content-type"] == "application/json"
    await client.aclose()


async def test_slow_replies_show_as_degraded_slow() -> None:
    clock = Clock()

    def slow(request: httpx.Request) -> httpx.Response:
        clock.now += 2.0
        return ok([])

    client = make(slow, clock)
    await client.get("/v1/devices")
    body = client.health.body()
    assert body["status"] == "degraded" and body["state"] == "slow"
    assert body["response_time_ms"] == 2000 and "slowly" in body["message"]
    await client.aclose()


def test_health_publishes_only_on_change() -> None:
    frames: list[dict[str, object]] = []
    health = HealthTracker("https://x/api", on_change=frames.append)
    health.success(10)
    health.success(12)  # same status and state: no frame (timings go out on the refresh)
    health.failure(BadResponse("GET /x: reply is not JSON"))
    assert [f["status"] for f in frames] == ["healthy", "degraded"]
