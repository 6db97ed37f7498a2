"""System API settings, checked once at start: URL, key file, CA file, pinned fingerprint.

Refuses what would be silently insecure: a plain-http URL (the key would cross the LAN in
clear text), a key file others can read, a malformed fingerprint. There is deliberately no
"do not verify" switch: without a CA file or a pin, the first certificate seen is trusted
and recorded (with a WARNING naming its fingerprint), and any other one is refused after.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from micboardd.config import Settings
from micboardd.errors import ConfigError
from micboardd.tls.pinning import format_fingerprint, normalize_fingerprint

__all__ = [
    "ApiKey",
    "SsapiOptions",
    "check_settings",
    "format_fingerprint",
    "normalize_fingerprint",
    "options_from_settings",
    "parse_url",
    "read_api_key",
]

# Port chosen by the System API installer unless changed (PROTOCOLS.md 3.2).
DEFAULT_PORT = 10000
DEFAULT_PATH = "/api"
# A shared key is a short line; anything much larger is the wrong file.
MAX_KEY_BYTES = 4096


class ApiKey:
    """The shared secret. Its repr and str never show it; only `reveal()` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class SsapiOptions:
    base_url: str  # https://host:port/api, no trailing slash
    host: str
    port: int
    key_file: Path
    ca_file: Path | None = None
    fingerprint: str | None = None  # lower-case hex SHA-256 of the certificate (DER)

    @property
    def endpoint(self) -> str:
        """How the API is named in health frames and logs (never with the key)."""
        return self.base_url

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def ws_url(self, path: str) -> str:
        return "wss://" + self.base_url.removeprefix("https://") + path


def parse_url(text: str) -> tuple[str, str, int]:
    """-> (base_url, host, port); ValueError with the reason."""
    raw = text.strip()
    parts = urlsplit(raw)
    if parts.scheme == "http":
        raise ValueError(
            "plain http would send the API key in clear text; the System API speaks https"
        )
    if parts.scheme != "https":
        raise ValueError("must be an https:// URL, e.g. https://host:10000/api")
    if not parts.hostname:
        raise ValueError("has no host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must not carry credentials, a query or a fragment")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError("has an invalid port") from None
    path = parts.path.rstrip("/") or DEFAULT_PATH
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}{path}", host, port


def read_api_key(path: Path, origin: str = "ssapi_key_file") -> ApiKey:
    """Read the key file; refuse one that group or others can read (it must be mode 0600)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(
            "ssapi_key_file", str(path), origin, f"cannot read: {exc.strerror}"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError("ssapi_key_file", str(path), origin, "is not a regular file")
    if info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise ConfigError(
            "ssapi_key_file",
            str(path),
            origin,
            f"mode {mode:04o} lets others read the API key; chmod 600 it",
        )
    if info.st_size > MAX_KEY_BYTES:
        raise ConfigError("ssapi_key_file", str(path), origin, "too large to be an API key")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("ssapi_key_file", str(path), origin, f"cannot read: {exc}") from None
    if not text or any(c.isspace() for c in text):
        raise ConfigError(
            "ssapi_key_file", str(path), origin, "must hold the key alone on one line"
        )
    return ApiKey(text)


def _origin(settings: Settings, key: str) -> str:
    return settings.origins.get(key, "settings")


def options_from_settings(settings: Settings) -> SsapiOptions:
    """Check the System API settings; ConfigError naming the key and where it came from."""
    if not settings.ssapi_url:
        raise ConfigError("ssapi_url", None, _origin(settings, "ssapi_url"), "is not set")
    try:
        base_url, host, port = parse_url(settings.ssapi_url)
    except ValueError as exc:
        raise ConfigError(
            "ssapi_url", settings.ssapi_url, _origin(settings, "ssapi_url"), str(exc)
        ) from None
    key_file = settings.ssapi_key_file
    if key_file is None:
        raise ConfigError(
            "ssapi_key_file",
            None,
            _origin(settings, "ssapi_key_file"),
            "is required with ssapi_url (the file holding the System API key, mode 0600)",
        )
    # Added to Settings by the issue-5 wiring; read defensively so this module works before.
    ca_file: Any = getattr(settings, "ssapi_ca_file", None)
    raw_pin: Any = getattr(settings, "ssapi_fingerprint", None)
    if ca_file is not None:
        ca_file = Path(ca_file)
        if not ca_file.is_file():
            raise ConfigError(
                "ssapi_ca_file", str(ca_file), _origin(settings, "ssapi_ca_file"), "is not a file"
            )
    fingerprint = None
    if raw_pin:
        try:
            fingerprint = normalize_fingerprint(str(raw_pin))
        except ValueError as exc:
            raise ConfigError(
                "ssapi_fingerprint", raw_pin, _origin(settings, "ssapi_fingerprint"), str(exc)
            ) from None
    return SsapiOptions(base_url, host, port, Path(key_file), ca_file, fingerprint)


def check_settings(settings: Settings) -> None:
    """Everything about the System API settings that can be wrong, before anything starts.

    For `micboardd run` to exit with status 2 and one line, before the store and the web
    server are up; `SystemApiSource` checks the same again when it is made.
    """
    if settings.ssapi_url:  # a key file alone is unused (web/security.py warns if loose)
        options = options_from_settings(settings)
        read_api_key(options.key_file, _origin(settings, "ssapi_key_file"))
