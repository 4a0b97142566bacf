"""The response cache on its own: keys, TTL, LRU, invalidation, single flight."""

from __future__ import annotations

import asyncio

import pytest
from strawberry.types import ExecutionResult

from domain.access import Principal, Scope
from gateway.response_cache import ResponseCache
from tests.support.time import FakeTime

BARS = "query Bars($t: String!) { bars(ticker: $t, limit: 1) { close } }"
READER = Principal(1, "reader", frozenset({Scope.READ}))
OTHER_READER = Principal(2, "another reader", frozenset({Scope.READ}))
FETCHER = Principal(3, "fetcher", frozenset({Scope.FETCH}))


class Runs:
    """An execution that counts how often it ran and answers with that count."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> ExecutionResult:
        self.count += 1
        return ExecutionResult(data={"run": self.count}, errors=None)


async def ask(
    cache: ResponseCache, runs: Runs, query: str = BARS, variables: object = None,
    principal: Principal | None = READER,
) -> tuple[object, str]:  # fmt: skip
    plan = cache.plan(query, None, variables or {"t": "AAPL"}, principal)  # type: ignore[arg-type]
    assert plan is not None
    result, outcome = await cache.answer(plan, runs)
    return result.data, outcome


async def test_a_repeated_query_is_a_hit_until_its_ttl_runs_out() -> None:
    time, runs = FakeTime(), Runs()
    cache = ResponseCache(60, 10, clock=time.clock)
    assert await ask(cache, runs) == ({"run": 1}, "miss")
    spaced = BARS.replace(" {", "\n  {") + "  # a comment"
    assert await ask(cache, runs, spaced) == ({"run": 1}, "hit")  # same normalised document
    time.advance(59.9)
    assert await ask(cache, runs) == ({"run": 1}, "hit")
    time.advance(0.2)
    assert await ask(cache, runs) == ({"run": 2}, "miss")
    assert cache.stats() | {"size": None} == {
        "size": None, "max_size": 10, "hits": 2, "misses": 2, "hit_rate_pct": 50.0,
        "evictions": 0, "default_ttl_seconds": 60,
    }  # fmt: skip


async def test_the_least_recently_used_entry_is_evicted_when_full() -> None:
    runs, evicted = Runs(), []
    cache = ResponseCache(60, 2, on_evict=lambda: evicted.append(1))
    await ask(cache, runs, variables={"t": "AAPL"})
    await ask(cache, runs, variables={"t": "MSFT"})
    await ask(cache, runs, variables={"t": "AAPL"})  # AAPL used last: MSFT is the LRU
    await ask(cache, runs, variables={"t": "SPY"})
    assert (len(cache), cache.evictions, len(evicted)) == (2, 1, 1)
    assert (await ask(cache, runs, variables={"t": "AAPL"}))[1] == "hit"
    assert (await ask(cache, runs, variables={"t": "MSFT"}))[1] == "miss"


async def test_storing_bars_drops_the_entries_of_that_ticker_and_of_searches() -> None:
    runs, cache = Runs(), ResponseCache(60, 10)
    search = '{ symbols(search: "A") { ticker } }'
    listed = '{ symbols(tickers: ["MSFT", "AAPL"]) { ticker } }'
    for query, variables in ((BARS, {"t": "AAPL"}), (BARS, {"t": "MSFT"}), (search, {}),
                             (listed, {}), (BARS, {"t": "SPY"})):  # fmt: skip
        await ask(cache, runs, query, variables)
    assert cache.invalidate("AAPL") == 3  # bars(AAPL), the search, symbols([MSFT, AAPL])
    assert (await ask(cache, runs, BARS, {"t": "MSFT"}))[1] == "hit"
    assert (await ask(cache, runs, BARS, {"t": "SPY"}))[1] == "hit"
    assert (await ask(cache, runs, BARS, {"t": "AAPL"}))[1] == "miss"
    assert (await ask(cache, runs, search, {}))[1] == "miss"
    assert (await ask(cache, runs, listed, {}))[1] == "miss"


async def test_callers_who_may_see_different_things_never_share_an_answer() -> None:
    runs, cache = Runs(), ResponseCache(60, 10)
    assert await ask(cache, runs, principal=READER) == ({"run": 1}, "miss")
    assert await ask(cache, runs, principal=OTHER_READER) == ({"run": 1}, "hit")  # same scopes
    assert await ask(cache, runs, principal=FETCHER) == ({"run": 2}, "miss")
    assert await ask(cache, runs, principal=None) == ({"run": 3}, "miss")
    assert await ask(cache, runs, variables={"t": "MSFT"}) == ({"run": 4}, "miss")


@pytest.mark.parametrize(
    "query",
    [
        "mutation { revokeApiKey(id: 1) { id } }",
        "{ me { name requestCount } }",
        '{ bars(ticker: "AAPL") { close } me { name } }',
        "{ __schema { queryType { name } } }",
        "{ ...F } fragment F on Query { me { name } }",
        "{ bars(",
        'query A { me { name } } query B { bars(ticker: "X") { close } }',  # no name chosen
    ],
)
def test_only_market_data_queries_are_cacheable(query: str) -> None:
    assert ResponseCache(60, 10).plan(query, None, {}, READER) is None


def test_a_ttl_of_zero_turns_the_cache_off() -> None:
    cache = ResponseCache(0, 10)
    assert not cache.enabled
    assert cache.plan(BARS, None, {"t": "AAPL"}, READER) is None
    assert cache.stats()["max_size"] == 0


async def test_identical_misses_run_once() -> None:
    cache, release, runs = ResponseCache(60, 10), asyncio.Event(), Runs()

    async def slow() -> ExecutionResult:
        await release.wait()
        return await runs()

    plan = cache.plan(BARS, None, {"t": "AAPL"}, READER)
    assert plan is not None
    waiting = [asyncio.create_task(cache.answer(plan, slow)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    answers = await asyncio.gather(*waiting)
    assert runs.count == 1
    assert sorted(outcome for _, outcome in answers) == ["miss"] + ["shared"] * 4
    assert {id(result) for result, _ in answers} == {id(answers[0][0])}


async def test_an_answer_computed_across_an_invalidation_is_not_kept() -> None:
    cache, runs = ResponseCache(60, 10), Runs()
    plan = cache.plan(BARS, None, {"t": "AAPL"}, READER)
    assert plan is not None

    async def stored_meanwhile() -> ExecutionResult:
        cache.invalidate("AAPL")  # bars landed while this answer was being computed
        return await runs()

    await cache.answer(plan, stored_meanwhile)
    assert (await cache.answer(plan, runs))[1] == "miss"


async def test_answers_with_errors_are_not_kept() -> None:
    cache = ResponseCache(60, 10)
    plan = cache.plan(BARS, None, {"t": "AAPL"}, READER)
    assert plan is not None

    async def failing() -> ExecutionResult:
        from graphql import GraphQLError

        return ExecutionResult(data=None, errors=[GraphQLError("down")])

    await cache.answer(plan, failing)
    assert len(cache) == 0
