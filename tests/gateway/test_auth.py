"""Key auth over HTTP: who gets in, how often, what is audited, and what never reaches the logs."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket

from domain.access import Principal, Scope
from domain.errors import HTTP_STATUS, ServiceError
from gateway import cli_keys
from gateway.access_stack import access_middleware
from gateway.authentication import Authenticator, KeyUser, extract_key, principal_of
from gateway.key_cache import KeyCache
from gateway.rate_limit import KeyRateLimiter
from gateway.redaction import RedactingFilter, install_redaction, redact
from resolvers.context import make_context
from storage import api_keys
from storage.pool import create_pool
from storage.usage import UsageRecorder
from tests.support.databases import Database
from tests.support.graphql import make_services
from tests.support.time import FakeTime

log = logging.getLogger("tests.gateway.app")


class CountingPool:
    """The pool, counting key lookups (fetchrow), to show what the cache saves."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.lookups = 0

    async def fetchrow(self, *args: Any) -> Any:
        self.lookups += 1
        return await self.pool.fetchrow(*args)


@dataclass
class Harness:
    client: httpx.AsyncClient
    db: Database
    time: FakeTime
    pool: CountingPool
    authenticator: Authenticator
    recorder: UsageRecorder

    async def key(self, name: str = "ci", **options: Any) -> tuple[int, str]:
        record, raw = await api_keys.create_key(self.db.pool, name, [Scope.READ], **options)
        return record.id, raw


async def whoami(request: Request) -> JSONResponse:
    principal = principal_of(request)
    assert principal is (request.user.principal if isinstance(request.user, KeyUser) else None)
    if principal is None:
        return JSONResponse({"principal": None})
    return JSONResponse(
        {"key_id": principal.key_id, "name": principal.name, "scopes": sorted(principal.scopes)}
    )


async def chatty(request: Request) -> JSONResponse:
    """An app that carelessly logs what it was sent."""
    log.debug("headers %s", dict(request.headers))
    log.info("raw headers %r", request.headers.raw)
    log.info("upstream %s", "https://api.polygon.io/v2/aggs?apiKey=pk_upstream_123&adjusted=1")
    log.warning("request", extra={"headers": request.headers, "url": str(request.url)})
    try:
        raise RuntimeError(f"failed with {request.headers.get('authorization')}")
    except RuntimeError:
        log.exception("handled")
    return JSONResponse({"ok": True})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "healthy"})


def make_app(
    authenticator: Authenticator, recorder: UsageRecorder, limiter: KeyRateLimiter
) -> Starlette:
    return Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/chatty", chatty),
            Route("/health", health),
        ],
        middleware=access_middleware(
            exempt_paths={"/health"},
            authenticator=authenticator,
            recorder=recorder,
            limiter=limiter,
        ),
    )


async def _harness(
    portable_db: Database,
    *,
    default_rate_limit_per_minute: float = 600,
    failed_attempts_per_minute: float = 30,
) -> AsyncIterator[Harness]:
    time = FakeTime(wall_start=datetime.now(UTC))
    pool = CountingPool(portable_db.pool)
    authenticator = Authenticator(
        cast(asyncpg.Pool, pool),
        cache=KeyCache(30, negative_ttl_seconds=5, clock=time.clock),
        failed_attempts_per_minute=failed_attempts_per_minute,
        clock=time.clock,
        now=time.wall,
    )
    recorder = UsageRecorder(portable_db.pool)
    limiter = KeyRateLimiter(default_rate_limit_per_minute, clock=time.clock)
    app = make_app(authenticator, recorder, limiter)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Harness(client, portable_db, time, pool, authenticator, recorder)


@pytest.fixture
async def h(portable_db: Database) -> AsyncIterator[Harness]:
    async for harness in _harness(portable_db):
        yield harness


def key_header(raw: str) -> dict[str, str]:
    return {"X-API-Key": raw}


async def test_no_key_is_anonymous_not_refused(h: Harness) -> None:
    response = await h.client.get("/whoami")

    assert response.status_code == 200 and response.json() == {"principal": None}


