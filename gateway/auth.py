"""API-key authentication for HTTP: who is calling, and may they call again this soon.

`AuthMiddleware` resolves the caller once per request and leaves the answer in
`request.state.principal` (a `Principal`, or None for an anonymous caller). It refuses only
what is wrong with a key that *was* sent (401), a key over its rate (429), and a client
guessing keys (429); whether an anonymous caller may have a route or field is decided there,
with the `ANONYMOUS_READS` setting.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.responses import error_response
from storage import api_keys
from storage.api_keys import Principal
from storage.api_keys import Scope as ApiScope
from storage.errors import StorageError
from storage.rate_limit import TokenBucket
from storage.usage import UsageRecorder

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
WallClock = Callable[[], datetime]
# Set by a handler (e.g. the GraphQL view: "query BarsForWatchlist") to audit more than a path.
AUDIT_OPERATION_KEY = "audit_operation"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuthError(Exception):
    """A request refused by authentication; carries its HTTP status and error code."""

    status_code = 401
    code = "UNAUTHENTICATED"


class InvalidApiKey(AuthError):
    """A key was sent but is unknown, revoked or expired."""


class MissingApiKey(AuthError):
    """No key was sent where one is needed."""


class Forbidden(AuthError):
    """The key is valid but lacks the scope needed."""

    status_code = 403
    code = "FORBIDDEN"


class TooManyAttempts(AuthError):
    """This client sent too many bad keys lately; refused without looking the key up."""

    status_code = 429
    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


def principal_of(conn: HTTPConnection) -> Principal | None:
    """The caller AuthMiddleware resolved for this request (None: anonymous)."""
    principal = conn.scope.get("state", {}).get("principal")
    return principal if isinstance(principal, Principal) else None


def authorize(
    principal: Principal | None, scope: ApiScope, *, anonymous_reads: bool = False
) -> None:
    """Raise MissingApiKey/Forbidden unless the caller may do `scope` (for REST routes).

    Anonymous callers get `read` only, and only when `anonymous_reads` is on.
    """
    if principal is None:
        if scope is ApiScope.READ and anonymous_reads:
            return
        raise MissingApiKey("an API key is required (X-API-Key or Authorization: Bearer)")
    if not principal.has(scope):
        raise Forbidden(f"this API key lacks the {scope.value!r} scope")


class KeyCache:
    """Verified keys for `ttl_seconds`, unknown ones for `negative_ttl_seconds`.

    Keyed by the key's digest, never the key. A revoked key keeps working in a process for at
    most `ttl_seconds` (or until `forget(key_id)` there); a repeated bad key costs one lookup
    per `negative_ttl_seconds`. Bounded: the oldest entries go first.
    """

    def __init__(
        self,
        ttl_seconds: float = 30.0,
        *,
        negative_ttl_seconds: float = 5.0,
        max_entries: int = 10_000,
        clock: Clock = time.monotonic,
    ) -> None:
        if ttl_seconds < 0 or negative_ttl_seconds < 0 or max_entries < 1:
            raise ValueError("cache TTLs must be >= 0 and max_entries >= 1")
        self._ttl = ttl_seconds
        self._negative_ttl = negative_ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def get(self, digest: str) -> tuple[bool, Principal | None]:
        """(True, principal-or-None) on a fresh hit, (False, None) on a miss."""
        entry = self._entries.get(digest)
        if entry is None:
            return False, None
        expires, principal = entry
        if self._clock() >= expires:
            del self._entries[digest]
            return False, None
        return True, principal

    def put(self, digest: str, principal: Principal | None) -> None:
        ttl = self._ttl if principal is not None else self._negative_ttl
        if ttl <= 0:
            return
        self._entries.pop(digest, None)
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[digest] = (self._clock() + ttl, principal)

    def forget(self, key_id: int) -> None:
        """Drop a key at once (after revoking, restoring or deleting it in this process).

        Unknown-key entries go too: a restored key was remembered as unknown while revoked.
        """
        stale = [d for d, (_, p) in self._entries.items() if p is None or p.key_id == key_id]
        for digest in stale:
            del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)


class _Buckets:
    """Token buckets by name, bounded: the least recently created go first."""

    def __init__(self, max_entries: int, clock: Clock) -> None:
        self._max = max_entries
        self._clock = clock
        self._buckets: dict[object, TokenBucket] = {}

    def take(self, name: object, per_minute: float) -> float | None:
        """None when `name` may proceed, else seconds until it may."""
        bucket = self._buckets.get(name)
        if bucket is None or bucket.rate_per_second != per_minute / 60.0:
            while len(self._buckets) >= self._max:
                del self._buckets[next(iter(self._buckets))]
            bucket = TokenBucket(per_minute / 60.0, max(1.0, per_minute), clock=self._clock)
            self._buckets[name] = bucket
        allowed, retry_after = bucket.try_acquire()
        return None if allowed else retry_after

    def wait(self, name: object) -> float:
        """Seconds until `name` has a token again, without taking one (0: it has one now)."""
        bucket = self._buckets.get(name)
        if bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / bucket.rate_per_second


class Authenticator:
    """Turns a request's key into a Principal (cached) and enforces per-key request rates.

    `default_rate_limit_per_minute` applies to keys without their own limit (0: unlimited);
    a key may burst up to its per-minute limit, then refills evenly. `failed_attempts_per_minute`
    bounds bad keys per client address (0: unlimited), so guessing costs no database lookups.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        cache: KeyCache | None = None,
        default_rate_limit_per_minute: float = 600.0,
        failed_attempts_per_minute: float = 30.0,
        clock: Clock = time.monotonic,
        now: WallClock = _utc_now,
    ) -> None:
        if default_rate_limit_per_minute < 0 or failed_attempts_per_minute < 0:
            raise ValueError("rate limits must be >= 0 (0 means unlimited)")
        self.pool = pool
        self.cache = cache if cache is not None else KeyCache(clock=clock)
        self.default_rate_limit_per_minute = default_rate_limit_per_minute
        self._failed_per_minute = failed_attempts_per_minute
        self._now = now
        self._key_buckets = _Buckets(100_000, clock)
        self._failure_buckets = _Buckets(10_000, clock)

    async def authenticate(self, conn: HTTPConnection) -> Principal | None:
        """None when no key was sent; raises InvalidApiKey/TooManyAttempts for a bad one."""
        raw = extract_key(conn.headers)
        if raw is None:
            return None
        client = conn.client.host if conn.client else "unknown"
        principal = await self.verify_key(raw, client=client)
        if principal is None:
            raise InvalidApiKey("the API key is unknown, revoked or expired")
        return principal

    async def verify_key(self, raw: str, *, client: str = "unknown") -> Principal | None:
        """The Principal for `raw`, via the cache; None when the key is not valid now."""
        # junk that cannot be a key costs no hash, no cache entry and no lookup
        principal = await self._lookup(raw, client) if api_keys.looks_like_key(raw) else None
        if principal is not None and principal.expired(self._now()):
            principal = None
        if principal is None:
            self._count_failure(client)
            log.info("invalid API key", extra={"client": client})
        return principal

    async def _lookup(self, raw: str, client: str) -> Principal | None:
        digest = api_keys.hash_key(raw)
        hit, principal = self.cache.get(digest)
        if hit:
            return principal
        wait = self._failure_buckets.wait(client) if self._failed_per_minute else 0.0
        if wait > 0:
            raise TooManyAttempts("too many invalid API keys from this client", wait)
        principal = await api_keys.verify(self.pool, raw, now=self._now())
        self.cache.put(digest, principal)
        return principal

    def check_rate(self, principal: Principal) -> float | None:
        """None when the key may make this request now, else seconds until it may."""
        per_minute = principal.rate_limit_per_minute or self.default_rate_limit_per_minute
        if not per_minute:
            return None
        return self._key_buckets.take(principal.key_id, per_minute)

    def forget(self, key_id: int) -> None:
        """Make a revocation or deletion made in this process take effect at once."""
        self.cache.forget(key_id)

    def _count_failure(self, client: str) -> None:
        """Each bad key takes a token from its client's budget; an empty budget refuses."""
        if self._failed_per_minute:
            self._failure_buckets.take(client, self._failed_per_minute)


