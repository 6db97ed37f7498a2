"""ClusterBridge: the `Source` that joins this instance to the others through Redis.

One connection lifetime ("session"): subscribe to the channel, replace our snapshot and
announce every local device (a "full" message), load every other instance's snapshot, then
run a reader (peers' messages into the hub) and a writer (our changes out, one message per
publish tick at most; a heartbeat that refreshes our alive key and snapshot). Any Redis
error ends the session; the supervisor logs the outage once at WARNING and reconnects with a
capped, jittered backoff. Local monitoring never waits for Redis: `start()` returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic
from urllib.parse import urlsplit

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from micboardd.aio import backoff_delay
from micboardd.cluster.outbox import Batch, Outbox
from micboardd.cluster.remote import Remotes
from micboardd.cluster.wire import (
    CHANNEL,
    REGISTRY_KEY,
    VERSION,
    BadMessage,
    Kind,
    Message,
    alive_key,
    decode,
    decode_device,
    encode,
    encode_device,
    instance_name,
    new_boot_id,
    plural,
    snapshot_key,
)
from micboardd.model import Device
from micboardd.sources.ports import Board

log = logging.getLogger(__name__)

# Meters move at most every 100 ms (the receivers' fastest METER_RATE): one message per tick
# carries every device that changed in it, never one per sample.
PUBLISH_INTERVAL_S = 0.1
HEARTBEAT_S = 2.0  # beat + alive key + snapshot refresh: cheap, and 5 of them fit in the TTL
# Five missed beats: a busy Pi or a Wi-Fi hiccup does not flap a stage offline, a dead one
# shows offline on the others within about 10 s.
INSTANCE_TTL_S = 10.0
# A stage that died mid-show still shows (offline) after the others restart; one taken away
# for good is forgotten by the next day.
SNAPSHOT_TTL_S = 24 * 3600
EXPIRY_CHECK_S = 1.0  # silent peers are noticed at most this long after their TTL
READ_POLL_S = 1.0  # the pub/sub read wakes this often even when nobody speaks
CONNECT_TIMEOUT_S = 3.0  # on a LAN a Redis that has not answered in 3 s is not there
COMMAND_TIMEOUT_S = 5.0  # a stuck Redis ends the session instead of stalling publishing
CLOSE_TIMEOUT_S = 1.0  # closing sockets must not hold up the daemon's 2 s source shutdown
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0  # a Redis that comes back is rejoined within half a minute
BACKOFF_RESET_S = 30.0  # a session that lasted this long was healthy: start the backoff over


@dataclass(frozen=True, slots=True)
class Timing:
    """The intervals above, in one place so tests can run them faster."""

    publish_interval_s: float = PUBLISH_INTERVAL_S
    heartbeat_s: float = HEARTBEAT_S
    ttl_s: float = INSTANCE_TTL_S
    snapshot_ttl_s: int = SNAPSHOT_TTL_S
    expiry_check_s: float = EXPIRY_CHECK_S
    backoff_first_s: float = BACKOFF_FIRST_S
    backoff_max_s: float = BACKOFF_MAX_S


def describe_url(url: str) -> str:
    """Where Redis is, for logs: host, port and database, never the password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    try:
        port = parts.port or 6379
    except ValueError:
        port = 6379
    db = parts.path.lstrip("/") or "0"
    return f"{parts.hostname or 'localhost'}:{port}/{db}"


