"""Every table micboardd creates: the schema migrations, and the history's per-day tables.

The one place for `CREATE`: `store/database.py` applies `MIGRATIONS` in order (the schema
version is the number applied), and the history creates a pair of day tables on the first
write of each day (`CREATE_HISTORY_DAY`, `CREATE_EVENTS_DAY`). `database._statements` splits a migration on
semicolons: none in comments.
"""

from __future__ import annotations

SCHEMA_2 = """
    CREATE TABLE alerts (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        severity    TEXT NOT NULL,
        subject     TEXT NOT NULL,
        device_id   TEXT,
        receiver_id TEXT,
        message     TEXT NOT NULL,
        count       INTEGER NOT NULL DEFAULT 1,
        started_at  REAL NOT NULL,
        raised_at   REAL NOT NULL,
        updated_at  REAL NOT NULL,
        cleared_at  REAL,
        acked_at    REAL
    );
    CREATE INDEX alerts_raised ON alerts(raised_at);
    CREATE INDEX alerts_device ON alerts(device_id, raised_at);
    CREATE INDEX alerts_open ON alerts(cleared_at) WHERE cleared_at IS NULL;
    CREATE TABLE history_devices (
        no          INTEGER PRIMARY KEY,
        device_id   TEXT NOT NULL UNIQUE
    );
"""

SCHEMA_3 = """
CREATE TABLE placeholders (
    id          INTEGER PRIMARY KEY,
    label       TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL DEFAULT '',
    model       TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE TABLE photos (
    device_id   TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    etag        TEXT NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    data        BLOB NOT NULL,
    updated_at  REAL NOT NULL
);
"""

# Each entry upgrades the schema by one version; never edit a released entry, append.
MIGRATIONS: tuple[str, ...] = (
    # 1: inventory, user data and settings
    """
    CREATE TABLE receivers (
        id          TEXT PRIMARY KEY,
        address     TEXT NOT NULL,
        port        INTEGER NOT NULL DEFAULT 2202,
        family      TEXT,
        model       TEXT,
        name        TEXT,
        serial      TEXT,
        channels    INTEGER,
        source      TEXT NOT NULL DEFAULT 'manual',
        ignored     INTEGER NOT NULL DEFAULT 0,
        meter_rate_ms INTEGER,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX receivers_address ON receivers(address, port);
    CREATE TABLE groups (
        id          INTEGER PRIMARY KEY,
        title       TEXT NOT NULL,
        position    INTEGER NOT NULL DEFAULT 0,
        slots       TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE channels (
        device_id   TEXT PRIMARY KEY,
        receiver_id TEXT NOT NULL,
        channel     INTEGER NOT NULL,
        performer   TEXT,
        group_id    INTEGER REFERENCES groups(id) ON DELETE SET NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX channels_receiver ON channels(receiver_id);
    CREATE TABLE settings (
        key         TEXT PRIMARY KEY,
        value       TEXT NOT NULL
    );
    """,
    # 2: alert log and show history (history/store.py; history tables per day on first use,
    # made from CREATE_HISTORY_DAY and CREATE_EVENTS_DAY below)
    SCHEMA_2,
    # 3: placeholder tiles and performer photos (tiles/store.py)
    SCHEMA_3,
    # 4: a receiver's protocol where its port does not say it (`ssc1://HOST:PORT`; '' = by
    # the port, config.PROTOCOL_PORTS)
    "ALTER TABLE receivers ADD COLUMN protocol TEXT NOT NULL DEFAULT ''",
)


# The show history's tables for one day (history/store.py names them), made on the day's
# first write: the packed one-minute rows (history/blob.py) and the status events.
CREATE_HISTORY_DAY = "CREATE TABLE IF NOT EXISTS {} (k INTEGER PRIMARY KEY, buckets BLOB NOT NULL)"
CREATE_EVENTS_DAY = (
    "CREATE TABLE IF NOT EXISTS {} (k INTEGER PRIMARY KEY, dev INTEGER NOT NULL, "
    "kind TEXT NOT NULL, value TEXT, previous TEXT)"
)