async def test_a_valid_key_is_accepted_in_either_header(h: Harness) -> None:
    key_id, raw = await h.key("dashboard")
    expected = {"key_id": key_id, "name": "dashboard", "scopes": ["read"]}

    by_header = await h.client.get("/whoami", headers={"X-API-Key": raw})
    by_bearer = await h.client.get("/whoami", headers={"Authorization": f"Bearer {raw}"})

    assert by_header.status_code == by_bearer.status_code == 200
    assert by_header.json() == by_bearer.json() == expected
    assert h.pool.lookups == 1  # the second request was answered from the cache


@pytest.mark.parametrize("sent", ["wrong", "mg_" + "A" * 43, "Bearer-less"])
async def test_a_key_that_was_sent_but_is_unknown_gets_401(h: Harness, sent: str) -> None:
    response = await h.client.get("/whoami", headers=key_header(sent))

    assert response.status_code == 401
    assert response.json() == {
        "detail": "the API key is unknown, revoked or expired",
        "code": "UNAUTHENTICATED",
    }
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_key_is_refused_once_the_cache_ttl_has_passed(h: Harness) -> None:
    key_id, raw = await h.key()
    assert (await h.client.get("/whoami", headers=key_header(raw))).status_code == 200

    await api_keys.set_active(h.db.pool, key_id, False)
    h.time.advance(29)
    still_cached = await h.client.get("/whoami", headers=key_header(raw))
    h.time.advance(2)
    refused = await h.client.get("/whoami", headers=key_header(raw))

    assert still_cached.status_code == 200
    assert refused.status_code == 401

    await api_keys.set_active(h.db.pool, key_id, True)
    h.time.advance(5)  # unknown keys are remembered only briefly
    assert (await h.client.get("/whoami", headers=key_header(raw))).status_code == 200


async def test_forget_revokes_at_once_in_this_process(h: Harness) -> None:
    key_id, raw = await h.key()
    await h.client.get("/whoami", headers=key_header(raw))

    await api_keys.delete_key(h.db.pool, key_id)
    h.authenticator.forget(key_id)

    assert (await h.client.get("/whoami", headers=key_header(raw))).status_code == 401


async def test_expired_keys_are_refused_even_while_cached(h: Harness) -> None:
    now = h.time.wall()
    _, lapsed = await h.key("lapsed", expires_at=now - timedelta(minutes=1))
    _, expiring = await h.key("expiring", expires_at=now + timedelta(minutes=1))

    assert (await h.client.get("/whoami", headers=key_header(lapsed))).status_code == 401
    assert (await h.client.get("/whoami", headers=key_header(expiring))).status_code == 200
    h.time.set_wall(now + timedelta(minutes=2))
    assert (await h.client.get("/whoami", headers=key_header(expiring))).status_code == 401


async def test_a_key_gets_exactly_its_rate_then_429_with_retry_after(h: Harness) -> None:
    _, limited = await h.key("limited", rate_limit_per_minute=3)
    _, other = await h.key("other")

    statuses = [
        (await h.client.get("/whoami", headers=key_header(limited))).status_code for _ in range(3)
    ]
    refused = await h.client.get("/whoami", headers=key_header(limited))

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "rate limit exceeded for this API key",
        "code": "RATE_LIMITED",
    }
    assert refused.headers["retry-after"] == "20"  # 3 a minute: one every 20 s
    assert (await h.client.get("/whoami", headers=key_header(other))).status_code == 200
    h.time.advance(20)
    assert (await h.client.get("/whoami", headers=key_header(limited))).status_code == 200


async def test_every_keyed_response_says_where_the_key_stands(h: Harness) -> None:
    _, limited = await h.key("limited", rate_limit_per_minute=3)
    _, default = await h.key("default")

    answers = [await h.client.get("/whoami", headers=key_header(limited)) for _ in range(4)]
    h.time.advance(5)
    waiting = await h.client.get("/whoami", headers=key_header(limited))
    other = await h.client.get("/whoami", headers=key_header(default))

    assert {a.headers["ratelimit-policy"] for a in answers} == {'"key";q=3;w=60'}
    assert [a.headers["ratelimit"] for a in answers] == [
        '"key";r=2;t=20',
        '"key";r=1;t=20',
        '"key";r=0;t=20',
        '"key";r=0;t=20',  # the 429
    ]
    assert answers[3].status_code == 429
    assert waiting.headers["ratelimit"] == '"key";r=0;t=15'
    assert other.headers["ratelimit-policy"] == '"key";q=600;w=60'  # the default rate
    assert other.headers["ratelimit"] == '"key";r=599;t=1'  # 10 a second come back


