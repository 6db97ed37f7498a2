"""Settings and their precedence: default < dashboard < TOML file < MICBOARDD_* environment <
command-line flag (README "Configuration").

Every setting has one entry in `SPECS`: its key (the TOML key), its parser, a one-line help
and how its flag looks; `micboardd.cli.run` builds every flag from this table. The
environment twin of key `meter_rate_ms` is `MICBOARDD_METER_RATE_MS`; the flag is
`--meter-rate-ms`. A bad value raises `ConfigError` naming the key, the value and where it
came from; the CLI turns that into exit status 2 (`EXIT_CONFIG`).

`resolve()` merges the default, the file, the environment and the flags. The dashboard's
layer (values an admin saved, rows of the store's `settings` table) is read by the parts
that use it and put in its place by `with_dashboard()`: the receivers' `meter_rate_ms`, the
System API's `ssapi_url`, `ssapi_key_file` and `ssapi_fingerprint`.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from micboardd.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("/etc/micboardd/micboardd.toml")
ENV_PREFIX = "MICBOARDD_"
DEFAULT_PORT = 8058
# Bad configuration: the process exits with this status and one line (ARCHITECTURE.md).
EXIT_CONFIG = 2
# The receivers' METER_RATE range: 5-digit milliseconds, 00000 = off, 00100..65535
# (PROTOCOLS.md 1.2). The one definition: settings, the web API and the Shure codecs use it.
MIN_METER_RATE_MS = 100
MAX_METER_RATE_MS = 65535
SHURE_PORT = 2202
# Connection limits (docs/security.md, "Limits"). The process may hold 8192 descriptors
# (LimitNOFILE= in the unit); the web side may take a quarter, leaving room for receivers.
DEFAULT_MAX_CONNECTIONS = 2000
# A browser opens 6 HTTP connections to a host plus 3 WebSockets per tab; a crew laptop with
# a dozen tabs stays under this, a guest's flood of sockets stops here.
DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 64
# WebSocket clients from one address: three per dashboard tab, ten tabs.
DEFAULT_MAX_CLIENTS_PER_ADDRESS = 30


class Layer(enum.IntEnum):
    """Where a setting's value came from. A higher layer wins over every lower one."""

    DEFAULT = 0
    DASHBOARD = 1  # saved by an admin (Edit > Settings), kept in the store's settings table
    FILE = 2
    ENVIRONMENT = 3
    FLAG = 4


# How messages name the layers without a name of their own (a file is named by its path,
# the environment and flags by the variable or flag).
DEFAULT_ORIGIN = "default"
DASHBOARD_ORIGIN = "the dashboard (Edit > Settings)"


# The protocols a receiver address may name (`ssc1://HOST:PORT`), and the port each one's
# receivers listen on. Without a name the port decides (`sources/protocols.py`): 45 is
# Sennheiser SSC v1, 53212 the Media Control Protocol, 443 SSCv2, anything else Shure.
PROTOCOL_PORTS: dict[str, int] = {"shure": SHURE_PORT, "ssc1": 45, "mcp": 53212, "sscv2": 443}


def protocol_of_port(port: int) -> str:
    """The protocol a receiver on this port speaks when its address names none."""
    for name, known in PROTOCOL_PORTS.items():
        if known == port:
            return name
    return "shure"


