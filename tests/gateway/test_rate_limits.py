"""Request rates through the access middlewares: keyless callers counted by address, paths that
are never limited, and limits that make no sense refused up front.

Keyed callers' rates are in test_auth.py (they need keys in a database); these need none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.access import Principal, Scope
from gateway.access_stack import access_middleware
from gateway.authentication import Authenticator
from gateway.rate_limit import KeyRateLimiter
from storage.usage import UsageRecorder
from tests.support.time import FakeTime

NO_DATABASE = cast(asyncpg.Pool, None)  # keyless requests never reach it


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(await request.json())


@asynccontextmanager
async def client_from(address: str, limiter: KeyRateLimiter) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(
        routes=[
            Route("/data", ok),
            Route("/health", ok),
            Route("/echo", echo, methods=["POST"]),
            Route("/health/echo", echo, methods=["POST"]),
        ],
        middleware=access_middleware(
            exempt_paths={"/health", "/health/echo"},
            authenticator=Authenticator(NO_DATABASE),
            recorder=UsageRecorder(NO_DATABASE),
            limiter=limiter,
        ),
    )
    transport = httpx.ASGITransport(app=app, client=(address, 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_keyless_requests_get_their_addresses_rate_then_429_with_retry_after() -> None:
    time = FakeTime()
    limiter = KeyRateLimiter(600, anonymous_per_minute=2, clock=time.clock)
    async with client_from("10.0.0.1", limiter) as first, client_from("10.0.0.2", limiter) as other:
        statuses = [(await first.get("/data")).status_code for _ in range(2)]
        refused = await first.get("/data")
        elsewhere = await other.get("/data")
        time.advance(30)
        after_the_wait = await first.get("/data")

    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "rate limit exceeded for requests without an API key from this address",
        "code": "RATE_LIMITED",
    }
    assert refused.headers["retry-after"] == "30"  # 2 a minute: one every 30 s
    assert elsewhere.status_code == 200  # another address has its own count
    assert after_the_wait.status_code == 200


async def test_keyless_requests_are_unlimited_when_no_anonymous_rate_is_set() -> None:
    limiter = KeyRateLimiter(1, clock=FakeTime().clock)
    async with client_from("10.0.0.1", limiter) as client:
        statuses = {(await client.get("/data")).status_code for _ in range(5)}

    assert statuses == {200}


async def test_exempt_paths_are_never_rate_limited() -> None:
    limiter = KeyRateLimiter(600, anonymous_per_minute=1, clock=FakeTime().clock)
    async with client_from("10.0.0.1", limiter) as client:
        health = [(await client.get("/health")).status_code for _ in range(3)]
        data = [(await client.get("/data")).status_code for _ in range(2)]

    assert health == [200, 200, 200]
    assert data == [200, 429]  # the health checks did not use up the address's budget


@pytest.mark.parametrize(("default", "anonymous"), [(-1.0, 0.0), (600.0, -1.0), (-0.5, -0.5)])
def test_a_negative_limit_is_refused_at_start(default: float, anonymous: float) -> None:
    with pytest.raises(ValueError, match=r"^per-minute limits must be >= 0 \(0 means unlimited\)$"):
        KeyRateLimiter(default, anonymous_per_minute=anonymous)


async def test_a_default_of_zero_leaves_keys_without_their_own_limit_unlimited() -> None:
    limiter = KeyRateLimiter(0, clock=FakeTime().clock)
    unlimited = Principal(1, "no limit of its own", frozenset({Scope.READ}))
    limited = Principal(2, "two a minute", frozenset({Scope.READ}), rate_limit_per_minute=2)

    assert [await limiter.check(unlimited) for _ in range(100)] == [None] * 100
    waits = [await limiter.check(limited) for _ in range(3)]
    assert waits[:2] == [None, None] and waits[2] == pytest.approx(30)


async def test_keys_with_the_same_limit_each_get_their_own_budget() -> None:
    limiter = KeyRateLimiter(2, clock=FakeTime().clock)
    first = Principal(1, "first", frozenset({Scope.READ}))
    second = Principal(2, "second", frozenset({Scope.READ}))

    assert [await limiter.check(first) for _ in range(2)] == [None, None]
    assert await limiter.check(first) is not None
    assert [await limiter.check(second) for _ in range(2)] == [None, None]  # untouched by first


async def test_a_request_body_reaches_the_app_through_the_limiter() -> None:
    limiter = KeyRateLimiter(600, anonymous_per_minute=10, clock=FakeTime().clock)
    async with client_from("10.0.0.1", limiter) as client:
        limited = await client.post("/echo", json={"query": "{ bars }"})
        exempt = await client.post("/health/echo", json={"query": "{ health }"})

    assert limited.json() == {"query": "{ bars }"}
    assert exempt.json() == {"query": "{ health }"}