async def test_keys_without_their_own_limit_get_the_default(portable_db: Database) -> None:
    async for h in _harness(portable_db, default_rate_limit_per_minute=2):
        _, raw = await h.key()
        statuses = [
            (await h.client.get("/whoami", headers=key_header(raw))).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]


async def test_guessing_keys_past_the_budget_is_429_but_a_valid_key_still_gets_in(
    portable_db: Database,
) -> None:
    async for h in _harness(portable_db, failed_attempts_per_minute=3):
        _, valid = await api_keys.create_key(portable_db.pool, "shares the address")
        guesses = [api_keys.generate_key() for _ in range(6)]
        statuses = [
            (await h.client.get("/whoami", headers=key_header(g))).status_code for g in guesses
        ]
        assert statuses == [401, 401, 401, 429, 429, 429]
        assert h.pool.lookups == 6  # one indexed lookup per distinct guess

        assert (await h.client.get("/whoami", headers=key_header(valid))).status_code == 200
        again = await h.client.get("/whoami", headers=key_header(guesses[0]))
        assert again.status_code == 429 and h.pool.lookups == 7  # repeated guess: cached


async def test_a_client_guessing_keys_is_told_when_to_try_again(portable_db: Database) -> None:
    async for h in _harness(portable_db, failed_attempts_per_minute=3):
        for _ in range(3):
            bad = await h.client.get("/whoami", headers=key_header(api_keys.generate_key()))
            assert bad.status_code == 401 and "retry-after" not in bad.headers
        refused = await h.client.get("/whoami", headers=key_header(api_keys.generate_key()))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "20"  # 3 a minute
        assert refused.json() == {
            "detail": "too many invalid API keys from this client",
            "code": "RATE_LIMITED",
        }
        h.time.advance(19.5)
        nearly = await h.client.get("/whoami", headers=key_header(api_keys.generate_key()))
        assert nearly.status_code == 429 and nearly.headers["retry-after"] == "1"  # half a second


async def test_bad_keys_are_counted_per_client_address(portable_db: Database) -> None:
    """Past its budget one address guessing keys is refused; another address is not."""
    time = FakeTime()
    authenticator = Authenticator(portable_db.pool, failed_attempts_per_minute=2, clock=time.clock)
    limiter = KeyRateLimiter(600, clock=time.clock)
    app = make_app(authenticator, UsageRecorder(portable_db.pool), limiter)

    def client_at(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 50_000))
        return httpx.AsyncClient(transport=transport, base_url="http://test")

    async with client_at("10.0.0.1") as guesser, client_at("10.0.0.2") as other:
        statuses = [
            (await guesser.get("/whoami", headers=key_header(api_keys.generate_key()))).status_code
            for _ in range(3)
        ]
        assert statuses == [401, 401, 429]
        assert (
            await other.get("/whoami", headers=key_header(api_keys.generate_key()))
        ).status_code == 401


async def test_a_bad_key_budget_of_zero_is_unlimited_and_a_negative_one_is_refused(
    portable_db: Database,
) -> None:
    with pytest.raises(
        ValueError, match=r"^failed_attempts_per_minute must be >= 0 \(0 means unlimited\)$"
    ):
        Authenticator(portable_db.pool, failed_attempts_per_minute=-1)
    async for h in _harness(portable_db, failed_attempts_per_minute=0):
        guesses = [api_keys.generate_key() for _ in range(40)]
        statuses = {
            (await h.client.get("/whoami", headers=key_header(g))).status_code for g in guesses
        }
        assert statuses == {401}