@dataclass(frozen=True, slots=True)
class ReceiverAddress:
    host: str
    port: int = SHURE_PORT
    # Named only where the port does not say it (a simulator's port, a forwarded one).
    protocol: str = ""

    @property
    def kind(self) -> str:
        """The protocol to speak: the one named, else the port's."""
        return self.protocol or protocol_of_port(self.port)

    def __str__(self) -> str:
        if self.protocol:
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"{self.protocol}://{host}:{self.port}"
        return self.host if self.port == SHURE_PORT else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    state_dir: Path = Path("var")
    config: Path | None = None
    receivers: tuple[ReceiverAddress, ...] = ()
    discovery: bool = True
    discovery_interfaces: tuple[str, ...] = ()
    discovery_approval: bool = False  # new discovered receivers wait for an admin
    meter_rate_ms: int = MIN_METER_RATE_MS
    ssapi_url: str | None = None
    ssapi_key_file: Path | None = None
    # System API TLS: its certificate is self-signed by default. A CA file, or a pinned
    # SHA-256 fingerprint; with neither, the first certificate seen is recorded and pinned.
    ssapi_ca_file: Path | None = None
    ssapi_fingerprint: str | None = None
    # Sennheiser SSCv2 (EW-DX firmware >= 4): the receivers' third-party password, one file
    # for all (mode 0600); a receiver's own file and the dashboard's are in the state directory.
    sscv2_password_file: Path | None = None
    redis_url: str | None = None
    instance: str = ""
    log_level: str = "info"
    max_clients: int = 500
    max_clients_per_address: int = DEFAULT_MAX_CLIENTS_PER_ADDRESS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_connections_per_address: int = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS
    ws_send_timeout_s: int = 10
    allowed_origins: tuple[str, ...] = ()
    # Names the box answers to beyond its addresses, localhost and micboard(-N).local.
    allowed_hosts: tuple[str, ...] = ()
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or
    # networks); nobody's by default, loopback included.
    trusted_proxies: tuple[str, ...] = ()
    # HTTPS: both or neither (resolve() checks); the key file should be mode 0600.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Alert thresholds beyond the tile colours (alerts.py documents each) and history retention.
    alert_battery_low_minutes: int = 30
    alert_battery_critical_minutes: int = 15
    alert_rf_weak_dbm: int = -85
    alert_rf_weak_hold_s: int = 5
    history_retention_days: int = 7
    # Where settings came from, per key: "default", "/etc/micboardd/micboardd.toml", ...
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The layer of each key's value (absent: the default).
    layers: Mapping[str, Layer] = field(default_factory=dict, compare=False)

    @property
    def db_path(self) -> Path:
        return self.state_dir / "micboardd.db"

    def layer(self, key: str) -> Layer:
        return self.layers.get(key, Layer.DEFAULT)


# --- value parsers: str (env/CLI) or TOML value -> typed value, ValueError with a reason ---