def _retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class AuthMiddleware:
    """Pure ASGI: resolve the caller, enforce its rate, audit the request once it is answered.

    `authenticator`/`recorder` default to `app.state.authenticator` / `app.state.usage_recorder`
    looked up per request, since both need the pool the lifespan opens. Paths in
    `exempt_paths` (e.g. `/health`) are never authenticated, not even a key sent to them.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator | None = None,
        recorder: UsageRecorder | None = None,
        exempt_paths: Collection[str] = (),
        clock: Clock = time.perf_counter,
    ) -> None:
        self.app = app
        self._authenticator = authenticator
        self._recorder = recorder
        self._exempt = frozenset(exempt_paths)
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = None
        if scope["path"] in self._exempt:
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        authenticator = self._authenticator or _from_state(conn, "authenticator", Authenticator)
        started = self._clock()
        try:
            principal = await authenticator.authenticate(conn)
        except AuthError as exc:
            await self._refuse(scope, receive, send, exc)
            return
        except StorageError:
            log.exception("API key lookup failed")
            response = error_response(503, "authentication is unavailable, retry later", "INTERNAL")
            await response(scope, receive, send)
            return
        state["principal"] = principal
        if principal is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        recorder = self._recorder or _from_state(conn, "usage_recorder", UsageRecorder)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            retry_after = authenticator.check_rate(principal)
            if retry_after is None:
                await self.app(scope, receive, send_status)
            else:
                response = error_response(
                    429,
                    "rate limit exceeded for this API key",
                    "RATE_LIMITED",
                    **{"Retry-After": _retry_after_header(retry_after)},
                )
                await response(scope, receive, send_status)
        finally:
            recorder.record(
                principal.key_id,
                endpoint=str(state.get(AUDIT_OPERATION_KEY) or scope["path"]),
                method=scope["method"],
                status_code=status,
                duration_ms=round((self._clock() - started) * 1000, 3),
            )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: AuthError) -> None:
        if scope["type"] == "websocket":  # before accept: the server answers 403
            await send({"type": "websocket.close", "code": 4000 + exc.status_code})
            return
        headers = {"WWW-Authenticate": 'Bearer realm="marketgraph"'}
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": _retry_after_header(exc.retry_after)}
        response = error_response(exc.status_code, str(exc), exc.code, **headers)
        await response(scope, receive, send)


def _from_state(conn: HTTPConnection, name: str, kind: type[T]) -> T:
    value = getattr(conn.app.state, name, None) if "app" in conn.scope else None
    if not isinstance(value, kind):
        raise RuntimeError(
            f"AuthMiddleware needs app.state.{name} (a {kind.__name__}); set it in the lifespan"
        )
    return value
