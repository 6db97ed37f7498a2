"""`SystemApiSource`: the Shure System API as a source of the hub.

One task runs the loop: refresh the inventory every minute, keep a subscription WebSocket
open for live events (or poll adaptively while there is none), publish the API's health.
Failures never end the loop: they are counted, shown (`api_health` on `/ws/health/`, the
System API's own receivers turn `error`), and retried with backoff, or - for a refused key or
certificate - slowly, re-reading the key file each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from micboardd.aio import cancel_and_wait
from micboardd.config import Settings
from micboardd.errors import ConfigError
from micboardd.sources.ports import ConnectionChanged, HubEvent, MeterDelivery, ReceiverRegistry
from micboardd.ssapi.book import DeviceBook
from micboardd.ssapi.client import SystemApiClient
from micboardd.ssapi.control import SystemApiCommander
from micboardd.ssapi.errors import (
    CircuitOpen,
    NotAvailable,
    SystemApiError,
    TlsMismatch,
    Unauthorized,
)
from micboardd.ssapi.health import HealthTracker, connection_update
from micboardd.ssapi.inventory import DetailsReader, list_devices
from micboardd.ssapi.options import options_from_settings, read_api_key
from micboardd.ssapi.polling import PollPlan
from micboardd.ssapi.subscriptions import Subscription
from micboardd.ssapi.tls import PinningContext, make_context
from micboardd.ssapi.trust import load_pin, record_first_use
from micboardd.ssapi.tuning import DEFAULT_TUNING, Tuning, next_attempt_in
from micboardd.store.database import Store

log = logging.getLogger(__name__)

PublishHealth = Callable[[str, dict[str, Any]], None]


class SystemApiSource:
    def __init__(
        self,
        hub: ReceiverRegistry,
        store: Store,
        settings: Settings,
        publish_api_health: PublishHealth,
        *,
        publish_connection: Callable[[dict[str, Any]], None] | None = None,
        tuning: Tuning = DEFAULT_TUNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Bad settings fail here, at start, as ConfigError (exit status 2).
        self.options = options_from_settings(settings)
        self._key_origin = settings.origins.get("ssapi_key_file", "ssapi_key_file")
        self.key = read_api_key(self.options.key_file, self._key_origin)
        self.hub, self.store, self.tuning, self.clock = hub, store, tuning, clock
        self.publish_api_health = publish_api_health
        self.publish_connection = publish_connection
        self.health = HealthTracker(self.options.endpoint, clock, tuning.slow_ms, self._on_health)
        self.book = DeviceBook(hub, self.options.host, self._commander)
        self.plan = PollPlan(tuning)
        self.synced = asyncio.Event()  # set once the first inventory attempt has ended
        self.context: PinningContext | None = None
        self.client: SystemApiClient | None = None
        self._reader: DetailsReader | None = None
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._events_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._want_inventory = False
        self._want_rematch = False
        self._unsubscribe: Callable[[], None] | None = None
        self._failures = 0
        self._announced: str | None = None
        self._next_inventory = 0.0

    def __repr__(self) -> str:
        return f"<SystemApiSource {self.options.endpoint}>"

    @property
    def live(self) -> bool:
        return self._events_task is not None and not self._events_task.done()

    # --- lifecycle ---

    async def start(self) -> None:
        pin, origin = await load_pin(self.store, self.options)
        self.context = make_context(ca_file=self.options.ca_file, pin=pin, pin_origin=origin)
        self.client = SystemApiClient(
            self.options,
            self.key,
            self.context,
            tuning=self.tuning,
            health=self.health,
            clock=self.clock,
        )
        self._reader = DetailsReader(self.client)
        self._unsubscribe = self.hub.subscribe(self._on_hub_event, meters=MeterDelivery.NONE)
        self._task = asyncio.create_task(self._run(), name=f"system-api {self.options.host_port}")
        log.info("System API source %s started", self.options.endpoint)

    async def stop(self) -> None:
        await cancel_and_wait(
            *(t for t in (self._events_task, self._task) if t is not None and not t.done())
        )
        if self._subscription is not None:
            await self._subscription.close()
        if self.client is not None:
            await self.client.aclose()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def devices(self) -> list[dict[str, Any]]:
        """Every device the API reported, with what it said (for `micboardd poll`)."""
        return self.book.snapshot()

    # --- the loop ---

    async def _run(self) -> None:
        self._next_inventory = next_subscribe = next_health = self.clock()
        while True:
            now = self.clock()
            if now >= self._next_inventory or self._want_inventory:
                self._want_inventory = False
                self._next_inventory = now + await self._inventory()
                self.synced.set()
            await self._record_first_use()
            if self._want_rematch:
                self._want_rematch = False
                self.book.sync_all()
            can_subscribe = not self.live and now >= next_subscribe and not self._failures
            if can_subscribe and not await self._subscribe():
                next_subscribe = self.clock() + self.tuning.subscribe_retry_s
            if not self.live and not self._failures:
                await self._poll_due()
            if now >= next_health:
                self._publish(self.health.body())
                next_health = now + self.tuning.health_refresh_s
            wake_at = [self._next_inventory, next_health]
            if not self.live and not self._failures:  # while failing, only the retry counts
                wake_at.append(next_subscribe)
                poll_due = self.plan.next_due()
                if poll_due is not None:
                    wake_at.append(poll_due)
            await self._sleep_until(min(wake_at))

    async def _sleep_until(self, when: float) -> None:
        delay = max(0.0, when - self.clock())
        if delay > 0 and not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
        else:
            await asyncio.sleep(0)  # never spin: a failing request may not have yielded
        self._wake.clear()

    async def _inventory(self) -> float:
        """Refresh the device list; returns seconds until the next refresh."""
        assert self.client is not None and self._reader is not None
        try:
            infos = await list_devices(self.client)
            fresh = self.book.set_inventory(infos)
            self.plan.track(self.book.details, self.clock())
            for info in fresh:
                details = await self._reader.details(info, None)
                self.book.update(details)
                self.plan.polled(details, self.clock())
                if self._subscription is not None and self.live:
                    await self._subscription.bind_device(details)
        except SystemApiError as exc:
            return self._failed(exc)
        if self._failures or self._announced:
            log.info("System API %s answers again", self.options.endpoint)
        self._failures, self._announced = 0, None
        return self.tuning.inventory_s

    def _failed(self, exc: SystemApiError) -> float:
        """Log once per kind of failure, remember it, and say when to try again."""
        if not exc.reported:  # e.g. a reply of the wrong shape, found after the funnel
            self.health.failure(exc)
            exc.reported = True
        self._failures += 1
        if isinstance(exc, CircuitOpen):  # the failures that opened it were logged already
            log.debug("System API %s: %s", self.options.endpoint, exc)
        elif self._announced != exc.kind:
            level = (
                logging.ERROR if isinstance(exc, TlsMismatch | Unauthorized) else logging.WARNING
            )
            log.log(level, "System API %s: %s", self.options.endpoint, exc)
            self._announced = exc.kind
        else:
            log.debug("System API %s: %s", self.options.endpoint, exc)
        if isinstance(exc, Unauthorized):
            return self._reload_key()
        return next_attempt_in(exc, self._failures, self.tuning)

    def _reload_key(self) -> float:
        """After a refused key: re-read the key file; a changed key is tried at once."""
        assert self.client is not None
        try:
            key = read_api_key(self.options.key_file, self._key_origin)
        except ConfigError as exc:
            log.warning("System API key file: %s", exc)
            return self.tuning.unauthorized_retry_s
        if key != self.key:
            log.info("System API key file %s changed; trying the new key", self.options.key_file)
            self.key = key
            self.client.set_key(key)
            return self.tuning.failure_retry_base_s
        return self.tuning.unauthorized_retry_s

    async def _record_first_use(self) -> None:
        context = self.context
        if context is not None and context.first_seen is not None:
            seen, context.first_seen = context.first_seen, None
            await record_first_use(self.store, self.options, seen)

    # --- live events ---

    async def _subscribe(self) -> bool:
        assert self.client is not None and self.context is not None
        subscription = Subscription(
            self.client, self.key, self.context, self.tuning.ws_open_timeout_s
        )
        try:
            await subscription.open()
            for details in list(self.book.details.values()):
                await subscription.bind_device(details)
        except SystemApiError as exc:
            await subscription.close()
            why = "not offered" if isinstance(exc, NotAvailable) else str(exc)
            log.info("System API live updates unavailable (%s); polling instead", why)
            self.health.set_updates("polling")
            return False
        self._subscription = subscription
        self._events_task = asyncio.create_task(
            self._events(subscription), name="system-api events"
        )
        self.health.set_updates("live")
        log.info("System API %s: live updates subscribed", self.options.endpoint)
        return True

    async def _events(self, subscription: Subscription) -> None:
        try:
            async for event in subscription.events():
                if self.book.apply_event(event):
                    self._want_inventory = True
                    self._wake.set()
        except SystemApiError as exc:
            log.warning("System API %s: %s; polling until it is back", self.options.endpoint, exc)
        finally:
            await subscription.close()
            self._subscription = None
            self.health.set_updates("polling")
            self.plan.all_due_now(self.clock())
            self._wake.set()

    # --- polling (no subscription) ---

    async def _poll_due(self) -> None:
        assert self._reader is not None
        for device_id in self.plan.due(self.clock()):
            previous = self.book.details.get(device_id)
            if previous is None:
                continue
            try:
                info = await self._reader.device(device_id)
                details = await self._reader.details(info, previous)
            except NotAvailable:
                self._want_inventory = True  # the device is gone: the list will say so
                self.plan.polled(previous, self.clock())
                continue
            except SystemApiError as exc:
                self.plan.polled(previous, self.clock())
                # Polling stops; the inventory is retried (with backoff) until it answers.
                retry_at = self.clock() + self._failed(exc)
                self._next_inventory = min(self._next_inventory, retry_at)
                return
            self.book.update(details)
            self.plan.polled(details, self.clock())

    # --- hub and health plumbing ---

    def _on_hub_event(self, event: HubEvent) -> None:
        # A direct receiver appeared, changed or went: the merge may change. Only a flag
        # here: the hub is in the middle of an update and must not be re-entered.
        if isinstance(event, ConnectionChanged) and not self.book.is_own(event.receiver_id):
            self._want_rematch = True
            self._wake.set()

    def _commander(self, device_id: str) -> SystemApiCommander:
        assert self.client is not None
        return SystemApiCommander(self.client, self.book.details.get, device_id)

    def _on_health(self, body: dict[str, Any]) -> None:
        self.book.set_api_error(self.health.message() if self.health.is_down else None)
        self._publish(body)

    def _publish(self, body: dict[str, Any]) -> None:
        self.publish_api_health(self.options.endpoint, body)
        if self.publish_connection is not None:
            self.publish_connection(
                connection_update(self.options.endpoint, self.options.host_port, body)
            )
