"""`SystemApiRuntime`: the System API source, configurable from the dashboard while running.

Always made by `make_sources`. It holds the current `SystemApiSource`, or none, and replaces
it live when an admin saves new settings (`PUT /api/system-api`) or turns it off (`DELETE`):
the old source is stopped and takes back every receiver it added, a new one is started.

Precedence is the one of every setting (config.py `with_dashboard`: default < dashboard <
file < environment < flag), with `ssapi_url` deciding for the three settings the dashboard
keeps: when the file, the environment or a flag sets it, the dashboard can change nothing
and this only runs the source the configuration describes. Otherwise the dashboard's URL and
pinned fingerprint are rows of the store's `settings` table and its key is
`<state_dir>/secrets/ssapi.key` (mode 0600, never read back out to a client). A CA file can
only come from the configuration (`ssapi_ca_file`); it applies to both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from micboardd.config import DASHBOARD_ORIGIN, Settings, dashboard_may_set, with_dashboard
from micboardd.errors import ConfigError, MicboardError
from micboardd.isotime import iso
from micboardd.sources.ports import ReceiverRegistry
from micboardd.ssapi.options import (
    MAX_KEY_BYTES,
    SsapiOptions,
    normalize_fingerprint,
    options_from_settings,
    parse_url,
)
from micboardd.ssapi.source import PublishHealth, SystemApiSource
from micboardd.ssapi.trust import pin_setting_key
from micboardd.ssapi.tuning import DEFAULT_TUNING, Tuning
from micboardd.store.database import Store, delete_setting_statement, set_setting_statement
from micboardd.store.secret_files import SECRETS_DIR, write_secret_file

log = logging.getLogger(__name__)

# Rows of the store's `settings` table; the first-use pins beside them are per host:port.
URL_SETTING = "ssapi_url"
FINGERPRINT_SETTING = "ssapi_fingerprint"
KEY_FILE_NAME = "ssapi.key"  # in <state_dir>/secrets/, like every secret given through the API
# The `api_health` status of an endpoint that was turned off or replaced: a dashboard drops it.
DISABLED = "disabled"
CONFIG_FILE_HINT = "/etc/micboardd/micboardd.toml"


class SettingRefused(MicboardError):
    """A value the dashboard sent cannot be used; the message says why (never the key)."""


class SetByConfiguration(MicboardError):
    """`ssapi_url` comes from the configuration, which the dashboard may not override."""


@dataclass(frozen=True, slots=True)
class Wanted:
    """The dashboard's System API settings, checked."""

    url: str  # normalized: https://host:port/path
    fingerprint: str | None  # 64 lower-case hex digits


def check_key(text: str) -> str:
    """The key as the server's sharedkey.txt holds it: one printable word."""
    key = text.strip()
    if not key.isprintable() or any(c.isspace() for c in key):
        raise SettingRefused(
            "the key must be one line without spaces, as in sharedkey.txt on the server"
        )
    if len(key.encode()) > MAX_KEY_BYTES:
        raise SettingRefused("the key is too long to be a System API key")
    return key


def disabled_body(message: str) -> dict[str, Any]:
    return {
        "status": DISABLED,
        "response_time_ms": None,
        "error_count": 0,
        "state": DISABLED,
        "message": message,
        "updates": DISABLED,
    }


def key_file_for(settings: Settings) -> Path:
    return settings.state_dir / SECRETS_DIR / KEY_FILE_NAME


async def stored_wanted(store: Store) -> Wanted | None:
    """The dashboard's System API settings in the store (None: not set from the dashboard)."""
    url = await store.get_setting(URL_SETTING)
    if not url:
        return None
    pin = await store.get_setting(FINGERPRINT_SETTING)
    return Wanted(url, pin or None)


def dashboard_settings(settings: Settings, wanted: Wanted) -> Settings:
    """`settings` with the dashboard's System API in it where the dashboard wins, that is
    unless the configuration sets `ssapi_url` (origins say where each came from)."""
    saved = {
        "ssapi_url": wanted.url,
        "ssapi_key_file": str(key_file_for(settings)),
        "ssapi_fingerprint": wanted.fingerprint or "",
    }
    return with_dashboard(settings, saved, ruled_by="ssapi_url")


async def effective_settings(store: Store, settings: Settings) -> Settings:
    """What the daemon would run: the configuration's System API, else the dashboard's."""
    if not dashboard_may_set(settings, "ssapi_url"):
        return settings
    wanted = await stored_wanted(store)
    return settings if wanted is None else dashboard_settings(settings, wanted)


