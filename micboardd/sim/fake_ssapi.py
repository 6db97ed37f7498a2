"""A fake Shure System API on loopback: HTTPS, the key check, Relay pages, the subscription
WebSocket, and scenario verbs - for tests and the demo.

Speaks the shapes of PROTOCOLS.md section 3 (as seen on real servers): nested device nodes,
problem-details 401s, `{"percentage", "status": {...}}` battery levels, base64 channel ids,
`{"envelope", "body"}` events. Its certificate is self-signed and made at start with the
`openssl` command (the `cryptography` package is not a dependency). Like the real server it
rejects `Content-Type: application/json` on an empty body.

    async with FakeSystemApi(demo_devices()) as api:
        ...                                   # point the client at api.url with api.api_key
        api.set_battery(api.devices[2].device_id, percentage=42)   # pushed to subscribers
        api.fail_with(500, count=3); api.malformed(); api.slow(2.0); api.rotate_certificate()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import socket
import ssl
import subprocess
import tempfile
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import uvicorn

from micboardd.aio import cancel_and_wait
from micboardd.sim.fake_ssapi_devices import FakeDevice, battery_body, channel_id_for, demo_devices
from micboardd.sim.state import check_loopback

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

DEFAULT_KEY = "fake-system-api-key-0123456789"
DEFAULT_PAGE_SIZE = 50
CERT_DAYS = 30  # plenty for a demo left running; tests make a new one each time
OPENSSL_TIMEOUT_S = 30.0  # key generation on a slow Pi
START_TIMEOUT_S = 10.0  # uvicorn binds a loopback socket in milliseconds
SHUTDOWN_S = 1  # uvicorn's graceful shutdown; our sockets are closed before it starts
CREATE_PATH = "/api/v1/subscriptions/websocket/create"
JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass
class Recorded:
    """One request as the fake saw it (the key itself is not kept, only whether it matched)."""

    method: str
    path: str
    query: str
    key_ok: bool
    content_type: str | None
    status: int = 0


@dataclass
class _Transport:
    topics: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)


class _Server(uvicorn.Server):
    def capture_signals(self) -> contextlib.nullcontext[None]:  # type: ignore[override]
        return contextlib.nullcontext()  # the test or demo process owns its signals


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed EC certificate for 127.0.0.1 / localhost, like the real server's."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(CERT_DAYS),
         "-subj", "/CN=Shure SystemAPI (fake)",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=OPENSSL_TIMEOUT_S,
    )  # fmt: skip
    return cert, key


class FakeSystemApi:
    def __init__(
        self,
        devices: list[FakeDevice] | None = None,
        *,
        api_key: str = DEFAULT_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
        bare_array: bool = False,
        subscriptions: bool = True,
    ) -> None:
        self.devices = list(demo_devices() if devices is None else devices)
        self.api_key = api_key
        self.host = check_loopback(host)
        self.port = port
        self.page_size = page_size
        self.bare_array = bare_array
        self.subscriptions = subscriptions
        self.requests: list[Recorded] = []
        self.cert_file: Path | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._transports: dict[str, _Transport] = {}
        self._fail: tuple[int, int | None, float | None] | None = None  # status, left, after
        self._malformed_left: int | None = 0
        self._delay_s = 0.0
        self._certs = itertools.count(1)

    # --- lifecycle ---

    async def __aenter__(self) -> FakeSystemApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/api"

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the current certificate, 64 lower-case hex digits."""
        assert self.cert_file is not None
        der = ssl.PEM_cert_to_DER_cert(self.cert_file.read_text())
        return hashlib.sha256(der).hexdigest()

    @property
    def subscribers(self) -> int:
        return len(self._transports)

    async def start(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="fake-ssapi-")
        cert, key = await asyncio.to_thread(make_certificate, Path(self._dir.name), "cert0")
        self.cert_file = cert
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted sockets. asyncio sets it itself only on sockets made with
        # proto=IPPROTO_TCP; without it every reply stalls ~40 ms on delayed ACKs.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="websockets-sansio",
            ws_ping_interval=None,
            timeout_graceful_shutdown=SHUTDOWN_S,
            server_header=False,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="fake-ssapi")
        async with asyncio.timeout(START_TIMEOUT_S):
            while not self._server.started and not self._task.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # uvicorn offers no "started" event
        if self._task.done():
            await self._task  # raises what went wrong
            raise RuntimeError("fake System API stopped at start")

    async def close(self) -> None:
        self.drop_subscriptions()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    # --- scenario verbs ---

    def device(self, device_id: str) -> FakeDevice:
        for device in self.devices:
            if device.device_id == device_id:
                return device
        raise KeyError(device_id)

    def device_offline(self, device_id: str) -> None:
        self._set_state(device_id, "OFFLINE")

    def device_online(self, device_id: str) -> None:
        self._set_state(device_id, "ONLINE")

    def _set_state(self, device_id: str, state: str) -> None:
        self.device(device_id).state = state
        self._emit("devices", "DEVICE_STATE_CHANGE", device_id, {"deviceState": state})

    def set_battery(
        self,
        device_id: str,
        percentage: int,
        state: str = "DISCHARGING",
        minutes: int | None = None,
    ) -> None:
        body = battery_body(percentage, state, minutes)
        self.device(device_id).battery = body
        self._emit(f"{device_id}/battery-level", "DEVICE_BATTERY_LEVEL", device_id, body)

    def set_battery_health(self, device_id: str, percentage: int, cycles: int) -> None:
        body = {"percentage": percentage, "cycleCount": cycles}
        self.device(device_id).health = body
        self._emit(f"{device_id}/battery-health", "DEVICE_BATTERY_HEALTH", device_id, body)

    def set_activity(self, device_id: str, index: int, level: str) -> None:
        device = self.device(device_id)
        device.channels[index].activity = level
        channel_id = channel_id_for(device.model, index)
        self._emit(
            f"{device_id}/audio-channels/{channel_id}/activity",
            "AUDIO_CHANNEL_ACTIVITY",
            device_id,
            {"audioLevel": level},
            channel_id,
        )

    def fail_with(
        self, status: int = 500, count: int | None = None, retry_after: float | None = None
    ) -> None:
        """Answer every request (the next `count`, or all until `heal`) with `status`."""
        self._fail = (status, count, retry_after)

    def malformed(self, count: int | None = None) -> None:
        """Answer the next `count` requests (all until `heal`) with truncated JSON."""
        self._malformed_left = count

    def slow(self, seconds: float) -> None:
        self._delay_s = seconds

    def heal(self) -> None:
        self._fail, self._malformed_left, self._delay_s = None, 0, 0.0

    def set_api_key(self, key: str) -> None:
        self.api_key = key

    def rotate_certificate(self) -> None:
        """A new self-signed certificate for new connections (a reinstalled server)."""
        assert self._dir is not None and self._server is not None
        context = self._server.config.ssl
        assert context is not None
        cert, key = make_certificate(Path(self._dir.name), f"cert{next(self._certs)}")
        context.load_cert_chain(str(cert), str(key))
        self.cert_file = cert

    def drop_subscriptions(self) -> None:
        for transport in self._transports.values():
            transport.queue.put_nowait(None)

    def _emit(
        self, topic: str, name: str, device_id: str, body: dict[str, Any], channel_id: str = ""
    ) -> None:
        envelope = {"eventName": name, "deviceId": device_id}
        if channel_id:
            envelope["audioChannelId"] = channel_id
        message = json.dumps({"envelope": envelope, "body": body})
        for transport in self._transports.values():
            if topic in transport.topics:
                transport.queue.put_nowait(message)

    # --- ASGI ---

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        raw_path = scope["raw_path"].decode()
        record = Recorded(
            scope["method"],
            raw_path,
            scope["query_string"].decode(),
            headers.get("x-api-key") == self.api_key,
            headers.get("content-type"),
        )
        self.requests.append(record)
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        status, payload, extra = self._answer(record, body, headers)
        record.status = status
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": payload})

    def _answer(
        self, rec: Recorded, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if self._fail is not None:
            status, left, after = self._fail
            if left is not None:
                self._fail = (status, left - 1, after) if left > 1 else None
            extra = [(b"retry-after", str(int(after)).encode())] if after is not None else []
            return status, _problem(status, "Internal Server Error"), JSON_HEADERS + extra
        if not rec.key_ok:
            return 401, _problem(401, "Request Unauthorized."), JSON_HEADERS
        if rec.method == "POST" and not body and rec.content_type:
            return 400, _problem(400, "Content-Type given with an empty body"), JSON_HEADERS
        if self._malformed_left is None or self._malformed_left > 0:
            if self._malformed_left:
                self._malformed_left -= 1
            return 200, b'{"pageInfo": {"hasNextPage": tru', JSON_HEADERS
        parts = [unquote(p) for p in rec.path.split("/")]
        if parts[:3] != ["", "api", "v1"]:
            return 404, _problem(404, "Not Found"), JSON_HEADERS
        try:
            data = self._route(rec.method, parts[3:], parse_qs(rec.query), body)
        except LookupError:
            return 404, _problem(404, "Not Found"), JSON_HEADERS
        if data is None:
            return 204, b"", []
        payload = json.dumps(data).encode()
        etag = '"' + hashlib.sha256(payload).hexdigest()[:16] + '"'
        if rec.method == "GET" and headers.get("if-none-match") == etag:
            return 304, b"", [(b"etag", etag.encode())]
        return 200, payload, [*JSON_HEADERS, (b"etag", etag.encode())]

    def _route(self, method: str, p: list[str], query: dict[str, list[str]], body: bytes) -> Any:
        if p and p[-2:-1] == ["subscription"]:
            return self._bind(method, "/".join(p[1:-2]) or "devices", p[-1])
        if p == ["devices"] and method == "GET":
            return self._page(query)
        if len(p) < 2 or p[0] != "devices":
            raise LookupError
        dev = self.device(p[1])
        rest = p[2:]
        if not rest and method == "GET":
            return dev.node()
        if rest == ["name"]:
            if method == "PATCH":
                dev.name = str(json.loads(body).get("name", ""))
            return {"name": dev.name}
        if rest in (["identify", "start"], ["identify", "stop"]) and method == "POST":
            return {"identifying": rest[1] == "start"}
        if rest == ["battery-level"] and dev.battery is not None:
            return dev.battery
        if rest == ["battery-health"] and dev.health is not None:
            return dev.health
        if rest == ["audio-channels"] and dev.channels:
            return [
                {"id": channel_id_for(dev.model, i), "role": "SOURCE", "group": "GENERIC",
                 "capabilities": ["activity", "gain", "name"]}
                for i in range(len(dev.channels))
            ]  # fmt: skip
        if len(rest) == 3 and rest[0] == "audio-channels":
            channel = dev.channel(rest[1])
            if channel is not None and rest[2] == "name":
                if method == "PATCH":
                    channel.name = str(json.loads(body).get("name", ""))
                return {"name": channel.name}
            if channel is not None and rest[2] == "activity":
                return {"audioLevel": channel.activity}
        raise LookupError

    def _page(self, query: dict[str, list[str]]) -> Any:
        nodes = [d.node() for d in self.devices]
        if self.bare_array:
            return nodes
        start = 0
        if "after" in query:
            start = int(base64.b64decode(query["after"][0]).decode().split(":")[1]) + 1
        size = int(query.get("first", [self.page_size])[0])
        chunk = list(enumerate(nodes))[start : start + size]
        edges = [{"cursor": _cursor(i), "node": n} for i, n in chunk]
        return {
            "pageInfo": {
                "hasNextPage": start + size < len(nodes),
                "hasPreviousPage": start > 0,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
            "edges": edges,
        }

    def _bind(self, method: str, topic: str, transport_id: str) -> Any:
        transport = self._transports[transport_id]
        if method == "POST":
            transport.topics.add(topic)
        elif method == "DELETE":
            transport.topics.discard(topic)
        else:
            raise LookupError
        return None

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        if scope["path"] != CREATE_PATH or not self.subscriptions:
            await send({"type": "websocket.close", "code": 1008})  # refused: HTTP 403
            return
        await send({"type": "websocket.accept"})
        transport_id = str(uuid.uuid4())
        transport = _Transport()
        self._transports[transport_id] = transport
        await send({"type": "websocket.send", "text": json.dumps({"transportId": transport_id})})
        listener = asyncio.create_task(_until_disconnect(receive))
        getter: asyncio.Task[str | None] | None = None
        try:
            while True:
                getter = asyncio.create_task(transport.queue.get())
                done, _ = await asyncio.wait({getter, listener}, return_when="FIRST_COMPLETED")
                if listener in done:
                    return
                message = getter.result()
                if message is None:
                    await send({"type": "websocket.close", "code": 1001})
                    return
                await send({"type": "websocket.send", "text": message})
        finally:
            # Also when uvicorn cancels us at shutdown (a subscription opened while the
            # server was closing): no queue reader may outlive the connection.
            self._transports.pop(transport_id, None)
            await cancel_and_wait(getter, listener)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "websocket.disconnect":
        pass


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:{index}".encode()).decode()


def _problem(status: int, title: str) -> bytes:
    """RFC 7807 problem details, as the real server sends them."""
    body = {"type": "", "title": title, "status": status, "traceId": str(uuid.uuid4())}
    return json.dumps(body).encode()
