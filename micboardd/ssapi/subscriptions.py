"""The subscription WebSocket: live events instead of polling (PROTOCOLS.md 3.4).

Open `wss://.../v1/subscriptions/websocket/create`, read `{"transportId": ...}`, then bind
topics with body-less POSTs through the REST client; events arrive on the socket. TLS uses
the same pinning context as REST, so the handshake is refused before the upgrade request
(and the key in it) is sent. Whether the upgrade needs `x-api-key` is unverified [U]: it is
sent, which a server that does not need it ignores.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from micboardd.ssapi.client import KEY_HEADER, SystemApiClient
from micboardd.ssapi.errors import NotAvailable, SystemApiError, Unreachable
from micboardd.ssapi.inventory import channel_path, device_path
from micboardd.ssapi.models import DeviceDetails, Event
from micboardd.ssapi.options import ApiKey
from micboardd.ssapi.parse import parse_event, parse_transport_id

log = logging.getLogger(__name__)
# The websockets library logs handshake headers - our x-api-key among them - at DEBUG. Its
# own logger for this socket never goes below INFO, whatever the daemon's log level.
_WS_LOG = logging.getLogger(__name__ + ".socket")
_WS_LOG.setLevel(logging.INFO)

CREATE_PATH = "/v1/subscriptions/websocket/create"
# Events are small JSON objects; a megabyte is a broken or hostile server.
MAX_EVENT_BYTES = 1024 * 1024
# Pings notice a dead server or a cut cable within about 40 s, even when no event is due.
WS_PING_INTERVAL_S = 20.0
WS_PING_TIMEOUT_S = 20.0
# Closing politely must not hold up the daemon's shutdown.
WS_CLOSE_TIMEOUT_S = 2.0


def device_topics(details: DeviceDetails) -> list[str]:
    """The paths (before `/subscription/{transportId}`) worth binding for one device."""
    did = details.device_id
    caps = details.info.capabilities
    topics: list[str] = []
    if details.name is not None or "name" in caps:
        topics.append(device_path(did, "name"))
    if details.battery is not None:
        topics.append(device_path(did, "battery-level"))
    if details.health is not None:
        topics.append(device_path(did, "battery-health"))
    for channel in details.channels:
        for topic in ("name", "activity"):
            if topic in channel.capabilities or not channel.capabilities:
                topics.append(channel_path(did, channel.channel_id, topic))
    return topics


class Subscription:
    def __init__(
        self,
        client: SystemApiClient,
        key: ApiKey,
        context: ssl.SSLContext,
        open_timeout_s: float,
    ) -> None:
        self.client = client
        self.key = key
        self.context = context
        self.open_timeout_s = open_timeout_s
        self.transport_id: str | None = None
        self.bound: set[str] = set()
        self._ws: ClientConnection | None = None

    async def open(self) -> None:
        """Connect and learn the transportId; a SystemApiError when that is not possible."""
        url = self.client.options.ws_url(CREATE_PATH)
        try:
            async with asyncio.timeout(self.open_timeout_s):
                self._ws = await connect(
                    url,
                    ssl=self.context,
                    additional_headers={KEY_HEADER: self.key.reveal()},
                    proxy=None,
                    open_timeout=None,  # bounded by the timeout around this block
                    ping_interval=WS_PING_INTERVAL_S,
                    ping_timeout=WS_PING_TIMEOUT_S,
                    close_timeout=WS_CLOSE_TIMEOUT_S,
                    max_size=MAX_EVENT_BYTES,
                    logger=_WS_LOG,
                )
                first = await self._ws.recv()
        except Exception as exc:
            await self.close()
            raise self.client.error_for("WEBSOCKET", CREATE_PATH, exc) from exc
        try:
            self.transport_id = parse_transport_id(first)
        except SystemApiError:
            await self.close()
            raise
        await self._bind("/v1/devices")  # device state changes (online, offline, new)

    async def bind_device(self, details: DeviceDetails) -> None:
        for topic in device_topics(details):
            if topic not in self.bound:
                await self._bind(topic)

    async def _bind(self, topic: str) -> None:
        try:
            await self.client.post(f"{topic}/subscription/{self.transport_id}")
        except NotAvailable:
            log.debug("System API offers no subscription for %s", topic)
        self.bound.add(topic)

    async def events(self) -> AsyncIterator[Event]:
        """Events until the socket closes; then Unreachable (the caller falls back to polling)."""
        ws = self._ws
        if ws is None:
            return
        try:
            async for message in ws:
                event = parse_event(message)
                if event is None:
                    log.debug("System API: not an event: %.80r", message)
                    continue
                yield event
        except ConnectionClosed as exc:
            raise Unreachable(f"subscription socket closed: {exc}") from exc
        raise Unreachable("subscription socket closed by the server")

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await ws.close()
            except Exception as exc:  # closing a broken socket: nothing left to save
                log.debug("closing the subscription socket failed: %r", exc)
