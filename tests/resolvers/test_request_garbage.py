"""A request's objects are freed by reference counting, not left to the cycle collector.

A read that left cyclic garbage (its loaders referring to themselves through their batch
functions: 22 objects a request) made the collector run every few dozen requests and take a
tenth of a small request's CPU, with the occasional long full collection in the latency tail.
"""

from __future__ import annotations

import gc
from collections import Counter

from tests.resolvers.conftest import Gateway
from tests.support.graphql import execute

QUERIES = (
    '{ bars(ticker: "X:BTCUSD", timeframe: M1, order: DESC, limit: 1) { time close } }',
    '{ symbols(tickers: ["AAPL", "X:BTCUSD"]) { ticker latestBar(timeframe: M1) { close } } }',
    '{ aggregates(tickers: ["AAPL"], from: "2024-05-06T00:00:00Z", to: "2024-05-07T00:00:00Z")'
    " { open close } }",
)


async def test_answered_requests_leave_no_cyclic_garbage(gateway: Gateway) -> None:
    for query in QUERIES:  # planned, compiled, statements prepared, caches filled
        for _ in range(2):
            assert (await execute(gateway.schema, query, gateway.services)).errors is None
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            for query in QUERIES:
                await execute(gateway.schema, query, gateway.services)
        gc.collect()
        left = Counter(type(item).__qualname__ for item in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert not left, left.most_common(10)
