"""What an SSCv2 session needs to be trusted and to be let in: the pinned certificate and the
third-party password.

Pins: an EW-DX presents a self-signed certificate. The first one seen at a host:port is
trusted and recorded in the store's `settings` table under `sscv2_tls_sha256:<host>:<port>`
(as the System API's is, `ssapi/trust.py`); any other one is refused after that, before the
password is sent. Removing the receiver forgets its pin (`StoredPins.forget`), which is how an
operator accepts the certificate of a reset or replaced unit.

Passwords: the third-party password set in Sennheiser's control software (user `api`). One
for every receiver (`sscv2_password_file`, or what the dashboard saved in
`<state_dir>/secrets/sscv2.password`), or one per receiver in
`<state_dir>/secrets/sscv2-<host>-<port>.password`, which wins. Every file must be mode 0600;
the password never reaches a log line, a repr or an API answer.
"""

from __future__ import annotations

import logging
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from micboardd.config import Settings
from micboardd.errors import ConfigError
from micboardd.store.database import Store
from micboardd.store.secret_files import SECRETS_DIR
from micboardd.tls.pinning import format_fingerprint

log = logging.getLogger(__name__)

PIN_SETTING_PREFIX = "sscv2_tls_sha256:"
SHARED_PASSWORD_FILE = "sscv2.password"  # in <state_dir>/secrets/: the dashboard's one
# The spec's password is at most 64 characters; a file much larger is the wrong file.
MAX_PASSWORD_BYTES = 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


class Password:
    """The third-party password. Its repr and str never show it; only `reveal()` does."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Password(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Password) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def check_password(text: str) -> str:
    """A password as the receiver takes it: one line of printable characters."""
    value = text.strip("\r\n")
    if not value or not value.isprintable():
        raise ValueError("must be one line of printable characters")
    if len(value.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError("is too long to be an SSCv2 password")
    return value


def read_password_file(path: Path, origin: str = "sscv2_password_file") -> Password:
    """Read a password file; refuse one that group or others can read (it must be 0600)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(
            "sscv2_password_file", str(path), origin, f"cannot read: {exc.strerror}"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError("sscv2_password_file", str(path), origin, "is not a regular file")
    if info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise ConfigError(
            "sscv2_password_file",
            str(path),
            origin,
            f"mode {mode:04o} lets others read the password; chmod 600 it",
        )
    if info.st_size > MAX_PASSWORD_BYTES + 2:
        raise ConfigError("sscv2_password_file", str(path), origin, "too large to be a password")
    try:
        text = path.read_text(encoding="utf-8").rstrip("\r\n")
        return Password(check_password(text))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("sscv2_password_file", str(path), origin, f"cannot read: {exc}") from None
    except ValueError as exc:
        raise ConfigError("sscv2_password_file", str(path), origin, str(exc)) from None


def device_password_name(host: str, port: int) -> str:
    """The file name of one receiver's own password (a safe name whatever the host is)."""
    return f"sscv2-{_UNSAFE.sub('_', host)}-{port}.password"


@dataclass(frozen=True, slots=True)
class PasswordBook:
    """Where each receiver's password is found: its own file first, then the shared one.

    `shared_file` is the configured `sscv2_password_file`, or None for the dashboard's.
    Files are read on every connection, so a password saved while a receiver is waiting is
    used at its next try.
    """

    state_dir: Path
    shared_file: Path | None = None
    shared_origin: str = "sscv2_password_file"

    @classmethod
    def for_settings(cls, settings: Settings) -> PasswordBook:
        """The book the settings describe (`sscv2_password_file` and where it came from)."""
        origin = settings.origins.get("sscv2_password_file", "sscv2_password_file")
        return cls(settings.state_dir, settings.sscv2_password_file, origin)

    @property
    def secrets(self) -> Path:
        return self.state_dir / SECRETS_DIR

    @property
    def dashboard_file(self) -> Path:
        return self.secrets / SHARED_PASSWORD_FILE

    def device_file(self, host: str, port: int) -> Path:
        return self.secrets / device_password_name(host, port)

    def password_for(self, host: str, port: int) -> Password | None:
        """The password to send to host:port, or None when none is set.

        A file that exists but cannot be used (loose mode, unreadable) raises `ConfigError`
        naming it: better a clear reason on the receiver than a silent 401.
        """
        own = self.device_file(host, port)
        if own.exists():
            return read_password_file(own, "the receiver's own password file")
        if self.shared_file is not None:
            return read_password_file(self.shared_file, self.shared_origin)
        if self.dashboard_file.exists():
            return read_password_file(self.dashboard_file, "the dashboard (Edit > Settings)")
        return None

    def is_set(self, host: str | None = None, port: int | None = None) -> bool:
        """Whether a password would be sent (to host:port, or to any receiver)."""
        if host is not None and port is not None and self.device_file(host, port).exists():
            return True
        return (self.shared_file or self.dashboard_file).exists()


# --- pins --------------------------------------------------------------------------------


class Pins(Protocol):
    """Where a session finds and records its receiver's pin."""

    async def load(self, host_port: str) -> tuple[str | None, str]: ...
    async def record(self, host_port: str, fingerprint: str) -> None: ...
    async def forget(self, host_port: str) -> None: ...


def pin_setting_key(host_port: str) -> str:
    return PIN_SETTING_PREFIX + host_port


class StoredPins:
    """Certificate pins recorded on first use, per host:port, in the store's settings."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def load(self, host_port: str) -> tuple[str | None, str]:
        key = pin_setting_key(host_port)
        recorded = await self.store.get_setting(key)
        if recorded:
            return recorded, f"recorded on first use in settings {key}"
        return None, ""

    async def record(self, host_port: str, fingerprint: str) -> None:
        key = pin_setting_key(host_port)
        await self.store.set_setting(key, fingerprint)
        log.warning(
            "SSCv2 receiver %s: trusting its TLS certificate on first use, SHA-256 %s; "
            "recorded in settings %s. A different certificate will be refused; remove the "
            "receiver and add it again to trust a new one",
            host_port,
            format_fingerprint(fingerprint),
            key,
        )

    async def forget(self, host_port: str) -> None:
        await self.store.delete_setting(pin_setting_key(host_port))


class MemoryPins:
    """Pins kept in memory only (tests, `micboardd poll`): trust on first use per process."""

    def __init__(self) -> None:
        self.pins: dict[str, str] = {}

    async def load(self, host_port: str) -> tuple[str | None, str]:
        pin = self.pins.get(host_port)
        return (pin, "recorded on first use") if pin else (None, "")

    async def record(self, host_port: str, fingerprint: str) -> None:
        self.pins[host_port] = fingerprint

    async def forget(self, host_port: str) -> None:
        self.pins.pop(host_port, None)
