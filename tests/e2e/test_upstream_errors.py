"""Upstream failures reach clients as a generic message; the detail stays in the log.

Before, a client saw Polygon's URLs (our upstream's address and paths) and Polygon's own error
text in `errors[].message`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from domain.errors import UpstreamConfigError, UpstreamRateLimited, UpstreamUnavailable
from tests.fakes.polygon_server import FakePolygon
from tests.support.databases import Database
from tests.support.live_server import gateway_settings, live_gateway, upstream_settings

BARS = """
{ bars(ticker: "X:BTCUSD", timeframe: D1, from: "2024-01-01T00:00:00Z",
       to: "2024-01-05T00:00:00Z") { time } }
"""
MISBEHAVIOURS: list[tuple[dict[str, Any], str, str]] = [
    ({"server_error": 100}, "/v2/aggs/ticker/X:BTCUSD", UpstreamUnavailable.public_message),
    ({"status": "ERROR"}, "fake upstream error", UpstreamUnavailable.public_message),
    ({"unauthorized": True}, "POLYGON_API_KEY", UpstreamConfigError.public_message),
]


@pytest.fixture
def url(portable_db: Database, fake_polygon: FakePolygon) -> Iterator[str]:
    with live_gateway(
        gateway_settings(portable_db.url, **upstream_settings(fake_polygon))
    ) as served:
        yield served


@pytest.mark.parametrize(("behaviour", "detail", "shown"), MISBEHAVIOURS)
async def test_clients_get_a_generic_message_and_the_log_the_detail(
    url: str,
    fetching_client: httpx.AsyncClient,
    fake_polygon: FakePolygon,
    caplog: pytest.LogCaptureFixture,
    behaviour: dict[str, Any],
    detail: str,
    shown: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="schema.errors")
    fake_polygon.behave(**behaviour)
    response = await fetching_client.post(f"{url}/graphql", json={"query": BARS})

    error = response.json()["errors"][0]
    assert error["message"] == shown and error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    upstream = fake_polygon.url.removeprefix("http://")
    for secret in (upstream, detail, "Polygon", "HTTP "):
        assert secret not in response.text, secret
    trace_id = response.headers["X-Trace-Id"]
    logged = [r for r in caplog.records if getattr(r, "trace_id", None) == trace_id]
    assert len(logged) == 1 and detail in logged[0].getMessage(), caplog.records


async def test_an_upstream_rate_limit_is_rate_limited_with_retry_after(
    url: str, fetching_client: httpx.AsyncClient, fake_polygon: FakePolygon
) -> None:
    """Polygon answering 429 beyond the retries: the real read-through, over HTTP both ways,
    gives RATE_LIMITED with Polygon's Retry-After, and a generic message."""
    fake_polygon.behave(rate_limit=100, retry_after="0.25")
    response = await fetching_client.post(f"{url}/graphql", json={"query": BARS})

    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == 0.25
    assert error["message"] == UpstreamRateLimited.public_message
    assert fake_polygon.count() > 1  # retried before giving up
    response = await fetching_client.post(f"{url}/graphql", json={"query": BARS})
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"  # not cached
