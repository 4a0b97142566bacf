"""Depth, alias and token limits: each refused just over, answered at the limit, the same from
the caches as from a cold start, and checked once per distinct document."""

from __future__ import annotations

import functools
from typing import Any, cast

import pytest
import pytest_asyncio
from graphql import Lexer, Source, TokenKind

from schema import CACHE_SIZE, MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, build_schema
from schema.limits import LimitedValidationCache, limit_rules
from schema.plans import DEFAULT_PLANS
from storage.features import RollupBackend
from tests.support.databases import Database
from tests.support.graphql import error_codes, make_services, messages, run

DEPTH_ERROR = f"exceeds maximum operation depth of {MAX_DEPTH}"


class Client:
    """One schema (one set of caches) over a real database; `twice` asks the same document
    twice, so the second answer comes from the caches (the operation plan for a valid document,
    parse and validation for a refused one: refused documents are never planned)."""

    def __init__(self, database: Database, plans: int = DEFAULT_PLANS) -> None:
        self.schema = build_schema(plans=plans)
        self.services = make_services(database.pool, RollupBackend.PORTABLE)

    async def ask(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await run(self.schema, document, self.services, variables)

    async def twice(self, document: str) -> dict[str, Any]:
        cold = await self.ask(document)
        cached = await self.ask(document)
        assert cached == cold, (cold, cached)
        return cold


@pytest_asyncio.fixture(loop_scope="session")
async def client(portable_db: Database) -> Client:
    return Client(portable_db)


def nested(depth: int, *, spread: bool = False) -> str:
    """A selection `depth` levels deep below `symbol` (fields below it are invented: no type
    nests that deep), written in place or through a fragment and an inline fragment."""
    selection = "leaf"
    for i in range(depth - 1):
        selection = f"f{i} {{ {selection} }}"
    if spread:
        return (
            f'{{ symbol(ticker: "AAPL") {{ ... on Symbol {{ ...Deep }} }} }}'
            f" fragment Deep on Symbol {{ {selection} }}"
        )
    return f'{{ symbol(ticker: "AAPL") {{ {selection} }} }}'


@pytest.mark.parametrize("spread", [False, True], ids=["in-place", "through-fragments"])
async def test_depth_refused_just_over_the_limit_cold_and_cached(
    client: Client, spread: bool
) -> None:
    at_limit = await client.twice(nested(MAX_DEPTH, spread=spread))
    over = await client.twice(nested(MAX_DEPTH + 1, spread=spread))
    assert DEPTH_ERROR not in messages(at_limit)
    assert "Cannot query field" in messages(at_limit)  # validated, but not refused for depth
    assert f"'anonymous' {DEPTH_ERROR}" in messages(over)
    assert set(error_codes(over)) == {"BAD_USER_INPUT"} and over["data"] is None


async def test_every_operation_of_a_document_is_held_to_the_depth_limit(client: Client) -> None:
    deep = nested(MAX_DEPTH + 1).removeprefix("{")
    body = await client.ask("query Small { __typename } query Deep {" + deep, {})
    assert f"'Deep' {DEPTH_ERROR}" in messages(body)
    assert "'Small'" not in messages(body)


def aliased(count: int) -> str:
    fields = " ".join(f'a{i}: symbol(ticker: "AAPL") {{ ticker }}' for i in range(count))
    return "{ " + fields + " }"


async def test_aliases_refused_just_over_the_limit_cold_and_cached(client: Client) -> None:
    at_limit = await client.twice(aliased(MAX_ALIASES))
    assert "errors" not in at_limit and len(at_limit["data"]) == MAX_ALIASES
    over = await client.twice(aliased(MAX_ALIASES + 1))
    assert messages(over) == f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}"
    assert error_codes(over) == ["BAD_USER_INPUT"] and over["data"] is None


@pytest.mark.parametrize(
    ("spreads", "ok"), [(MAX_ALIASES // 3, True), (MAX_ALIASES // 3 + 1, False)]
)
async def test_aliases_in_a_fragment_count_once_per_spread(
    client: Client, spreads: int, ok: bool
) -> None:
    fields = " ".join(f's{i}: symbol(ticker: "AAPL") {{ ...Two }}' for i in range(spreads))
    document = "{ " + fields + " } fragment Two on Symbol { t: ticker n: name }"
    body = await client.twice(document)
    assert ("aliases found" not in messages(body)) is ok, body  # 3 per spread: its own and two


async def test_a_fragment_spread_exponentially_is_refused_not_walked(client: Client) -> None:
    """40 fragments each spreading the next twice: 2**40 aliased fields if executed. Walking
    each spread would never finish; each fragment is walked once."""
    levels = 40
    chain = "".join(
        f"fragment F{i} on Symbol {{ ...F{i + 1} ...F{i + 1} }} " for i in range(levels)
    )
    last = f"fragment F{levels} on Symbol {{ t: ticker }}"
    document = f'{{ symbol(ticker: "AAPL") {{ ...F0 }} }} {chain} {last}'
    body = await client.ask(document)
    assert messages(body) == f"{2**levels} aliases found. Allowed: {MAX_ALIASES}"


async def test_a_fragment_cycle_is_a_validation_error_not_a_crash(client: Client) -> None:
    body = await client.twice(
        '{ symbol(ticker: "AAPL") { ...A } } fragment A on Symbol { a: ticker ...B }'
        " fragment B on Symbol { ...A }"
    )
    assert "Cannot spread fragment 'A' within itself" in messages(body)
    assert set(error_codes(body)) == {"BAD_USER_INPUT"}


def with_tokens(count: int) -> str:
    """A valid document of exactly `count` lexical tokens (12 besides its list values)."""
    document = "{ symbols(tickers: [" + ' "AAPL"' * (count - 12) + "]) { ticker } }"
    lexer, tokens = Lexer(Source(document)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        tokens += 1
    assert tokens == count
    return document


async def test_tokens_refused_just_over_the_limit_cold_and_cached(client: Client) -> None:
    at_limit = await client.twice(with_tokens(MAX_TOKENS))
    assert at_limit["data"] == {"symbols": [{"ticker": "AAPL"}]}, at_limit
    over = await client.twice(with_tokens(MAX_TOKENS + 1))
    assert f"more than {MAX_TOKENS} tokens" in messages(over)
    assert error_codes(over) == ["BAD_USER_INPUT"] and over["data"] is None


async def test_a_repeated_document_is_validated_once(portable_db: Database) -> None:
    """The limit rules are the same objects on every request, so the validation cache hits
    (Strawberry's limiter extensions made new rule classes per request: it never did). Without
    operation plans, so that every request reaches validation."""
    client = Client(portable_db, plans=0)
    cache = LimitedValidationCache(limit_rules(), maxsize=CACHE_SIZE)
    validate = cast("functools._lru_cache_wrapper[Any]", cache.cached_validate_document)
    document = '{ bars(ticker: "AAPL", limit: 1) { time } }'
    await client.ask(document)
    before = validate.cache_info()
    for _ in range(3):
        await client.ask(document)
    after = validate.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)
