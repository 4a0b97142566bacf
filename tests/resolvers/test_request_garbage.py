"""A request's objects are freed by reference counting, not left to the cycle collector.

A read that left cyclic garbage (its loaders referring to themselves through their batch
functions: 22 objects a request) made the collector run every few dozen requests and take a
tenth of a small request's CPU, with the occasional long full collection in the latency tail.
"""

from __future__ import annotations

import gc
import threading
from collections import Counter

import asyncpg

from tests.resolvers.conftest import Gateway
from tests.support.graphql import execute

QUERIES = (
    '{ bars(ticker: "X:BTCUSD", timeframe: M1, order: DESC, limit: 1) { time close } }',
    '{ symbols(tickers: ["AAPL", "X:BTCUSD"]) { ticker latestBar(timeframe: M1) { close } } }',
    '{ aggregates(tickers: ["AAPL"], from: "2024-05-06T00:00:00Z", to: "2024-05-07T00:00:00Z")'
    " { open close } }",
)
_FAILED_CONNECTION = (OSError, asyncpg.PostgresError)


async def test_answered_requests_leave_no_cyclic_garbage(gateway: Gateway) -> None:
    """Garbage left by requests shows in every window of them. The collector is process-wide,
    so a window may also catch what other work left meanwhile: a failed connection attempt's
    exception, protocol and frames, from other code of the process retrying a server that is
    gone (refused: an OSError) or a database that was dropped (InvalidCatalogNameError); seen
    in full runs, in every window of one, from a source not found. Such garbage is set apart
    (`_connection_failures`); one clean window of three is proof."""
    for query in QUERIES:  # planned, compiled, statements prepared, caches filled
        for _ in range(2):
            assert (await execute(gateway.schema, query, gateway.services)).errors is None
    windows = []
    for _ in range(3):
        windows.append(await _garbage_of_requests(gateway))
        if not windows[-1]:
            break
    threads = [thread.name for thread in threading.enumerate()]
    assert not windows[-1], ([window.most_common(10) for window in windows], threads)


async def _garbage_of_requests(gateway: Gateway) -> Counter[str]:
    """Types of the objects only the cycle collector could free after 5 rounds of QUERIES."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            for query in QUERIES:
                await execute(gateway.schema, query, gateway.services)
        gc.collect()
        foreign = _connection_failures(gc.garbage)
        return Counter(type(item).__qualname__ for item in gc.garbage if id(item) not in foreign)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def _connection_failures(garbage: list[object]) -> set[int]:
    """The ids of the garbage linked, either way, to an OSError (a refused or lost connection)
    or a PostgresError (a database that is gone) in it: the requests measured here raise
    neither, their database being up and their statements valid."""
    inside = {id(item): item for item in garbage}
    linked: dict[int, set[int]] = {key: set() for key in inside}
    for key, item in inside.items():
        for referent in gc.get_referents(item):
            if id(referent) in inside:
                linked[key].add(id(referent))
                linked[id(referent)].add(key)
    found: set[int] = set()
    waiting = [key for key, item in inside.items() if isinstance(item, _FAILED_CONNECTION)]
    while waiting:
        key = waiting.pop()
        if key not in found:
            found.add(key)
            waiting.extend(linked[key] - found)
    return found
