"""Who may do what: the admin password, the optional viewer PIN, sessions, login throttling.

Pure logic over the store's `settings` table; the web layer (`web/security.py`) turns it into
cookies, guards and status codes.

- Secrets are kept only as scrypt hashes (`scrypt$N$r$p$salt$hash`, parameters stored so they
  can be raised later without breaking existing hashes) and compared in constant time.
- A session is a signed token (HMAC-SHA256 with a random key kept in the store), so phones
  stay logged in across a daemon restart. It names the role, the expiry and a fingerprint of
  the credential it was issued for: changing the password or the PIN ends every session of
  that role at once. Logout revokes the token's id, in memory and in the store (a restart
  must not bring a logged-out cookie back); the cookie is cleared too.
- Login throttling (docs/security.md, "Limits"): an attempt is counted before it waits for
  the hashing slot, one attempt per address is checked at a time, at most MAX_HASH_QUEUE
  checks wait or run at once (the rest are refused at once), and wrong viewer PINs from all
  addresses together share one budget (a 4-digit PIN must not fall to a guest who rotates
  addresses).
- The CSRF token is derived from the session id with the same key: nothing to store, and it
  can only be read by a page of our own origin (`GET /api/session`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from micboardd.model import Counters
from micboardd.store.database import Store, delete_setting_statement, set_setting_statement

log = logging.getLogger(__name__)

Role = Literal["viewer", "admin"]
ADMIN: Role = "admin"
VIEWER: Role = "viewer"

# Keys in the store's settings table.
ADMIN_HASH_KEY = "admin_password_hash"
VIEWER_PIN_KEY = "viewer_pin_hash"
SESSION_KEY_KEY = "session_secret"

# scrypt cost: N=2^15, r=8 needs 32 MiB and ~0.1 s on a laptop core, ~0.4 s on a Pi 4: slow
# for a guesser, bearable for one login, and within the daemon's memory budget. (OWASP's
# 2^17 would mean 128 MiB spikes on a 1 GB Pi.)
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_DKLEN = 32
SALT_BYTES = 16
SCRYPT_MAXMEM = 64 * 1024 * 1024  # 128 * r * N plus hashlib's overhead
# Two scrypt runs at once at most: a flood of logins must not multiply the 32 MiB.
MAX_CONCURRENT_HASHES = 2
# Checks waiting for or holding a hashing slot; one more is refused at once (503): a crew
# member behind a queue of 8 waits about a second on a Pi, behind 400 a minute and a half.
MAX_HASH_QUEUE = 8
# Retry-After for a login refused because the queue is full or this address's previous
# attempt is still being checked: either clears within a second or two.
BUSY_RETRY_S = 2.0

PASSWORD_MIN = 8  # the admin password guards receivers on a shared venue Wi-Fi
PASSWORD_MAX = 1024  # hashing cost does not depend on length, but bodies stay small
PIN_MIN = 4
PIN_MAX = 12

# A show day including load-in; the crew logs in again the next day.
ADMIN_SESSION_S = 12 * 3600
# Phones of a touring crew keep the viewer PIN for a week of shows.
VIEWER_SESSION_S = 7 * 24 * 3600
# Credentials may change under us (`micboardd passwd` writes the same database): re-read
# them this often at most.
CREDENTIALS_TTL_S = 2.0
MAX_REVOKED = 10_000  # logged-out session ids remembered until they would expire anyway

# Login throttling per client address.
MAX_FAILURES = 5  # a few typos on a phone keyboard are normal
LOCKOUT_FIRST_S = 30.0
LOCKOUT_MAX_S = 15 * 60.0  # doubling from 30 s: the 6th lockout in a row reaches the cap
FAILURE_MEMORY_S = 3600.0  # failures older than this are forgotten
MAX_TRACKED_CLIENTS = 4096  # bounded memory however many addresses try
# Wrong viewer PINs from every address together: a bucket of this many, refilled over the
# window. A 4-digit PIN then takes days of guessing even from a thousand addresses; the cost
# is that a guest who empties it keeps new phones out until it refills (logged-in phones and
# the admin password are not affected).
PIN_FAILURE_BUDGET = 50
PIN_BUDGET_WINDOW_S = 3600.0
# Logged-out session ids are kept in the store's settings table under this prefix.
REVOKED_PREFIX = "revoked_session:"


# ------------------------------------------------------------------------------ hashing


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str) -> str:
    """An scrypt hash string with its parameters and a random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(
        secret.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=SCRYPT_MAXMEM,
        dklen=SCRYPT_DKLEN,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, encoded: str) -> bool:
    """True when `secret` matches the hash; False for a wrong secret or a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            secret.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def check_password(password: str) -> str | None:
    """Why this admin password is not acceptable, or None."""
    if len(password) < PASSWORD_MIN:
        return f"the password must have at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"the password must have at most {PASSWORD_MAX} characters"
    return None


def check_pin(pin: str) -> str | None:
    """Why this viewer PIN is not acceptable, or None."""
    if not (PIN_MIN <= len(pin) <= PIN_MAX and pin.isascii() and pin.isdigit()):
        return f"the PIN must be {PIN_MIN} to {PIN_MAX} digits"
    return None


def _fingerprint(encoded_hash: str | None) -> str:
    """Ties a session to the credential it was issued for (not secret, not reversible)."""
    return hashlib.sha256((encoded_hash or "").encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------ sessions


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    role: Role
    expires: float  # epoch seconds
    token: str  # the cookie value
    csrf: str
    fingerprint: str = ""  # of the credential it was issued for (_fingerprint)

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def valid(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires


@dataclass(frozen=True, slots=True)
class Credentials:
    admin_hash: str | None
    pin_hash: str | None

    @property
    def admin_set(self) -> bool:
        return self.admin_hash is not None

    @property
    def pin_required(self) -> bool:
        return self.pin_hash is not None

    def fingerprint(self, role: Role) -> str:
        return _fingerprint(self.admin_hash if role == ADMIN else self.pin_hash)


class TokenSigner:
    """`v1.<role>.<expires>.<sid>.<fingerprint>.<mac>`: every field is URL-safe text."""

    VERSION = "v1"

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def csrf_for(self, sid: str) -> str:
        return self._mac(f"csrf.{sid}")

    def issue(self, role: Role, lifetime_s: float, fingerprint: str, now: float) -> Session:
        sid = secrets.token_urlsafe(16)
        expires = int(now + lifetime_s)
        payload = f"{self.VERSION}.{role}.{expires}.{sid}.{fingerprint}"
        token = f"{payload}.{self._mac(payload)}"
        return Session(sid, role, float(expires), token, self.csrf_for(sid), fingerprint)

    def read(self, token: str) -> tuple[Session, str] | None:
        """The session and the fingerprint it carries, if the signature is ours."""
        parts = token.split(".")
        if len(parts) != 6 or parts[0] != self.VERSION:
            return None
        payload, mac = ".".join(parts[:5]), parts[5]
        if not hmac.compare_digest(self._mac(payload).encode(), mac.encode()):
            return None
        _, role, expires, sid, fingerprint = parts[:5]
        if role not in (ADMIN, VIEWER) or not expires.isdigit():
            return None
        session = Session(
            sid,
            ADMIN if role == ADMIN else VIEWER,
            float(expires),
            token,
            self.csrf_for(sid),
            fingerprint,
        )
        return session, fingerprint


# ------------------------------------------------------------------------------ throttling


@dataclass(slots=True)
class _Client:
    failures: int = 0
    lockouts: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


class LoginLimiter:
    """Failed logins per client address: after MAX_FAILURES, locked out, doubling each time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()

    def _get(self, address: str) -> _Client | None:
        client = self._clients.get(address)
        if client is not None and self._clock() - client.last_failure > FAILURE_MEMORY_S:
            del self._clients[address]
            return None
        return client

    def locked_for(self, address: str) -> float:
        """Seconds until this client may try again (0: now)."""
        client = self._get(address)
        if client is None:
            return 0.0
        return max(0.0, client.locked_until - self._clock())

    def failed(self, address: str) -> float:
        """Record a failure; the lockout it started in seconds (0: none)."""
        now = self._clock()
        client = self._get(address) or _Client()
        self._clients[address] = client
        self._clients.move_to_end(address)
        while len(self._clients) > MAX_TRACKED_CLIENTS:
            self._clients.popitem(last=False)
        client.failures += 1
        client.last_failure = now
        if client.failures < MAX_FAILURES:
            return 0.0
        lockout = min(LOCKOUT_MAX_S, LOCKOUT_FIRST_S * 2.0 ** min(client.lockouts, 32))
        client.lockouts += 1
        client.failures = MAX_FAILURES - 1  # after a lockout, each further miss locks again
        client.locked_until = now + lockout
        return lockout

    def succeeded(self, address: str) -> None:
        self._clients.pop(address, None)