class SystemApiRuntime:
    """A `Source` for the daemon: starts, stops and swaps the one `SystemApiSource`."""

    def __init__(
        self,
        hub: ReceiverRegistry,
        store: Store,
        settings: Settings,
        publish_api_health: PublishHealth,
        *,
        publish_connection: Callable[[dict[str, Any]], None] | None = None,
        retire_endpoint: Callable[[str], None] | None = None,
        tuning: Tuning = DEFAULT_TUNING,
    ) -> None:
        self.hub, self.store, self.settings, self.tuning = hub, store, settings, tuning
        self.publish_api_health = publish_api_health
        self.publish_connection = publish_connection
        self.retire_endpoint = retire_endpoint  # drops an endpoint from health snapshots
        self.source: SystemApiSource | None = None
        self.health: dict[str, Any] | None = None  # the latest api_health frame
        self.error: str | None = None  # why the stored settings are not running
        self._lock = asyncio.Lock()  # one change at a time, and never during shutdown

    def __repr__(self) -> str:
        return f"<SystemApiRuntime {self.source!r}>"

    @property
    def editable(self) -> bool:
        return dashboard_may_set(self.settings, "ssapi_url")

    @property
    def key_file(self) -> Path:
        return key_file_for(self.settings)

    # --- the daemon's Source protocol ---

    async def start(self) -> None:
        # The web server answers before the sources start: a PUT may have come first.
        async with self._lock:
            if self.source is not None:
                return
            if not self.editable:  # checked by `micboardd run` already: ConfigError is fatal
                await self._start(self.settings)
                return
            wanted = await self.stored()
            if wanted is None:
                return
            try:
                await self._start(dashboard_settings(self.settings, wanted))
            except (ConfigError, OSError) as exc:
                # The daemon still comes up: the dashboard shows this and can fix it.
                self.error = _reason(exc)
                log.error("System API from %s not started: %s", DASHBOARD_ORIGIN, self.error)

    async def stop(self) -> None:
        """Daemon shutdown: the devices stay in the hub, as for any stopping source."""
        async with self._lock:
            await self._stop_source(withdraw=False)

    # --- what the dashboard does ---

    async def configure(self, url: str, key: str | None, fingerprint: str | None) -> None:
        """Check, store and apply; `key` None or empty keeps the stored one, for the same
        host and port only (a new server needs the key again)."""
        self._check_editable()
        try:
            base_url, _, _ = parse_url(url)
        except ValueError as exc:
            raise SettingRefused(f"System API URL: {exc}") from None
        pin = None
        if fingerprint and fingerprint.strip():
            try:
                pin = normalize_fingerprint(fingerprint)
            except ValueError as exc:
                raise SettingRefused(f"fingerprint: {exc}") from None
        new_key = check_key(key) if key and key.strip() else None
        if new_key is None and not self.key_file.is_file():
            raise SettingRefused("a key is needed: the System API refuses requests without one")
        wanted = Wanted(base_url, pin)
        settings = dashboard_settings(self.settings, wanted)
        try:
            options_from_settings(settings)  # e.g. a configured CA file that is not there
        except ConfigError as exc:
            raise SettingRefused(_reason(exc)) from None
        async with self._lock:
            old = await self.stored()
            if new_key is None and (old is None or _server(old.url) != _server(wanted.url)):
                # The stored key was given for that server: never hand it to another one.
                raise SettingRefused(
                    "the stored key is only sent to the server it was given for: enter the "
                    "key again to use a new host or port"
                )
            same_endpoint = old is not None and old.url == wanted.url
            await self._stop_source(withdraw=True, retire=not same_endpoint)
            if new_key is not None:
                await asyncio.to_thread(
                    write_secret_file, self.settings.state_dir, KEY_FILE_NAME, new_key + "\n"
                )
            statements: list[tuple[str, tuple[str, ...]]] = [
                set_setting_statement(URL_SETTING, wanted.url)
            ]
            if wanted.fingerprint:
                statements.append(set_setting_statement(FINGERPRINT_SETTING, wanted.fingerprint))
            else:
                statements.append(delete_setting_statement(FINGERPRINT_SETTING))
            old_pin = pin_key_for(old.url) if old is not None else None
            if old_pin is not None and old_pin != pin_key_for(wanted.url):
                # A pin recorded on first use belongs to that server, not to the new one.
                statements.append(delete_setting_statement(old_pin))
            await self.store.transaction(statements)
            log.info(
                "System API set from %s: %s%s (key %s)",
                DASHBOARD_ORIGIN,
                wanted.url,
                ", fingerprint pinned" if wanted.fingerprint else "",
                "replaced" if new_key is not None else "kept",
            )
            self.error = None
            try:
                await self._start(settings, announce=True)
            except (ConfigError, OSError) as exc:
                self.error = _reason(exc)
                raise SettingRefused(f"saved, but cannot start: {self.error}") from None

    async def disable(self) -> None:
        """Turn it off: stop the source, forget the URL, fingerprint, key file and pin."""
        self._check_editable()
        async with self._lock:
            old = await self.stored()
            await self._stop_source(withdraw=True, retire=True, why="turned off")
            old_pin = pin_key_for(old.url) if old is not None else None
            keys = [URL_SETTING, FINGERPRINT_SETTING] + ([old_pin] if old_pin else [])
            await self.store.transaction(delete_setting_statement(key) for key in keys)
            await asyncio.to_thread(self.key_file.unlink, missing_ok=True)
            self.error = None
            if old is not None:
                log.info("System API %s turned off from %s", old.url, DASHBOARD_ORIGIN)

    # --- internals ---

    def _check_editable(self) -> None:
        if not self.editable:
            origin = self.settings.origins.get("ssapi_url", "the configuration")
            raise SetByConfiguration(
                f"The System API is set by ssapi_url in the configuration ({origin}), which "
                f"wins over the dashboard: edit {CONFIG_FILE_HINT} (or the environment "
                "variable or flag that sets it) and restart micboardd."
            )

    async def stored(self) -> Wanted | None:
        """The dashboard's settings in the store (None: not set from the dashboard)."""
        return await stored_wanted(self.store)

    async def _start(self, settings: Settings, *, announce: bool = False) -> None:
        holder: list[SystemApiSource] = []

        def health(endpoint: str, body: dict[str, Any]) -> None:
            if holder and holder[0] is self.source:  # a stopping source is not heard
                self._publish(endpoint, body)

        def connection(body: dict[str, Any]) -> None:
            if holder and holder[0] is self.source and self.publish_connection is not None:
                self.publish_connection(body)

        source = SystemApiSource(
            self.hub,
            self.store,
            settings,
            health,
            publish_connection=connection,
            tuning=self.tuning,
        )
        holder.append(source)
        self.source = source
        try:
            await source.start()
        except BaseException:
            self.source = None
            await source.stop()
            raise
        if announce:  # the dashboard shows "connecting" at once, not the last state
            self._publish(source.options.endpoint, source.health.body())

    async def _stop_source(
        self, *, withdraw: bool, retire: bool = False, why: str = "replaced"
    ) -> None:
        source, self.source = self.source, None
        if source is None:
            return
        await source.stop()
        if not withdraw:
            return
        source.book.remove_all()  # never stale values: its receivers go, merges are undone
        if retire:
            options = source.options
            self._publish(options.endpoint, disabled_body(why))
            if self.retire_endpoint is not None:
                self.retire_endpoint(options.endpoint)
            if self.publish_connection is not None:
                self.publish_connection(_disconnected(options))

    def _publish(self, endpoint: str, body: dict[str, Any]) -> None:
        self.health = {"type": "api_health", "endpoint": endpoint, **body}
        self.publish_api_health(endpoint, body)


def _disconnected(options: SsapiOptions) -> dict[str, Any]:
    return {
        "manufacturer": "shure",
        "source": "system_api",
        "id": options.endpoint,
        "address": options.host_port,
        "status": "disconnected",
        "latency_ms": None,
        "last_update": iso(time.time()),
        "error": None,
    }


def _server(url: str) -> tuple[str, int] | None:
    """(host, port) of a System API URL: what a stored key is bound to."""
    try:
        _, host, port = parse_url(url)
    except ValueError:
        return None
    return host.lower(), port


def pin_key_for(url: str) -> str | None:
    """The settings row of the first-use pin for this URL's host:port (None: not a URL)."""
    try:
        base_url, host, port = parse_url(url)
    except ValueError:
        return None
    return pin_setting_key(SsapiOptions(base_url, host, port, Path()))


def _reason(exc: Exception) -> str:
    if isinstance(exc, ConfigError):  # without the value: it may be the key file's path
        return f"{exc.key} {exc.reason}"
    return str(exc)