async def test_junk_that_cannot_be_a_key_costs_no_lookup_and_no_cache_entry(h: Harness) -> None:
    for junk in ("wrong", "mg_short", "Bearer-less"):
        assert (await h.client.get("/whoami", headers=key_header(junk))).status_code == 401
    assert h.pool.lookups == 0 and len(h.authenticator.cache) == 0


async def test_a_repeated_bad_key_is_looked_up_once(h: Harness) -> None:
    bad = api_keys.generate_key()
    for _ in range(3):
        await h.client.get("/whoami", headers=key_header(bad))

    assert h.pool.lookups == 1


async def test_exempt_paths_ignore_keys(h: Harness) -> None:
    response = await h.client.get("/health", headers=key_header("wrong"))

    assert response.status_code == 200 and h.pool.lookups == 0


async def test_authenticated_requests_are_audited_after_flush(h: Harness) -> None:
    key_id, raw = await h.key("limited", rate_limit_per_minute=2)
    await h.client.get("/whoami")  # anonymous: not audited
    await h.client.get("/whoami", headers=key_header(raw))
    await h.client.post("/nowhere", headers=key_header(raw))
    await h.client.get("/whoami", headers=key_header(raw))

    assert (await api_keys.audit_entries(h.db.pool, key_id))[1] == 0  # not per request
    await h.recorder.flush()

    entries, total = await api_keys.audit_entries(h.db.pool, key_id)
    assert total == 3
    assert [(e.method, e.endpoint, e.status_code) for e in reversed(entries)] == [
        ("GET", "/whoami", 200),
        ("POST", "/nowhere", 404),
        ("GET", "/whoami", 429),
    ]
    assert all(e.duration_ms is not None and e.duration_ms >= 0 for e in entries)
    record = await api_keys.get_key(h.db.pool, key_id)
    assert record.request_count == 3 and record.last_used is not None


async def _socket(websocket: WebSocket) -> None:
    await websocket.accept()
    user = websocket.user
    name = user.principal.name if isinstance(user, KeyUser) else None
    await websocket.send_json({"name": name, "scopes": websocket.auth.scopes})
    await websocket.close()