class FailureBudget:
    """A token bucket of failures shared by every address: `capacity` per `window_s`."""

    def __init__(
        self, capacity: float, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._capacity = capacity
        self._rate = capacity / window_s
        self._clock = clock
        self._tokens = capacity
        self._counted = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._counted) * self._rate)
        self._counted = now

    def wait_s(self) -> float:
        """Seconds until one more failure may be spent (0: now)."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self._rate

    def spend(self) -> None:
        self._refill()
        self._tokens -= 1.0

    def refund(self) -> None:
        self._tokens = min(self._capacity, self._tokens + 1.0)


# ------------------------------------------------------------------------------ the service


# Why a login was refused (LoginResult.refused).
LOCKED = "locked"  # this address failed too often: 429
WRONG = "wrong"  # 401
NOT_SET = "not_set"  # no admin password yet: 403
NO_PIN = "no_pin"  # no viewer PIN to log in to: 400
IN_FLIGHT = "in_flight"  # this address's previous attempt is still being checked: 429
BUSY = "busy"  # the hashing queue is full: 503
PIN_BUDGET = "pin_budget"  # too many wrong PINs from everyone: 429


@dataclass(frozen=True, slots=True)
class LoginResult:
    session: Session | None = None
    refused: str | None = None  # one of the names above
    retry_after_s: float = 0.0
    new_lockout: bool = False  # this failure started the lockout (log it once, not per try)


class Auth:
    """Credentials from the store, sessions, throttling. One per daemon."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        counters: Counters | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.counters = counters or Counters()
        self.limiter = LoginLimiter()
        self.pin_budget = FailureBudget(PIN_FAILURE_BUDGET, PIN_BUDGET_WINDOW_S)
        self._signer: TokenSigner | None = None
        self._creds: Credentials | None = None
        self._creds_at = float("-inf")
        self._revoked: OrderedDict[str, float] = OrderedDict()
        self._revoked_loaded = False
        self._hashing = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
        self._queued = 0  # checks waiting for or holding a hashing slot
        self._in_flight: set[str] = set()  # addresses with an attempt being checked
        self._key_lock = asyncio.Lock()

    async def credentials(self, fresh: bool = False) -> Credentials:
        now = time.monotonic()
        if fresh or self._creds is None or now - self._creds_at > CREDENTIALS_TTL_S:
            self._creds = Credentials(
                await self.store.get_setting(ADMIN_HASH_KEY),
                await self.store.get_setting(VIEWER_PIN_KEY),
            )
            self._creds_at = now
        return self._creds

    @property
    def cached_credentials(self) -> Credentials | None:
        """The credentials as last read (for synchronous re-checks of open sessions)."""
        return self._creds

    async def signer(self) -> TokenSigner:
        if self._signer is None:
            async with self._key_lock:
                if self._signer is None:
                    stored = await self.store.get_setting(SESSION_KEY_KEY)
                    if stored is None:
                        stored = secrets.token_hex(32)
                        await self.store.set_setting(SESSION_KEY_KEY, stored)
                    self._signer = TokenSigner(bytes.fromhex(stored))
                    await self._load_revoked()
        return self._signer

    async def _load_revoked(self) -> None:
        """Logouts from before a restart (a few rows; expired ones are dropped here)."""
        if self._revoked_loaded:
            return
        now = self.clock()
        found: list[tuple[float, str]] = []
        for key, value in (await self.store.settings_with_prefix(REVOKED_PREFIX)).items():
            try:
                expires = float(value)
            except ValueError:
                continue
            if expires > now:
                found.append((expires, key[len(REVOKED_PREFIX) :]))
        for expires, sid in sorted(found)[-MAX_REVOKED:]:
            self._revoked[sid] = expires
        self._revoked_loaded = True

    async def _verify(self, secret: str, encoded: str) -> bool:
        async with self._hashing:
            self.counters.count("login_checked")
            # scrypt takes a tenth of a second or more: never on the event loop.
            return await asyncio.to_thread(verify_secret, secret, encoded)

    async def login(self, address: str, *, password: str | None, pin: str | None) -> LoginResult:
        wait = self.limiter.locked_for(address)
        if wait > 0:
            return LoginResult(refused=LOCKED, retry_after_s=wait)
        # Before any await: a flood from one address gets one check, the rest are refused.
        if address in self._in_flight:
            self.counters.count("login_refused_in_flight")
            return LoginResult(refused=IN_FLIGHT, retry_after_s=BUSY_RETRY_S)
        if self._queued >= MAX_HASH_QUEUE:
            self.counters.count("login_refused_busy")
            return LoginResult(refused=BUSY, retry_after_s=BUSY_RETRY_S)
        self._in_flight.add(address)
        self._queued += 1
        try:
            return await self._login(address, password, pin)
        finally:
            self._queued -= 1
            self._in_flight.discard(address)

    async def _login(self, address: str, password: str | None, pin: str | None) -> LoginResult:
        creds = await self.credentials(fresh=True)
        role: Role
        if password is not None:
            if creds.admin_hash is None:
                return LoginResult(refused=NOT_SET)
            role, secret, encoded = ADMIN, password, creds.admin_hash
        else:
            if creds.pin_hash is None:
                return LoginResult(refused=NO_PIN)
            budget_wait = self.pin_budget.wait_s()
            if budget_wait > 0:
                return LoginResult(refused=PIN_BUDGET, retry_after_s=budget_wait)
            role, secret, encoded = VIEWER, pin or "", creds.pin_hash
        # Counted as a failure before the check (and forgiven if it succeeds): the count
        # never waits behind the hashing queue.
        lockout = self.limiter.failed(address)
        if role == VIEWER:
            self.pin_budget.spend()
        if not await self._verify(secret, encoded):
            return LoginResult(
                refused=LOCKED if lockout else WRONG,
                retry_after_s=lockout,
                new_lockout=lockout > 0,
            )
        self.limiter.succeeded(address)
        if role == VIEWER:
            self.pin_budget.refund()
        lifetime = ADMIN_SESSION_S if role == ADMIN else VIEWER_SESSION_S
        signer = await self.signer()
        return LoginResult(signer.issue(role, lifetime, creds.fingerprint(role), self.clock()))

    async def session(self, token: str | None) -> Session | None:
        """The live session this cookie value stands for, or None."""
        if not token or len(token) > 512:
            return None
        read = (await self.signer()).read(token)
        if read is None:
            return None
        session, fingerprint = read
        if not session.valid(self.clock()) or session.sid in self._revoked:
            return None
        creds = await self.credentials()
        if not hmac.compare_digest(creds.fingerprint(session.role), fingerprint):
            # Changed under us (or just now by `micboardd passwd`): check the store again.
            creds = await self.credentials(fresh=True)
            if not hmac.compare_digest(creds.fingerprint(session.role), fingerprint):
                return None
        if session.role == VIEWER and not creds.pin_required:
            return None  # the PIN was switched off: a viewer needs no session
        return session

    def still_valid(self, session: Session | None) -> bool:
        """Whether a session found earlier (an open WebSocket's) still stands, without I/O.

        None stands for "no session": valid while no viewer PIN is required.
        """
        creds = self._creds
        if creds is None:
            return True  # nothing read yet: nothing can have changed
        if session is None:
            return not creds.pin_required
        if not session.valid(self.clock()) or session.sid in self._revoked:
            return False
        if session.role == VIEWER and not creds.pin_required:
            return True  # the PIN was switched off: viewers may look without one
        return hmac.compare_digest(creds.fingerprint(session.role), session.fingerprint)

    async def revoke(self, session: Session) -> None:
        """Log out: this session id is refused from now on, across restarts too."""
        await self.signer()  # loads the logouts stored before a restart
        now = self.clock()
        gone = [sid for sid, expires in self._revoked.items() if expires <= now]
        for sid in gone:
            del self._revoked[sid]  # expired anyway: the signature check refuses it
        self._revoked[session.sid] = session.expires
        while len(self._revoked) > MAX_REVOKED:
            gone.append(self._revoked.popitem(last=False)[0])
        statements: list[tuple[str, tuple[str, ...]]] = [
            set_setting_statement(REVOKED_PREFIX + session.sid, repr(session.expires))
        ]
        statements += [delete_setting_statement(REVOKED_PREFIX + s) for s in gone]
        await self.store.transaction(statements)

    async def set_pin(self, pin: str | None) -> None:
        """Set (or with None, switch off) the viewer PIN; existing viewer sessions end."""
        if pin is None:
            await self.store.delete_setting(VIEWER_PIN_KEY)
        else:
            async with self._hashing:
                encoded = await asyncio.to_thread(hash_secret, pin)
            await self.store.set_setting(VIEWER_PIN_KEY, encoded)
        await self.credentials(fresh=True)
