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


PREBUILT = JSONResponse({"one": "response object for every request"})


async def prebuilt(request: Request) -> JSONResponse:
    return PREBUILT


@asynccontextmanager
async def client_from(address: str, limiter: KeyRateLimiter) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(
        routes=[
            Route("/data", ok),
            Route("/prebuilt", prebuilt),
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
    counted = [await limiter.check(limited) for _ in range(3)]
    assert [(c.allowed, c.remaining) for c in counted if c] == [(True, 1), (True, 0), (False, 0)]
    assert counted[2] is not None and counted[2].reset == pytest.approx(30)


async def test_keys_with_the_same_limit_each_get_their_own_budget() -> None:
    limiter = KeyRateLimiter(2, clock=FakeTime().clock)
    first = Principal(1, "first", frozenset({Scope.READ}))
    second = Principal(2, "second", frozenset({Scope.READ}))

    async def allowed(principal: Principal) -> bool:
        counted = await limiter.check(principal)
        return counted is not None and counted.allowed

    assert [await allowed(first) for _ in range(3)] == [True, True, False]
    assert [await allowed(second) for _ in range(2)] == [True, True]  # untouched by first


async def test_a_request_body_reaches_the_app_through_the_limiter() -> None:
    limiter = KeyRateLimiter(600, anonymous_per_minute=10, clock=FakeTime().clock)
    async with client_from("10.0.0.1", limiter) as client:
        limited = await client.post("/echo", json={"query": "{ bars }"})
        exempt = await client.post("/health/echo", json={"query": "{ health }"})

    assert limited.json() == {"query": "{ bars }"}
    assert exempt.json() == {"query": "{ health }"}


def standing(response: httpx.Response) -> tuple[str | None, str | None]:
    return response.headers.get("ratelimit-policy"), response.headers.get("ratelimit")


async def test_limited_keyless_responses_say_what_is_left_and_when_more_comes() -> None:
    time = FakeTime()
    limiter = KeyRateLimiter(600, anonymous_per_minute=2, clock=time.clock)
    async with client_from("10.0.0.1", limiter) as client:
        answers = [await client.get("/data") for _ in range(3)]
        time.advance(10)
        later = await client.get("/data")
        exempt = await client.get("/health")

    policy = '"address";q=2;w=60'
    assert [standing(a) for a in answers] == [
        (policy, '"address";r=1;t=30'),  # 2 a minute: the one used comes back in 30 s
        (policy, '"address";r=0;t=30'),
        (policy, '"address";r=0;t=30'),  # refused, and as long as Retry-After
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["retry-after"] == "30"
    assert standing(later) == (policy, '"address";r=0;t=20')
    assert later.status_code == 429
    assert standing(exempt) == (None, None)  # not counted, so nothing to say


async def test_unlimited_keyless_responses_carry_no_rate_fields() -> None:
    limiter = KeyRateLimiter(600, clock=FakeTime().clock)
    async with client_from("10.0.0.1", limiter) as client:
        response = await client.get("/data")

    assert response.status_code == 200 and standing(response) == (None, None)


async def test_the_fields_are_added_to_each_response_not_to_a_shared_one() -> None:
    limiter = KeyRateLimiter(600, anonymous_per_minute=60, clock=FakeTime().clock)
    async with client_from("10.0.0.1", limiter) as client:
        answers = [await client.get("/prebuilt") for _ in range(3)]

    assert [a.headers.get_list("ratelimit") for a in answers] == [
        [f'"address";r={left};t=1'] for left in (59, 58, 57)
    ]
    assert not [name for name, _ in PREBUILT.raw_headers if name.startswith(b"ratelimit")]


async def test_a_fractional_rate_states_its_longer_window_and_counts_whole_requests() -> None:
    time = FakeTime()
    limiter = KeyRateLimiter(600, anonymous_per_minute=1.5, clock=time.clock)
    async with client_from("10.0.0.1", limiter) as client:
        first, second = [await client.get("/data") for _ in range(2)]
        time.advance(20)
        third = await client.get("/data")

    assert [r.status_code for r in (first, second, third)] == [200, 429, 200]
    assert {standing(r)[0] for r in (first, second, third)} == {'"address";q=3;w=120'}
    # half a token is left: the next whole one is 20 s away (1.5 a minute)
    assert standing(first)[1] == standing(second)[1] == '"address";r=0;t=20'
    assert second.headers["retry-after"] == "20"
    assert standing(third)[1] == '"address";r=0;t=40'  # a whole token from empty: 40 s