def _to_int(lo: int, hi: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("must be an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("must be an integer") from None
        if not lo <= number <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return number

    return parse


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _to_optional_str(value: Any) -> str | None:
    text = _to_str(value).strip()
    return text or None


def _to_redis_url(value: Any) -> str | None:
    text = _to_optional_str(value)
    if text is not None and urlsplit(text).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return text


def _to_path(value: Any) -> Path:
    text = _to_str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return Path(text)


def _to_optional_path(value: Any) -> Path | None:
    text = _to_str(value).strip()
    return Path(text) if text else None


def _to_host(value: Any) -> str:
    text = _to_str(value).strip()
    if not text:
        raise ValueError("must be an address or host name")
    return text


def _to_meter_rate(value: Any) -> int:
    rate = _to_int(0, MAX_METER_RATE_MS)(value)
    if rate < MIN_METER_RATE_MS:
        raise ValueError(f"receivers cannot meter faster than every {MIN_METER_RATE_MS} ms")
    return rate


def _to_log_level(value: Any) -> str:
    level = _to_str(value).strip().lower()
    if level not in {"debug", "info", "warning", "error"}:
        raise ValueError("must be one of debug, info, warning, error")
    return level


def parse_receiver(text: str) -> ReceiverAddress:
    """`HOST` or `HOST:PORT` or `[IPv6]:PORT`, optionally after a protocol's name
    (`ssc1://HOST:PORT`, `mcp://HOST`: its own port when none is given)."""
    text = text.strip()
    protocol = ""
    scheme, sep, rest = text.partition("://")
    if sep:
        protocol = scheme.strip().lower()
        if protocol not in PROTOCOL_PORTS:
            known = ", ".join(f"{p}://" for p in PROTOCOL_PORTS)
            raise ValueError(f"unknown protocol {scheme[:20]!r}:// (known: {known})")
        text = rest.strip()
    address = _parse_host_port(text, PROTOCOL_PORTS[protocol] if protocol else SHURE_PORT)
    if protocol and protocol == protocol_of_port(address.port):
        protocol = ""  # the port says it: one address, one receiver id
    return ReceiverAddress(address.host, address.port, protocol)


def _parse_host_port(text: str, default_port: int) -> ReceiverAddress:
    if not text:
        raise ValueError("must be HOST or HOST:PORT")
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("unclosed [ in IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError("must be [IPv6]:PORT")
            port = _to_int(1, 65535)(rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _to_int(1, 65535)(port_text)
    if not _valid_host(host):
        raise ValueError("must be HOST or HOST:PORT (an IP address or a host name)")
    return ReceiverAddress(host, port)


# A DNS name as resolvers take it: ASCII letters, digits, hyphens (and the underscores some
# venues' names carry), dot-separated labels of at most 63, 253 in all. Anything else (spaces,
# control characters, text IDNA cannot encode) never reaches a resolver.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_HOST_LABEL.fullmatch(p) for p in name.split("."))


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def parse(value: Any) -> tuple[Any, ...]:
        if isinstance(value, str):
            items: list[Any] = [v for v in value.replace(",", " ").split() if v]
        elif isinstance(value, list):
            items = value
        else:
            raise ValueError("must be a list")
        return tuple(item(v) for v in items)

    return parse


def _to_receiver(value: Any) -> ReceiverAddress:
    return parse_receiver(_to_str(value))


def _to_interface(value: Any) -> str:
    text = _to_str(value).strip()
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        raise ValueError("must be an IPv4 address of a local interface") from None
    return text


def _to_origin(value: Any) -> str:
    text = _to_str(value).strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return text


def _to_host_name(value: Any) -> str:
    text = _to_str(value).strip().lower().rstrip(".")
    if not text or "/" in text or ":" in text or any(c.isspace() for c in text):
        raise ValueError("must be a host name without scheme or port, e.g. micboard.venue.lan")
    return text


def _to_network(value: Any) -> str:
    text = _to_str(value).strip()
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError("must be an IP address or network, e.g. 10.0.0.2 or 10.0.0.0/24") from None


@dataclass(frozen=True, slots=True)
class Spec:
    """One setting: its TOML key, parser and help, and how its command-line flag looks."""

    key: str
    parse: Callable[[Any], Any]
    help: str
    repeatable: bool = False  # the flag may be given again, each time adding one item
    flag: str = ""  # the flag's name when it is not `--` + the key with dashes
    metavar: str | None = None
    # A flag without a value that sets the setting to this (`--no-discovery`: False).
    switch: bool | None = None
    # The default as `--help` says it, when the value alone says too little ("./var").
    shown_default: str | None = None

    @property
    def flag_name(self) -> str:
        return self.flag or "--" + self.key.replace("_", "-")

    @property
    def env(self) -> str:
        return env_name(self.key)


SPECS: tuple[Spec, ...] = (
    Spec("host", _to_host, "address to serve HTTP on"),
    Spec("port", _to_int(0, 65535), "HTTP port, 0 picks a free one"),
    Spec("state_dir", _to_path, "directory for the SQLite database", shown_default="./var"),
    Spec(
        "receivers",
        _list_of(_to_receiver),
        "receiver to monitor",
        repeatable=True,
        flag="--receiver",
        metavar="HOST[:PORT]",
    ),
    Spec(
        "discovery",
        _to_bool,
        "look for receivers on the network (SLP and mDNS)",
        flag="--no-discovery",
        switch=False,
    ),
    Spec(
        "discovery_interfaces",
        _list_of(_to_interface),
        "IPv4 address of an interface to discover on",
        repeatable=True,
        flag="--discovery-interface",
        metavar="ADDR",
        shown_default="all",
    ),
    Spec(
        "discovery_approval",
        _to_bool,
        "new discovered receivers wait for an admin's approval (default: monitored at once)",
        switch=True,
    ),
    Spec(
        "meter_rate_ms",
        _to_meter_rate,
        f"receiver metering interval in ms, at least {MIN_METER_RATE_MS}",
    ),
    Spec("ssapi_url", _to_optional_str, "Shure System API base URL, e.g. https://host:10000/api"),
    Spec("ssapi_key_file", _to_optional_path, "file holding the System API key (mode 0600)"),
    Spec("ssapi_ca_file", _to_optional_path, "CA file (PEM) for the System API certificate"),
    Spec(
        "ssapi_fingerprint",
        _to_optional_str,
        "SHA-256 fingerprint to pin the System API certificate to",
        metavar="SHA256",
        shown_default="trust the first one seen and record it",
    ),
    Spec(
        "sscv2_password_file",
        _to_optional_path,
        "file holding the Sennheiser SSCv2 third-party password (mode 0600)",
        shown_default="the one saved from the dashboard",
    ),
    Spec("redis_url", _to_redis_url, "Redis URL to join other micboardd instances"),
    Spec(
        "instance",
        _to_str,
        "name of this instance when several share Redis",
        shown_default="the host name",
    ),
    Spec("log_level", _to_log_level, "debug, info, warning or error"),
    Spec("max_clients", _to_int(1, 100_000), "most WebSocket clients at once"),
    Spec(
        "max_clients_per_address",
        _to_int(1, 100_000),
        "most WebSocket clients from one address, admin sessions excepted",
    ),
    Spec("max_connections", _to_int(8, 1_000_000), "most HTTP connections at once"),
    Spec(
        "max_connections_per_address",
        _to_int(4, 1_000_000),
        "most HTTP connections from one address, trusted proxies excepted",
    ),
    Spec(
        "ws_send_timeout_s",
        _to_int(1, 300),
        "close a WebSocket client that has not taken a frame for this long",
    ),
    Spec(
        "allowed_origins",
        _list_of(_to_origin),
        "extra Origin allowed to open WebSockets",
        repeatable=True,
        flag="--allowed-origin",
        metavar="URL",
    ),
    Spec(
        "allowed_hosts",
        _list_of(_to_host_name),
        "extra host name the box answers to (Host header), e.g. micboard.venue.lan",
        repeatable=True,
        flag="--allowed-host",
        metavar="NAME",
    ),
    Spec(
        "trusted_proxies",
        _list_of(_to_network),
        "reverse proxy (address or network) whose X-Forwarded-For is believed",
        repeatable=True,
        flag="--trusted-proxy",
        metavar="ADDR[/BITS]",
        shown_default="none",
    ),
    Spec(
        "tls_cert_file",
        _to_optional_path,
        "PEM certificate (chain) to serve HTTPS with; needs tls_key_file",
    ),
    Spec("tls_key_file", _to_optional_path, "PEM private key for tls_cert_file (mode 0600)"),
    Spec(
        "alert_battery_low_minutes", _to_int(1, 600), "battery low alert at or below these minutes"
    ),
    Spec(
        "alert_battery_critical_minutes",
        _to_int(1, 600),
        "battery critical alert at or below these minutes",
    ),
    Spec("alert_rf_weak_dbm", _to_int(-120, -20), "RF weak alert below this level (dBm)"),
    Spec("alert_rf_weak_hold_s", _to_int(0, 600), "seconds RF must stay weak before the alert"),
    Spec("history_retention_days", _to_int(1, 366), "days of history kept on disk"),
)
SPEC_BY_KEY: dict[str, Spec] = {s.key: s for s in SPECS}


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(
            "config", str(path), "command line", f"cannot read: {exc.strerror}"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", str(path), str(path), f"not valid TOML: {exc}") from exc
    # Accept a [micboardd] table as well as top-level keys.
    section = data.get("micboardd")
    if isinstance(section, dict):
        data = {**{k: v for k, v in data.items() if k != "micboardd"}, **section}
    return data


@dataclass
class _Layers:
    """The values found so far, with where each came from (filled lowest layer first)."""

    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    layers: dict[str, Layer] = field(default_factory=dict)

    def apply(self, key: str, raw: Any, origin: str, layer: Layer) -> None:
        spec = SPEC_BY_KEY[key]
        try:
            self.values[key] = spec.parse(raw)
        except ValueError as exc:
            raise ConfigError(key, raw, origin, str(exc)) from None
        self.origins[key] = origin
        self.layers[key] = layer


def _config_file(config_path: Path | None, environ: Mapping[str, str]) -> tuple[Path | None, bool]:
    """The TOML file to read and whether it was asked for (a missing one is then an error)."""
    if config_path is not None:
        return config_path, True
    if env_name("config") in environ:
        return Path(environ[env_name("config")]), True
    return (DEFAULT_CONFIG_FILE, False) if DEFAULT_CONFIG_FILE.exists() else (None, False)


def _read_file(found: _Layers, path: Path | None, explicit: bool) -> None:
    if path is None:
        return
    if not path.exists():
        if explicit:
            raise ConfigError("config", str(path), "command line", "file does not exist")
        return
    for key, raw in load_toml(path).items():
        if key not in SPEC_BY_KEY:
            raise ConfigError(key, raw, str(path), "unknown setting")
        found.apply(key, raw, str(path), Layer.FILE)
    found.values["config"] = path
    found.origins["config"] = "command line" if explicit else DEFAULT_ORIGIN


def _read_environment(found: _Layers, environ: Mapping[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == env_name("config"):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in SPEC_BY_KEY:
            raise ConfigError(key, raw, f"environment {name}", "unknown setting")
        found.apply(key, raw, f"environment {name}", Layer.ENVIRONMENT)


def _check_tls(settings: Settings, origins: Mapping[str, str]) -> None:
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        given = "tls_cert_file" if settings.tls_cert_file is not None else "tls_key_file"
        missing = "tls_key_file" if given == "tls_cert_file" else "tls_cert_file"
        raise ConfigError(
            missing, None, origins.get(given, DEFAULT_ORIGIN), f"HTTPS needs it as well as {given}"
        )


def resolve(
    cli: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Build Settings from the default, the file, the environment and the flags, each layer
    over the one before. `cli` holds only the flags the user gave, by setting key."""
    environ = os.environ if environ is None else environ
    found = _Layers(origins={f.name: DEFAULT_ORIGIN for f in fields(Settings)})
    # The config file itself may come from the CLI or the environment.
    _read_file(found, *_config_file(config_path, environ))
    _read_environment(found, environ)
    for key, raw in cli.items():
        found.apply(key, raw, f"command line {SPEC_BY_KEY[key].flag_name}", Layer.FLAG)
    settings = replace(Settings(), **found.values)
    _check_tls(settings, found.origins)
    return replace(settings, origins=found.origins, layers=found.layers)


# --- the dashboard's layer ---


def dashboard_may_set(settings: Settings, key: str) -> bool:
    """Whether a value saved from the dashboard is used for `key`: the file, the environment
    and the flags win over it, unless they leave the setting empty (`ssapi_url = ""`)."""
    return settings.layer(key) <= Layer.DASHBOARD or getattr(settings, key) is None


def with_dashboard(
    settings: Settings, saved: Mapping[str, str], *, ruled_by: str | None = None
) -> Settings:
    """`settings` with the values an admin saved from the dashboard where the dashboard wins
    (`dashboard_may_set`). The one precedence rule, for every part that has such values:
    default < dashboard < file < environment < flag.

    `saved` holds text as the store's settings table keeps it ("" for none). `ruled_by`: the
    keys go together and this one decides for all (the System API: a configured `ssapi_url`
    keeps the dashboard's key file and pin out as well). A saved value is checked like any
    other setting; a bad one raises `ConfigError` naming the dashboard.
    """
    keys = [key for key in saved if dashboard_may_set(settings, ruled_by or key)]
    if not keys:
        return settings
    found = _Layers(origins=dict(settings.origins), layers=dict(settings.layers))
    for key in keys:
        found.apply(key, saved[key], DASHBOARD_ORIGIN, Layer.DASHBOARD)
    return replace(settings, **found.values, origins=found.origins, layers=found.layers)
