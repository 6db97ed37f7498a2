"""The Shure System API as a source: httpx REST client, subscription WebSocket, health.

Layers inside, bottom up: `options`/`tls`/`trust` (settings, key file, certificate trust),
`backoff`/`health`/`tuning` (pure timing and health logic), `client` (the request funnel),
`models`/`parse` (pure parsing), `inventory`/`subscriptions` (what is read, and how),
`mapping`/`book` (devices into hub receivers, merged with direct receivers), `source`
(`SystemApiSource`, the loop), `cli` (`micboardd poll`). Described in docs/system-api.md.
"""
