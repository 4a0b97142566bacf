"""CORS lets browsers use exactly the methods the gateway's routes accept, and marks every
answer as depending on `Origin`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.app import create_app
from gateway.cors import CorsMiddleware, RawHeaders
from gateway.settings import Settings
from tests.support.asgi import asgi_call, asgi_get

ORIGIN = "https://app.example.com"


@pytest_asyncio.fixture(loop_scope="session")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(_env_file=None, cors_origins=[ORIGIN])  # type: ignore[call-arg]
    transport = httpx.ASGITransport(app=create_app(settings))  # preflights need no database
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client


async def _preflight(client: httpx.AsyncClient, method: str) -> httpx.Response:
    return await client.options(
        "/graphql",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_methods_routes_accept_are_allowed(client: httpx.AsyncClient, method: str) -> None:
    response = await _preflight(client, method)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    allowed = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert allowed == {"GET", "HEAD", "POST"}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_methods_no_route_accepts_are_refused(client: httpx.AsyncClient, method: str) -> None:
    response = await _preflight(client, method)
    assert response.status_code == 400
    assert method not in response.headers.get("access-control-allow-methods", "")


async def _headers_of(app: ASGIApp, request_headers: RawHeaders) -> RawHeaders:
    sent = await asgi_get(app, "/", "", "127.0.0.1", request_headers)
    return list(sent[0]["headers"])


HEADER_NAMES = [b"vary", b"access-control-allow-origin", b"access-control-expose-headers",
                b"content-type", b"x-a"]  # fmt: skip
OPTIONS = st.fixed_dictionaries(
    {
        "allow_origins": st.sampled_from([[], ["*"], [ORIGIN], [ORIGIN, "https://b.example.com"]]),
        "allow_origin_regex": st.sampled_from([None, r"https://.*\.example\.org"]),
        "allow_credentials": st.booleans(),
        "allow_methods": st.just(["GET", "POST"]),
        "allow_headers": st.sampled_from([[], ["Content-Type", "X-API-Key"]]),
        "expose_headers": st.sampled_from([[], ["X-Trace-Id"], ["X-Trace-Id", "Retry-After"]]),
    }
)
ORIGINS = st.sampled_from([ORIGIN, "https://b.example.com", "https://x.example.org", "null"])
REQUESTS = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST", "OPTIONS"]),
        "headers": st.lists(
            st.tuples(
                st.sampled_from([b"origin", b"access-control-request-method", b"x-b"]),
                ORIGINS.map(str.encode) | st.just(b"POST"),
            ),
            max_size=3,
        ),
    }
)
ANSWERED = st.lists(
    st.tuples(st.sampled_from(HEADER_NAMES), st.sampled_from([b"A", b"B, C", b"*", b"Origin"])),
    max_size=4,
)


async def _sent(app: ASGIApp, method: str, headers: RawHeaders) -> list[Message]:
    return await asgi_call(app, {"type": "http", "method": method, "path": "/", "headers": headers})


@settings(max_examples=300)
@given(options=OPTIONS, request=REQUESTS, answered=ANSWERED)
@example(
    options={"allow_origins": [ORIGIN], "allow_origin_regex": None, "allow_credentials": True,
             "allow_methods": ["GET"], "allow_headers": [], "expose_headers": ["X-Trace-Id"]},
    request={"method": "POST", "headers": [(b"origin", ORIGIN.encode())]},
    answered=[(b"x-a", b"1"), (b"vary", b"A"), (b"content-type", b"B"), (b"vary", b"B, C")],
)  # fmt: skip
def test_answers_carry_the_headers_starlette_s_cors_gives_them(
    options: dict[str, Any], request: dict[str, Any], answered: RawHeaders
) -> None:
    """Every answer (no `Origin`, an allowed one, another one; preflights; answers with their
    own `Vary` and CORS headers) gets exactly the messages Starlette's middleware sends."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(answered)})
        await send({"type": "http.response.body", "body": b"{}"})

    method, headers = request["method"], request["headers"]
    ours = asyncio.run(_sent(CorsMiddleware(app, **options), method, headers))
    assert ours == asyncio.run(_sent(CORSMiddleware(app, **options), method, headers))
    assert b"Origin" in dict(ours[0]["headers"]).get(b"vary", b"Origin")
