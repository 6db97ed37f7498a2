"""A simulated EW-DX receiver on firmware 4 speaking SSCv2: HTTPS, Basic auth, Server-Sent Events.

Built from the SSCv2 specification (the "EW-DX service API" OpenAPI text); no real SSCv2
capture exists (real-captures.md §9), so the body shapes are those of the spec:
* HTTPS with a self-signed certificate made at start with the `openssl` command (kept across
  power cycles, as a real unit keeps its certificate; the `cryptography` package is not a
  dependency); the certificate names the simulator's loopback address;
* HTTP Basic auth, user `api` + the third-party password; `GET /api/ssc/version`,
  `/api/device/identity` and `/api/device/identification` need none (the spec's
  `security: []`); anything else without the right credentials -> 401 with
  `WWW-Authenticate: Basic`;
* `GET /api/ssc/state/subscriptions` -> 200 `text/event-stream` with `Content-Location:
  /api/ssc/state/subscriptions/{uuid}`, first `event: open` (`{"path", "sessionUUID"}`);
  `PUT .../{uuid}/add` and `.../remove` (JSON arrays of resource paths; an unknown one ->
  400 `{"path", "error": 404}`), `PUT .../{uuid}` replaces the list, `GET .../{uuid}` lists
  it, `DELETE .../{uuid}` ends it with `event: close`; an unknown uuid -> 422. Added
  resources are sent at once (`event: message`, `data: {"/api/...": {...}}`), then whenever
  they change; meters ("FastResource"s) on the meter tick when they changed;
* resource GETs: `/api/channel/{i}` (+ `/warnings`, `/signalStrengthIndicator`,
  `/signalQualityIndicator`, `/diversityIndicator`, `/level`), `/api/rf/channels/{i}`,
  `/api/transmitters/{i}` (+ `/battery`, `/warnings`; 422 with no transmitter linked),
  `/api/device/site`, `/api/firmware/update/state`, `/api/rf/encryption`; zero-based i.
  `PUT /api/channel/{i}` takes `name` and `mute`.
[U], the simulator's choices where the spec is silent: an event for a transmitter that went
away carries `{}` for its resources; at most 8 sessions at a time (a ninth GET -> 429);
power loss ends the event streams without `event: close`.

    async with SimSscv2("EWDX-EM2", "127.19.0.2", password="secret") as rx:
        ...                  # https://{rx.host}:{rx.port}, trust rx.cert_file, user "api"
        rx.tx_off(1)         # sessions subscribed to /api/transmitters/0/battery get {}
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from micboardd.aio import cancel_and_wait
from micboardd.model import JSON
from micboardd.sennheiser.sscv2 import API_USER, SUBSCRIPTIONS_PATH, VERSION_PATH
from micboardd.sim.sennheiser import (
    SennheiserSim,
    SennheiserState,
    af_dbfs,
    diversity,
    rsqi_percent,
    rssi_dbm,
    rx_warnings,
    tx_warnings,
    valid_name,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

DEFAULT_PASSWORD = "sim-third-party"
PROTOCOL_VERSION = "2.3"  # the spec's example
SCHEMA_VERSION = "1.7"  # the OpenAPI text's info.version
MAX_SESSIONS = 8
METER_TICK_S = 0.1
CERT_DAYS = 30  # plenty for a demo left running; tests make a new one each time
OPENSSL_TIMEOUT_S = 30.0  # key generation on a slow Pi
START_TIMEOUT_S = 10.0  # uvicorn binds a loopback socket in milliseconds
SHUTDOWN_S = 1  # uvicorn's graceful shutdown; our streams are ended before it starts
MAX_BODY_BYTES = 65_536  # a request body; subscription lists are a few KB
JSON_HEADERS = [(b"content-type", b"application/json")]
PUBLIC_PATHS = frozenset({VERSION_PATH, "/api/device/identity", "/api/device/identification"})
VENDOR = "Sennheiser electronic SE & Co. KG"


class _Absent:
    """A transmitter resource with no transmitter linked: GET 422, an event `{}`."""


ABSENT = _Absent()


def resources(state: SennheiserState) -> dict[str, JSON | _Absent]:
    """Every non-meter resource the simulator serves, with its current body."""
    out: dict[str, JSON | _Absent] = {
        "/api/device/identity": {
            "product": state.spec.sscv2_product,
            "hardwareRevision": "0596715-06",
            "serial": state.serial,
            "vendor": VENDOR,
        },
        "/api/device/identification": {"visual": False},
        "/api/device/site": {"deviceName": state.device_name, "location": "", "position": ""},
        "/api/device/state": {"state": "Normal", "warnings": []},
        "/api/firmware/update/state": {
            "deviceVersion": state.firmware,
            "state": "Idle",
            "progress": 0,
            "lastStatus": "None",
        },
        "/api/rf": {
            "code": "S1-10",
            "ranges": [{"start": 470_200, "end": 1_999_000, "stepSize": 25}],
        },
        "/api/rf/transmission": {"mode": "Standard", "presetSpacing": 25},
        "/api/rf/encryption": {"enabled": state.encryption},
        "/api/ssc/legacyMode": {"enabled": False},
    }
    for ch in state.channels:
        i = ch.number - 1
        out[f"/api/channel/{i}"] = {
            "name": ch.name,
            "mute": ch.mute,
            "mates": [f"TX{ch.number}"],
            "gain": ch.gain_db,
            "audio": [f"Out{ch.number}"],
            "outputLevel": 0,
            "eventCounter": 0,
        }
        out[f"/api/channel/{i}/warnings"] = rx_warnings(ch)
        out[f"/api/channel/{i}/identify"] = {"enabled": False}
        out[f"/api/rf/channels/{i}"] = {"frequency": ch.frequency_khz, "presets": {"type": "None"}}
        present = ch.tx_present
        out[f"/api/transmitters/{i}"] = (
            {
                "type": ch.tx_model,
                "name": ch.tx_name,
                "mute": ch.tx_mute,
                "lock": False,
                "led": True,
                "version": "1.0.0",
                "identification": False,
            }
            if present
            else ABSENT
        )
        out[f"/api/transmitters/{i}/battery"] = (
            {"type": ch.battery_type, "lifetime": ch.battery_minutes, "gauge": ch.battery_percent}
            if present
            else ABSENT
        )
        out[f"/api/transmitters/{i}/warnings"] = tx_warnings(ch) if present else ABSENT
    return out


def meters(state: SennheiserState, jitter: bool = False) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    for ch in state.channels:
        base = f"/api/channel/{ch.number - 1}"
        out[f"{base}/signalStrengthIndicator"] = {"value": rssi_dbm(ch, jitter)}
        out[f"{base}/signalQualityIndicator"] = {"value": rsqi_percent(ch, jitter)}
        out[f"{base}/diversityIndicator"] = {"value": diversity(ch)}
        out[f"{base}/level"] = {"value": af_dbfs(ch, jitter)}
    return out


def event(kind: str, data: JSON) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def make_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A self-signed EC certificate naming `host` (and localhost)."""
    cert, key = directory / "sscv2.crt", directory / "sscv2.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(CERT_DAYS),
         "-subj", "/CN=EW-DX (simulated)",
         "-addext", f"subjectAltName=IP:{host},DNS:localhost"],
        check=True, capture_output=True, timeout=OPENSSL_TIMEOUT_S,
    )  # fmt: skip
    return cert, key


