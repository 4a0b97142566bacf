"""CORS lets browsers use exactly the methods the gateway's routes accept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from gateway.app import create_app
from gateway.settings import Settings

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