class ClusterBridge(Generic[Board]):
    """Publishes this instance's devices to Redis and puts every other instance's into `hub`.

    Construct it before the first device exists: it names the hub's devices (`hub.instance`).
    """

    def __init__(
        self,
        hub: Board,
        redis_url: str,
        instance: str = "",
        *,
        timing: Timing = Timing(),
    ) -> None:
        self.hub = hub
        self.redis_url = redis_url
        self.where = describe_url(redis_url)
        self.instance = instance_name(instance)
        self.boot = new_boot_id()
        self.timing = timing
        hub.instance = self.instance
        self.outbox = Outbox(hub, self.instance)
        self.remotes = Remotes(hub, self.instance, self.boot, ttl_s=timing.ttl_s)
        self.connected = False
        self.sessions = 0  # connections made so far (health, tests)
        self._outage_logged = False
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None

    # --- Source ---

    async def start(self) -> None:
        self._unsubscribe = self.hub.subscribe(self.outbox.on_event)
        self._tasks = [
            asyncio.create_task(self._supervise(), name="cluster-redis"),
            asyncio.create_task(self._expire_peers(), name="cluster-expiry"),
        ]
        log.info("joining other instances through Redis at %s as %r", self.where, self.instance)

    async def stop(self) -> None:
        # Nothing is deleted from Redis: a restart within the TTL does not flap this stage
        # offline on the other dashboards; a stop for good shows there after the TTL.
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def status(self) -> dict[str, Any]:
        """For /api/health: our name, the Redis link, and each peer."""
        return {
            "instance": self.instance,
            "redis": "connected" if self.connected else "disconnected",
            "peers": self.remotes.status(),
        }

    # --- connection supervision ---

    async def _supervise(self) -> None:
        attempt = 0
        while True:
            began = time.monotonic()
            try:
                await self._session()
            except (RedisError, OSError, TimeoutError) as exc:
                self._lost(exc)
            except Exception:
                log.exception("Redis link to %s failed; reconnecting", self.where)
                self._outage_logged = True
            if time.monotonic() - began >= BACKOFF_RESET_S:
                attempt = 0
            await asyncio.sleep(
                backoff_delay(
                    attempt, first_s=self.timing.backoff_first_s, max_s=self.timing.backoff_max_s
                )
            )
            attempt += 1

    def _lost(self, exc: BaseException) -> None:
        reason = str(exc) or type(exc).__name__
        if self._outage_logged:
            log.debug("Redis at %s still unreachable: %s", self.where, reason)
            return
        self._outage_logged = True
        log.warning(
            "Redis at %s unreachable (%s): showing this instance's devices only, retrying",
            self.where,
            reason,
        )

    def _client(self) -> Redis:
        # No retries inside redis-py: a failed command ends the session, the backoff is ours.
        return Redis.from_url(
            self.redis_url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=COMMAND_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )

    async def _session(self) -> None:
        client = self._client()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await client.ping()
            await pubsub.subscribe(CHANNEL)
            await self._announce(client, self.outbox.start())
            self.remotes.self_heard = time.monotonic()
            await self._load_peers(client)
            self.connected = True
            self.sessions += 1
            if self._outage_logged:
                log.info("Redis at %s is back", self.where)
                self._outage_logged = False
            peers = self.remotes.status()
            log.info(
                "joined Redis at %s: %s, %s",
                self.where,
                plural(len(peers), "other instance"),
                plural(len(self.remotes.owner), "remote device"),
            )
            await _first_failure(self._read(pubsub, client), self._write(client))
        finally:
            self.connected = False
            self.outbox.pause()
            for close in (pubsub.aclose, client.aclose):
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(CLOSE_TIMEOUT_S):
                        await close()

    # --- writing ---

    def _message(self, kind: Kind, batch: Batch | None = None) -> bytes:
        batch = batch or Batch()
        return encode(
            Message(
                v=VERSION,
                instance=self.instance,
                boot=self.boot,
                kind=kind,
                devices=[msgspec.structs.asdict(dev) for dev in batch.devices],
                meters=batch.meters,
                removed=batch.removed,
            )
        )

    async def _announce(self, client: Redis, devices: list[Device]) -> None:
        """Our snapshot, replaced wholesale, then a full message: peers drop what we lost."""
        snap = snapshot_key(self.instance)
        async with client.pipeline(transaction=True) as pipe:
            pipe.delete(snap)
            if devices:
                pipe.hset(snap, mapping=_encoded(devices))
            pipe.expire(snap, self.timing.snapshot_ttl_s)
            pipe.set(alive_key(self.instance), self.boot, px=_ms(self.timing.ttl_s))
            pipe.sadd(REGISTRY_KEY, self.instance)
            pipe.publish(CHANNEL, self._message("full", Batch(devices=devices)))
            await pipe.execute()

    async def _publish(self, client: Redis, batch: Batch) -> None:
        # Snapshot and message in one transaction: a peer loading the snapshot right now
        # either sees this change there or receives it on the channel.
        snap = snapshot_key(self.instance)
        async with client.pipeline(transaction=True) as pipe:
            if batch.devices:
                pipe.hset(snap, mapping=_encoded(batch.devices))
            if batch.removed:
                pipe.hdel(snap, *batch.removed)
            pipe.publish(CHANNEL, self._message("delta", batch))
            await pipe.execute()

    async def _beat(self, client: Redis) -> None:
        snap = snapshot_key(self.instance)
        stale = self.outbox.take_snapshot_stale()  # meters go into the snapshot only here
        async with client.pipeline(transaction=True) as pipe:
            if stale:
                pipe.hset(snap, mapping=_encoded(stale))
            pipe.expire(snap, self.timing.snapshot_ttl_s)
            pipe.set(alive_key(self.instance), self.boot, px=_ms(self.timing.ttl_s))
            pipe.sadd(REGISTRY_KEY, self.instance)
            pipe.publish(CHANNEL, self._message("beat"))
            await pipe.execute()

    async def _write(self, client: Redis) -> None:
        timing = self.timing
        changed = self.outbox.changed
        last_publish = 0.0
        next_beat = time.monotonic() + timing.heartbeat_s
        while True:
            left = next_beat - time.monotonic()
            if not changed.is_set() and left > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await changed.wait()
            if changed.is_set():
                wait = last_publish + timing.publish_interval_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # coalesce: everything in this tick goes at once
                batch = self.outbox.take()
                if batch:
                    await self._publish(client, batch)
                last_publish = time.monotonic()
            if time.monotonic() >= next_beat:
                await self._beat(client)
                next_beat = time.monotonic() + timing.heartbeat_s
                silent = time.monotonic() - self.remotes.self_heard
                if silent > timing.ttl_s:
                    raise ConnectionError(
                        f"our own messages stopped coming back {silent:.0f} s ago"
                    )

    # --- reading ---

    async def _read(self, pubsub: PubSub, client: Redis) -> None:
        while True:
            raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=READ_POLL_S)
            if raw is None or raw.get("type") != "message" or not isinstance(raw["data"], bytes):
                continue
            try:
                message = decode(raw["data"])
            except BadMessage as exc:
                self.remotes.bad_messages += 1
                log.debug("ignored a message on %s: %s", CHANNEL, exc)
                continue
            if self.remotes.apply(message):
                await self._load_peer(client, message.instance)

    async def _load_peers(self, client: Redis) -> None:
        members = await client.smembers(REGISTRY_KEY)
        names = sorted(n.decode(errors="replace") if isinstance(n, bytes) else n for n in members)
        for name in names:
            if name != self.instance:
                await self._load_peer(client, name)

    async def _load_peer(self, client: Redis, name: str) -> None:
        async with client.pipeline(transaction=False) as pipe:
            pipe.hgetall(snapshot_key(name))
            pipe.exists(alive_key(name))
            snapshot, alive = await pipe.execute()
        if not snapshot and not alive:
            await client.srem(REGISTRY_KEY, name)  # gone for longer than the snapshot TTL
            return
        self.remotes.load(name, _decoded(snapshot.values()), bool(alive))

    async def _expire_peers(self) -> None:
        while True:
            await asyncio.sleep(self.timing.expiry_check_s)
            try:
                self.remotes.expire()
            except Exception:
                log.exception("checking other instances failed")


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _encoded(devices: Iterable[Device]) -> dict[FieldT, EncodableT]:
    return {dev.device_id: encode_device(dev) for dev in devices}


def _decoded(values: Iterable[bytes]) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = []
    for value in values:
        with contextlib.suppress(BadMessage):
            devices.append(decode_device(value))
    return devices


async def _first_failure(*coros: Any) -> None:
    """Run the coroutines together until one ends; cancel the rest; re-raise its error."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()
    raise ConnectionError("the Redis session ended")
