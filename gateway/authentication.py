"""Who is calling: a request's key turned into a `KeyUser` (carrying the `Principal`).

`KeyAuthentication` (run by the access middleware, gateway/access_stack.py) leaves the caller
anonymous when no key was sent. It refuses only what is wrong with a key that *was* sent
(401), and a client guessing keys (429); what an anonymous caller may do is decided where
access is declared (schema permissions, `requires(scope)`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from functools import lru_cache

import asyncpg
from starlette.authentication import AuthCredentials, BaseUser
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Scope as AsgiScope

from coordination.windows import SharedWindows
from domain.access import Principal, Scope
from domain.clocks import Monotonic, WallClock, utc_now
from domain.errors import RateLimited, ServiceError, Unauthenticated
from gateway.buckets import Buckets, shared_or_local
from gateway.client_address import client_address
from gateway.key_cache import KeyCache
from gateway.rate_headers import whole_seconds
from gateway.responses import service_error_response
from gateway.scope_headers import scope_headers
from storage import api_keys

log = logging.getLogger(__name__)
KEY_HEADERS = frozenset({b"x-api-key", b"authorization"})


def extract_key(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries: `X-API-Key`, else `Authorization: Bearer <key>`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    key = lowered.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, credentials = lowered.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def retry_after_header(seconds: float) -> str:
    return str(max(1, whole_seconds(seconds)))


class KeyUser(BaseUser):
    """An authenticated caller: Starlette's user, carrying our Principal."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.principal.name

    @property
    def identity(self) -> str:
        return str(self.principal.key_id)


def principal_of(conn: HTTPConnection) -> Principal | None:
    """The caller the authentication middleware resolved (None: anonymous)."""
    user = conn.scope.get("user")
    return user.principal if isinstance(user, KeyUser) else None


class Authenticator:
    """Turns a key into a Principal (cached); bounds bad keys per client address.

    Each bad key a client sends counts against its address (`failed_attempts_per_minute`, 0:
    unlimited); past that its bad keys are answered 429 instead of 401. Only bad keys count,
    and a valid key is always accepted, so clients sharing an address (a NAT, a proxy) are
    never locked out by one that keeps guessing. A bad key costs one indexed lookup by digest,
    and repeating it none (the negative cache).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        cache: KeyCache | None = None,
        failed_attempts_per_minute: float = 30.0,
        clock: Monotonic = time.monotonic,
        now: WallClock = utc_now,
        windows: SharedWindows | None = None,
    ) -> None:
        if failed_attempts_per_minute < 0:
            raise ValueError("failed_attempts_per_minute must be >= 0 (0 means unlimited)")
        self.pool = pool
        self.cache = cache if cache is not None else KeyCache(clock=clock)
        self._failed_per_minute = failed_attempts_per_minute
        self._now = now
        self._failures = Buckets(10_000, clock)
        self._windows = windows

    async def verify_key(self, raw: str, *, client: str = "unknown") -> Principal | None:
        """The Principal for `raw`, via the cache; None when the key is not valid now.

        Raises RateLimited when this client sent too many bad keys lately.
        """
        # junk that cannot be a key costs no hash, no cache entry and no lookup
        principal = await self._lookup(raw) if api_keys.looks_like_key(raw) else None
        if (
            principal is not None
            and principal.expires_at is not None  # the clock read only for a key that expires
            and principal.expired(self._now())
        ):
            principal = None
        if principal is None:
            log.info("invalid API key", extra={"client": client})
            if self._failed_per_minute:
                standing = await shared_or_local(
                    self._windows, self._failures, "bad-key", client, self._failed_per_minute
                )
                if not standing.allowed:
                    raise RateLimited("too many invalid API keys from this client", standing.reset)
        return principal

    async def _lookup(self, raw: str) -> Principal | None:
        digest = api_keys.hash_key(raw)
        hit, principal = self.cache.get(digest)
        if hit:
            return principal
        principal = await api_keys.verify(self.pool, raw, now=self._now())
        self.cache.put(digest, principal)
        return principal

    def forget(self, key_id: int) -> None:
        """Make a revocation or deletion made in this process take effect at once."""
        self.cache.forget(key_id)


class KeyAuthentication:
    """The caller a request's key names, via `Authenticator` (from `app.state` by default).

    Paths in `exempt_paths` (e.g. `/health`) are never authenticated, not even a key sent
    to them.
    """

    def __init__(
        self, authenticator: Authenticator | None = None, exempt_paths: Collection[str] = ()
    ) -> None:
        self._authenticator = authenticator
        self._exempt = frozenset(exempt_paths)

    async def user(self, scope: AsgiScope) -> KeyUser | None:
        """The request's KeyUser, None without a key (or on an exempt path).

        Raises the ServiceError to answer with: Unauthenticated, RateLimited (too many bad
        keys), Unavailable (the database is down).
        """
        if scope["path"] in self._exempt:
            return None
        raw = extract_key(scope_headers(scope, KEY_HEADERS))
        if raw is None:
            return None
        authenticator = self._authenticator or scope["app"].state.authenticator
        # the database down: Unavailable, its cause logged where it was raised
        principal = await authenticator.verify_key(raw, client=client_address(scope))
        if principal is None:
            raise Unauthenticated("the API key is unknown, revoked or expired")
        return KeyUser(principal)


def credentials(principal: Principal) -> AuthCredentials:
    """Starlette's `scope["auth"]`: the scopes the key grants, implied ones included."""
    return AuthCredentials(list(_granted(principal.scopes)))


@lru_cache(maxsize=16)  # one entry per combination of scopes
def _granted(scopes: frozenset[Scope]) -> tuple[str, ...]:
    holder = Principal(0, "", scopes)
    return tuple(scope.value for scope in Scope if holder.has(scope))


def refusal(error: ServiceError) -> Response:
    """The JSON refusal, with `WWW-Authenticate` (401) or `Retry-After` (429)."""
    headers: dict[str, str] = {}
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="marketgraph"'
    if isinstance(error, RateLimited) and error.retry_after is not None:
        headers["Retry-After"] = retry_after_header(error.retry_after)
    return service_error_response(error, headers)
