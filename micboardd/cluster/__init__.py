"""Several instances, one picture: micboardd boxes share their devices through Redis.

Each instance publishes its own devices (coalesced, at most one message per publish tick) on
one pub/sub channel under its instance name, keeps a snapshot of them in a Redis hash, and
proves it is alive with a heartbeat key that expires. Every instance puts the others' devices
into its hub, so any dashboard shows every stage; a stage whose heartbeat stops turns
`rx_offline`. Without `redis_url` none of this runs and no Redis is needed.

- `wire`: key names, the message format, encode/decode (pure, no I/O).
- `outbox`: which local devices changed since the last publish (bounded, latest wins).
- `remote`: the other instances' devices in our hub, their liveness (no I/O).
- `bridge`: `ClusterBridge`, the `Source` that talks to Redis (redis.asyncio).

Operator view: docs/several-stages.md.
"""

from __future__ import annotations

from micboardd.cluster.wire import instance_name

__all__ = ["instance_name"]