async def _handshake(app: Starlette, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    """One websocket connection straight through the ASGI interface: what the app sent."""
    scope = {
        "type": "websocket", "path": "/ws", "raw_path": b"/ws", "root_path": "",
        "query_string": b"", "headers": headers, "client": ("127.0.0.1", 1),
        "server": ("test", 80), "scheme": "ws", "subprotocols": [],
    }  # fmt: skip
    incoming: list[Message] = [
        {"type": "websocket.connect"},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_a_websocket_upgrade_is_authenticated_but_not_limited_or_audited(
    h: Harness,
) -> None:
    """Starlette's contract on the upgrade request too: `user` and `auth` set from the key, a
    refused key closes the socket before it is accepted."""
    _, raw = await h.key("live")
    app = Starlette(
        routes=[WebSocketRoute("/ws", _socket)],
        middleware=access_middleware(
            authenticator=h.authenticator, recorder=h.recorder, limiter=KeyRateLimiter(1)
        ),
    )
    for _ in range(2):  # over the key's rate of 1 a minute: sockets are not limited
        keyed = await _handshake(app, [(b"x-api-key", raw.encode())])
        assert keyed[0]["type"] == "websocket.accept"
        assert orjson.loads(keyed[1]["text"]) == {"name": "live", "scopes": ["read"]}
    anonymous = await _handshake(app, [])
    assert orjson.loads(anonymous[1]["text"]) == {"name": None, "scopes": []}
    refused = await _handshake(app, [(b"x-api-key", b"mg_" + b"A" * 43)])
    assert refused == [{"type": "websocket.close", "code": 1000}]
    assert h.recorder.pending == 0


async def test_a_request_s_credentials_are_the_scopes_its_key_implies(h: Harness) -> None:
    async def scopes(request: Request) -> JSONResponse:
        return JSONResponse(request.auth.scopes)

    _, raw = await api_keys.create_key(h.db.pool, "ops", [Scope.ADMIN])
    app = Starlette(
        routes=[Route("/scopes", scopes)],
        middleware=access_middleware(
            authenticator=h.authenticator, recorder=h.recorder, limiter=KeyRateLimiter()
        ),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        admin = await client.get("/scopes", headers=key_header(raw))
        anonymous = await client.get("/scopes")
    assert admin.json() == ["read", "fetch", "admin"] and anonymous.json() == []


async def test_the_middleware_finds_its_collaborators_on_app_state(portable_db: Database) -> None:
    _, raw = await api_keys.create_key(portable_db.pool, "ci")
    app = Starlette(routes=[Route("/whoami", whoami)], middleware=access_middleware())
    app.state.authenticator = Authenticator(portable_db.pool)
    app.state.usage_recorder = UsageRecorder(portable_db.pool)
    app.state.rate_limiter = KeyRateLimiter()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/whoami", headers={"Authorization": f"bearer {raw}"})

    assert response.json()["name"] == "ci"
    assert app.state.usage_recorder.pending == 1


async def test_a_key_lookup_with_the_database_down_is_503_unavailable(
    portable_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    _, raw = await api_keys.create_key(portable_db.pool, "ci")
    pool = await create_pool(portable_db.url, min_size=1, max_size=1)
    await pool.close()
    recorder, limiter = UsageRecorder(portable_db.pool), KeyRateLimiter()
    app = make_app(Authenticator(pool), recorder, limiter)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with caplog.at_level(logging.WARNING):
            refused = await client.get("/whoami", headers=key_header(raw))
        anonymous = await client.get("/whoami")

    # one line says why, for the operator: the driver's error (the pool is closed)
    (warned,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "database unavailable: InterfaceError" in warned.getMessage()

    assert refused.status_code == 503
    assert refused.json() == {
        "detail": "the database is unavailable right now; retry shortly",
        "code": "UNAVAILABLE",
    }
    assert anonymous.status_code == 200  # no key, no lookup: nothing to refuse


def test_extract_key_reads_either_header() -> None:
    assert extract_key({"X-API-Key": " k1 "}) == "k1"
    assert extract_key({"authorization": "Bearer k2"}) == "k2"
    assert extract_key({"x-api-key": "k1", "authorization": "Bearer k2"}) == "k1"
    assert extract_key({"authorization": "Basic dXNlcjpwdw=="}) is None
    assert extract_key({"authorization": "Bearer "}) is None
    assert extract_key({"authorization": "bearer   k3 "}) == "k3"  # scheme case, extra spaces
    assert extract_key({}) is None


@pytest.mark.parametrize(
    ("scopes", "scope", "anonymous_reads", "expected"),
    [
        (None, Scope.READ, False, 401),
        (None, Scope.READ, True, None),
        (None, Scope.FETCH, True, 401),
        ({Scope.READ}, Scope.FETCH, False, 403),
        ({Scope.FETCH}, Scope.READ, False, None),
        ({Scope.FETCH}, Scope.ADMIN, False, 403),
        ({Scope.ADMIN}, Scope.FETCH, False, None),
    ],
)
def test_access_lets_anonymous_read_only_when_allowed_and_checks_scopes(
    scopes: set[Scope] | None, scope: Scope, anonymous_reads: bool, expected: int | None
) -> None:
    principal = None if scopes is None else Principal(1, "k", frozenset(scopes))
    context = make_context(make_services(None, anonymous_reads=anonymous_reads), principal)
    try:
        context.require(scope)
    except ServiceError as exc:
        assert HTTP_STATUS[exc.code] == expected
    else:
        assert expected is None


async def test_a_cache_with_no_ttl_looks_every_key_up(portable_db: Database) -> None:
    _, raw = await api_keys.create_key(portable_db.pool, "ci")
    pool = CountingPool(portable_db.pool)
    authenticator = Authenticator(
        cast(asyncpg.Pool, pool), cache=KeyCache(0, negative_ttl_seconds=0)
    )
    for _ in range(3):
        assert await authenticator.verify_key(raw) is not None

    assert pool.lookups == 3


# ----------------------------------------------------------------------------- log redaction


@pytest.fixture
def redacting(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    redactor = install_redaction(root)
    try:
        yield caplog
    finally:
        for target in (root, *root.handlers):
            target.removeFilter(redactor)


async def test_logs_never_contain_keys_even_when_the_app_logs_headers(
    h: Harness, redacting: pytest.LogCaptureFixture
) -> None:
    _, raw = await h.key()

    await h.client.get("/chatty", headers=key_header(raw))
    await h.client.get("/chatty", headers={"Authorization": f"Bearer {raw}"})
    await h.client.get(
        f"/chatty?apiKey={raw}",
        headers={"X-API-Key": raw, "Authorization": "Bearer not-our-key"},
    )

    dumped = redacting.text + "".join(repr(r.__dict__) for r in redacting.records)
    assert "upstream" in redacting.text and "[REDACTED]" in redacting.text
    assert "[REDACTED]]" not in redacting.text
    for secret in (raw, raw[3:], "pk_upstream_123", "not-our-key"):
        assert secret not in dumped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key mg_" + "a" * 43 + " used", "key mg_[REDACTED] used"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer [REDACTED]"),
        ("failed with Bearer abc.def", "failed with Bearer [REDACTED]"),
        ("{'x-api-key': 'plain'}", "{'x-api-key': '[REDACTED]'}"),
        ("(b'authorization', b'Basic Zm9v')", "(b'authorization', b'Basic [REDACTED]')"),
        ("GET /v2?apiKey=abc&x=1", "GET /v2?apiKey=[REDACTED]&x=1"),
        ('{"api_key": "abc"}', '{"api_key": "[REDACTED]"}'),
        ("postgresql://mg:s3cret@db:5432/x", "postgresql://mg:[REDACTED]@db:5432/x"),
        ("table mg_meta and password authentication", "table mg_meta and password authentication"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # filters on several handlers see the same record


def test_filter_redacts_extra_fields_and_arguments() -> None:
    record = logging.makeLogRecord(
        {
            "msg": "calling %s",
            "args": ("https://x/?apiKey=abc",),
            "polygon_api_key": "abc",
            "request": {"headers": {"Authorization": "Bearer abc"}, "status": 200},
        }
    )

    assert RedactingFilter().filter(record)
    assert record.getMessage() == "calling https://x/?apiKey=[REDACTED]"
    assert record.__dict__["polygon_api_key"] == "[REDACTED]"
    assert record.__dict__["request"] == {"headers": {"Authorization": "[REDACTED]"}, "status": 200}


# ----------------------------------------------------------------------------- the keys CLI


async def _cli(url: str, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="marketgraph")
    cli_keys.register(parser.add_subparsers(dest="command", required=True), lambda: url)
    args = parser.parse_args(argv)
    return cast(int, await asyncio.to_thread(args.handler, args, None))


async def test_keys_cli_creates_lists_revokes_restores_and_deletes(
    portable_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    url = portable_db.url
    assert await _cli(url, "keys", "create", "ops", "--scope", "read", "--scope", "admin") == 0
    raw = next(w for w in capsys.readouterr().out.split() if w.startswith("mg_"))
    principal = await api_keys.verify(portable_db.pool, raw)
    assert principal is not None and principal.scopes == {Scope.READ, Scope.ADMIN}

    assert await _cli(url, "keys", "list") == 0
    listing = capsys.readouterr().out
    assert "ops" in listing and raw[:7] in listing and raw not in listing

    key_id = str(principal.key_id)
    assert await _cli(url, "keys", "revoke", key_id) == 0
    assert await api_keys.verify(portable_db.pool, raw) is None
    assert await _cli(url, "keys", "restore", key_id) == 0
    assert await api_keys.verify(portable_db.pool, raw) is not None
    assert await _cli(url, "keys", "delete", key_id) == 0
    assert await _cli(url, "keys", "delete", key_id) == 1
    assert "no API key" in capsys.readouterr().err


async def test_keys_cli_sets_expiry_and_rate_limit(
    portable_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("keys", "create", "bot", "--expires", "2099-01-01", "--rate-limit", "30")
    assert await _cli(portable_db.url, *argv) == 0

    (record,) = await api_keys.list_keys(portable_db.pool)
    assert record.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert record.rate_limit_per_minute == 30