@dataclass(eq=False)
class Session:
    """One subscription session: its resources and the event stream that carries them."""

    uuid: str
    paths: list[str] = field(default_factory=list)
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    sent: dict[str, JSON] = field(default_factory=dict)  # meters: last value sent


@dataclass
class Recorded:
    method: str
    path: str
    authorized: bool
    body: bytes
    status: int = 0


class _Server(uvicorn.Server):
    def capture_signals(self) -> contextlib.nullcontext[None]:  # type: ignore[override]
        return contextlib.nullcontext()  # the test or demo process owns its signals


class SimSscv2(SennheiserSim):
    """A simulated EW-DX (firmware 4) on `https://host:port` (port 0 = pick a free one)."""

    def __init__(
        self,
        model: str = "EWDX-EM2",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        password: str = DEFAULT_PASSWORD,
        names: Sequence[str] | None = None,
        tx_on: bool = True,
        hung: bool = False,
        meter_jitter: bool = False,
    ) -> None:
        super().__init__(
            model, host, port, names=names, tx_on=tx_on, hung=hung, meter_jitter=meter_jitter
        )
        if not self.spec.sscv2_product:
            raise ValueError(f"{self.spec.key} does not speak SSCv2 (use SimG4)")
        self.password = password
        self.sessions: dict[str, Session] = {}
        self.requests: list[Recorded] = []
        self.cert_file: Path | None = None
        self._key_file: Path | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._server: _Server | None = None
        self._serve: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._thawed = asyncio.Event()
        if not hung:
            self._thawed.set()
        self._snapshot = resources(self.state)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="sim-sscv2-")
            self.cert_file, self._key_file = await asyncio.to_thread(
                make_certificate, Path(self._dir.name), self.host
            )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted sockets: without it small replies wait on delayed ACKs.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self,
            ssl_certfile=str(self.cert_file),
            ssl_keyfile=str(self._key_file),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=SHUTDOWN_S,
            server_header=False,
        )
        self._server = _Server(config)
        self._serve = asyncio.create_task(self._server.serve(sockets=[sock]), name="sim-sscv2")
        async with asyncio.timeout(START_TIMEOUT_S):
            while not self._server.started and not self._serve.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # uvicorn offers no "started" event
        if self._serve.done():
            await self._serve  # raises what went wrong
            raise RuntimeError("simulated SSCv2 server stopped at start")
        self._snapshot = resources(self.state)
        self._ticker = self.spawn(self._tick_loop())

    async def _unlisten(self) -> None:
        for session in self.sessions.values():
            session.queue.put_nowait(None)  # the power is gone: no `event: close`
        if self._server is not None and self._serve is not None:
            # Connections die with the power: dropped at once, not shut down gracefully.
            state = getattr(self._server, "server_state", None)
            for connection in list(getattr(state, "connections", ())):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
            self._server.should_exit = True
            self._thawed.set()  # let hung requests end
            with contextlib.suppress(asyncio.CancelledError):
                await self._serve
        self._server = self._serve = None
        if self._ticker is not None:
            await cancel_and_wait(self._ticker)
            self._ticker = None
        if not self.frozen:
            self._thawed.set()
        else:
            self._thawed.clear()

    async def close(self) -> None:
        await super().close()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def hang(self, on: bool = True) -> None:
        """Accept connections, answer nothing, send nothing; when it ends, catch up."""
        super().hang(on)
        if on:
            self._thawed.clear()
        else:
            self._thawed.set()
            self.publish()

    def _send_garbage(self, data: bytes) -> None:
        for session in self.sessions.values():
            session.queue.put_nowait(data)

    # -- change announcement --------------------------------------------------------------

    def _body(self, value: JSON | _Absent) -> JSON:
        return {} if isinstance(value, _Absent) else value

    def publish(self) -> None:
        """Send each session the subscribed resources that changed, in one event."""
        if self.frozen:
            return  # caught up when the hang ends
        snapshot = resources(self.state)
        changed = {p for p, v in snapshot.items() if self._snapshot.get(p) != v}
        self._snapshot = snapshot
        if not changed or not self.powered:
            return
        for session in self.sessions.values():
            update = {p: self._body(snapshot[p]) for p in session.paths if p in changed}
            if update:
                session.queue.put_nowait(event("message", update))

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(METER_TICK_S)
            if self.frozen:
                continue
            if self.meter_jitter:
                self.jitter_phase = not self.jitter_phase
            current = meters(self.state, self.meter_jitter and self.jitter_phase)
            for session in self.sessions.values():
                update = {
                    p: current[p]
                    for p in session.paths
                    if p in current and session.sent.get(p) != current[p]
                }
                if update:
                    session.sent.update(update)
                    session.queue.put_nowait(event("message", update))

    # -- HTTP -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await self._reply(send, 413, {"error": 413})
                return
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"].rstrip("/") or "/"
        method = scope["method"]
        record = Recorded(method, path, self._authorized(headers), body)
        self.requests.append(record)
        self.record(f"{method} {path} ".encode() + body)
        await self._thawed.wait()  # a hung receiver holds every request
        if path not in PUBLIC_PATHS and not record.authorized:
            record.status = 401
            extra = [(b"www-authenticate", b'Basic realm="SSCv2"')]
            await self._reply(send, 401, {"error": 401}, extra)
            return
        if method == "GET" and path == SUBSCRIPTIONS_PATH:
            record.status = await self._stream(send, receive)
            return
        status, payload = self._route(method, path, body)
        record.status = status
        await self._reply(send, status, payload)

    def _authorized(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == API_USER and hmac.compare_digest(password, self.password)

    async def _reply(
        self,
        send: Send,
        status: int,
        payload: JSON,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        headers = (JSON_HEADERS if data else []) + (extra or [])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, JSON]:
        if path == VERSION_PATH and method == "GET":
            return 200, {"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION}
        if path.startswith(SUBSCRIPTIONS_PATH + "/"):
            return self._manage(method, path[len(SUBSCRIPTIONS_PATH) + 1 :], body)
        if method == "PUT" and path.startswith("/api/channel/") and path.count("/") == 3:
            return self._put_channel(path, body)
        if method != "GET":
            return 405, {"error": 405}
        current = resources(self.state)
        if path in current:
            value = current[path]
            if isinstance(value, _Absent):
                return 422, {"error": 422}
            return 200, value
        meter = meters(self.state).get(path)
        if meter is not None:
            return 200, meter
        return 404, {"error": 404}

    def _put_channel(self, path: str, body: bytes) -> tuple[int, JSON]:
        index = path.rsplit("/", 1)[-1]
        if not index.isdigit() or not 0 <= int(index) < len(self.state.channels):
            return 404, {"error": 404}
        try:
            update = json.loads(body)
        except ValueError:
            return 400, {"error": 400}
        if not isinstance(update, dict):
            return 400, {"error": 400}
        channel = self.state.channel(int(index) + 1)
        name, mute = update.get("name"), update.get("mute")
        if (name is not None and not (isinstance(name, str) and valid_name(name))) or (
            mute is not None and not isinstance(mute, bool)
        ):
            return 400, {"error": 400}
        if name is not None:
            channel.name = name
        if mute is not None:
            channel.mute = mute
        self.publish()
        return 200, None

    # -- subscriptions --------------------------------------------------------------------

    def _known(self, resource: str) -> bool:
        return resource in self._snapshot or resource in meters(self.state)

    def _manage(self, method: str, rest: str, body: bytes) -> tuple[int, JSON]:
        session_id, _, action = rest.partition("/")
        session = self.sessions.get(session_id)
        if session is None:
            return 422, {"error": 422}
        if method == "DELETE" and not action:
            session.queue.put_nowait(event("close", {}))
            session.queue.put_nowait(None)
            self.sessions.pop(session_id, None)
            return 200, None
        if method == "GET" and not action:
            return 200, list(session.paths)
        if method != "PUT" or action not in ("", "add", "remove"):
            return 405, {"error": 405}
        try:
            paths = json.loads(body)
        except ValueError:
            return 400, {"error": 400}
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            return 400, {"error": 400}
        unknown = [p for p in paths if not self._known(p)]
        if unknown and action != "remove":
            return 400, {"path": unknown[0], "error": 404}
        if action == "remove":
            session.paths = [p for p in session.paths if p not in paths]
            return 200, None
        added = [p for p in dict.fromkeys(paths) if p not in session.paths or not action]
        session.paths = list(dict.fromkeys(paths)) if not action else session.paths + added
        self._send_current(session, added)
        return 200, None

    def _send_current(self, session: Session, paths: list[str]) -> None:
        if not paths:
            return
        current = meters(self.state, self.meter_jitter and self.jitter_phase)
        update: dict[str, JSON] = {}
        for p in paths:
            if p in current:
                update[p] = session.sent[p] = current[p]
            else:
                update[p] = self._body(self._snapshot[p])
        session.queue.put_nowait(event("message", update))

    async def _stream(self, send: Send, receive: Receive) -> int:
        if len(self.sessions) >= MAX_SESSIONS:
            await self._reply(send, 429, {"error": 429})
            return 429
        session = Session(str(uuid.uuid4()))
        where = f"{SUBSCRIPTIONS_PATH}/{session.uuid}"
        self.sessions[session.uuid] = session
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            (b"content-location", where.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        opening = event("open", {"path": where, "sessionUUID": session.uuid})
        await send({"type": "http.response.body", "body": opening, "more_body": True})
        listener = asyncio.create_task(_until_disconnect(receive))
        try:
            while True:
                getter = asyncio.create_task(session.queue.get())
                done, _ = await asyncio.wait({getter, listener}, return_when="FIRST_COMPLETED")
                if listener in done:
                    await cancel_and_wait(getter)
                    return 200
                chunk = getter.result()
                if chunk is None:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return 200
                await self._thawed.wait()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            if self.sessions.get(session.uuid) is session:
                del self.sessions[session.uuid]
            await cancel_and_wait(listener)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
