"""CORS lets browsers use exactly the methods the gateway's routes accept, and marks every
answer as depending on `Origin`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app
from gateway.cors import CorsMiddleware, RawHeaders
from gateway.settings import Settings
from tests.support.asgi import asgi_get

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


@pytest.mark.parametrize(
    "answered",
    [[], [(b"vary", b"Accept-Encoding")], [(b"x-a", b"1"), (b"vary", b"A"), (b"x-b", b"2"),
     (b"vary", b"B, C")]],
)  # fmt: skip
@pytest.mark.parametrize("origin", [None, ORIGIN, "https://elsewhere.example.com"])
async def test_answers_carry_the_headers_starlette_s_cors_gives_them(
    answered: RawHeaders, origin: str | None
) -> None:
    """Without `Origin` (the common request) only `Vary: Origin` is added, merged with the
    answer's own `Vary` as Starlette merges it; with one, Starlette's middleware answers."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(answered)})
        await send({"type": "http.response.body", "body": b"{}"})

    options: dict[str, Any] = {
        "allow_origins": [ORIGIN], "allow_credentials": True, "allow_methods": ["GET"],
        "expose_headers": ["X-Trace-Id"],
    }  # fmt: skip
    sent = [(b"origin", origin.encode())] if origin else []
    ours = await _headers_of(CorsMiddleware(app, **options), sent)
    assert ours == await _headers_of(CORSMiddleware(app, **options), sent)
    assert b"Origin" in dict(ours)[b"vary"]
