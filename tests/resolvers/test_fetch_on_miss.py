"""Fetch-on-miss from the resolvers' side: who may trigger it, when, and what a failure costs.

Most tests use a small stand-in for the read-through service that records its calls; the
error contract is also checked end to end, through the real read-through and the fake
Polygon HTTP server. The database is always real.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import pytest

from domain.access import Scope
from domain.errors import ServiceError, UpstreamRateLimited, UpstreamUnavailable
from domain.timeframes import Timeframe
from resolvers.fetch_budget import FetchBudget, FetchLimits
from resolvers.fetch_gate import FetchNotice
from resolvers.read_through import EnsureResult, ReadThrough
from tests.fakes.polygon_server import FakePolygon
from tests.resolvers.conftest import T0, Gateway, principal
from tests.support.graphql import make_services
from upstream.polygon import PolygonClient

FROM, TO = T0, T0 + timedelta(hours=6)
QUERY = """
query ($tickers: [String!], $from: DateTime, $to: DateTime) {
  symbols(tickers: $tickers) {
    ticker
    bars(timeframe: H1, from: $from, to: $to, limit: 3) { time }
    aggregate(from: "2024-05-06T00:00:00Z", to: "2024-05-06T06:00:00Z") { barCount }
  }
}
"""
BOUNDED = {
    "tickers": ["X:BTCUSD", "X:ETHUSD", "AAPL"],
    "from": FROM.isoformat(),
    "to": TO.isoformat(),
}


@dataclass
class FakeReadThrough:
    """What the resolvers need of resolvers.read_through.ReadThrough, recording each call."""

    enabled: bool = True
    limits: FetchLimits = field(default_factory=FetchLimits)
    failures: dict[str, ServiceError] = field(default_factory=dict)
    calls: list[tuple[tuple[str, ...], Timeframe, datetime, datetime]] = field(default_factory=list)

    async def ensure(
        self,
        symbols: list[str],
        timeframe: Timeframe,
        start: datetime,
        end: datetime,
        *,
        budget: FetchBudget | None = None,
    ) -> EnsureResult:
        self.calls.append((tuple(symbols), timeframe, start, end))
        errors = {s: e for s, e in self.failures.items() if s in symbols}
        return EnsureResult(fetched_ranges=len(symbols), bars_stored=0, errors=errors)


def with_read_through(gateway: Gateway, fake: FakeReadThrough | None, **overrides: Any) -> Any:
    stand_in = cast(ReadThrough | None, fake)  # only ensure() and enabled are used
    return make_services(gateway.pool, gateway.services.backend, read_through=stand_in, **overrides)


async def test_a_fetch_key_makes_one_ensure_per_argument_set_before_reading(
    gateway: Gateway,
) -> None:
    fake = FakeReadThrough()
    answer = await gateway.run(
        QUERY, BOUNDED, caller=principal(Scope.FETCH), services=with_read_through(gateway, fake)
    )
    assert not answer.errors
    tickers = tuple(BOUNDED["tickers"])
    # the bars (H1) and the summary (built on M1) each ensure all three symbols at once
    assert sorted(fake.calls, key=str) == sorted(
        [(tickers, Timeframe.H1, FROM, TO), (tickers, Timeframe.M1, FROM, TO)], key=str
    )
    assert "fetchOnMiss" not in answer.extensions
    assert len(answer.data["symbols"][0]["bars"]) == 3


async def test_an_upstream_failure_fails_only_that_symbol(gateway: Gateway) -> None:
    fake = FakeReadThrough(
        failures={
            "X:ETHUSD": UpstreamUnavailable("upstream timed out"),
            "AAPL": UpstreamRateLimited("upstream says slow down", retry_after=12.0),
        }
    )
    answer = await gateway.run(
        QUERY, BOUNDED, caller=principal(Scope.FETCH), services=with_read_through(gateway, fake)
    )
    by_ticker = {s["ticker"]: s for s in answer.data["symbols"]}
    assert len(by_ticker["X:BTCUSD"]["bars"]) == 3  # unaffected
    assert by_ticker["X:ETHUSD"]["bars"] is None and by_ticker["AAPL"]["bars"] is None
    errors = {(e["path"][1], e["path"][2]): e for e in answer.errors}
    assert errors[(1, "bars")]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert errors[(2, "bars")]["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 12.0}
    assert errors[(1, "bars")]["message"] == UpstreamUnavailable.public_message  # not the detail


async def test_a_read_key_reads_the_store_and_is_told_why_nothing_was_fetched(
    gateway: Gateway,
) -> None:
    fake = FakeReadThrough()
    answer = await gateway.run(
        QUERY, BOUNDED, caller=principal(Scope.READ), services=with_read_through(gateway, fake)
    )
    assert not answer.errors and fake.calls == []
    assert answer.extensions["fetchOnMiss"] == FetchNotice.NOT_PERMITTED
    assert len(answer.data["symbols"][0]["bars"]) == 3


async def test_unbounded_ranges_are_never_fetched(gateway: Gateway) -> None:
    fake = FakeReadThrough()
    query = '{ symbols(tickers: ["X:BTCUSD"]) { bars(timeframe: H1, limit: 2) { time } } }'
    answer = await gateway.run(
        query, caller=principal(Scope.FETCH), services=with_read_through(gateway, fake)
    )
    assert not answer.errors and fake.calls == []


async def test_when_fetching_is_off_every_answer_says_so(gateway: Gateway) -> None:
    for fake in (None, FakeReadThrough(enabled=False)):
        answer = await gateway.run(
            QUERY, BOUNDED, caller=principal(Scope.FETCH), services=with_read_through(gateway, fake)
        )
        assert not answer.errors
        assert answer.extensions == {"fetchOnMiss": FetchNotice.DISABLED}
        assert fake is None or fake.calls == []


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ({"rate_limit": 1_000, "retry_after": "7"}, {"code": "RATE_LIMITED", "retryAfter": 7.0}),
        ({"server_error": 1_000}, {"code": "UPSTREAM_UNAVAILABLE"}),
        ({"unauthorized": True}, {"code": "UPSTREAM_UNAVAILABLE"}),
    ],
    ids=["429s", "500s", "401"],
)
async def test_upstream_failures_reach_the_client_coded_through_the_real_read_through(
    gateway: Gateway,
    fake_polygon: FakePolygon,
    behaviour: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    fake_polygon.behave(**behaviour)
    client = PolygonClient(
        fake_polygon.api_key, base_url=fake_polygon.url, requests_per_minute=0,
        timeout=5.0, max_retries=1, backoff_base=0.001, max_retry_wait=0.01,
    )  # fmt: skip
    service = ReadThrough(gateway.pool.pool, gateway.services.backend, client)
    try:
        stand_in = make_services(gateway.pool, gateway.services.backend, read_through=service)
        answer = await gateway.run(QUERY, BOUNDED, caller=principal(Scope.FETCH), services=stand_in)
    finally:
        await service.aclose()
        await client.aclose()
    assert fake_polygon.calls  # it really asked upstream
    failed = [e for e in answer.errors if e["path"][-1] == "bars"]
    assert len(failed) == 3  # each symbol's bars, the store's answer for none of them
    assert all(e["extensions"] == expected for e in failed)
    assert all(s["bars"] is None for s in answer.data["symbols"])
