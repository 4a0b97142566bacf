"""Random variables and malformed documents against a real server: never a 500, never INTERNAL.

Every answer must be a 200 whose errors each carry an `extensions.code` other than INTERNAL,
or a 4xx with a JSON body; afterwards the stored data must be exactly as it was. Hypothesis
runs in a worker thread with a blocking client, so the event loop (and its database pool)
stays free while the server answers.
"""

from __future__ import annotations

import asyncio
import json
import string
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.access import Scope
from domain.timeframes import Timeframe
from gateway.app import create_app
from gateway.settings import Settings
from storage import api_keys
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from storage.symbols import SymbolIn, upsert_symbols
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.live_server import serve_in_thread

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same examples every run: CI stays repeatable
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TICKERS = ("AAPL", "X:BTCUSD", "MSFT", "ZZZZ", "C:EURUSD", "I:SPX", "BRK.B")
TABLES = ("bars", "bars_5m", "bars_1h", "bars_1mo", "symbols", "api_keys", "coverage")

# `$limit`/`$tf` declared non-null: any value, null or missing included, is judged by coercion.
STRICT_VARIABLES = """
query Fuzz($ticker: String!, $from: DateTime, $to: DateTime, $limit: Int!, $tf: Timeframe!,
           $tickers: [String!]) {
  bars(ticker: $ticker, timeframe: $tf, from: $from, to: $to, limit: $limit) {
    time open close volume barCount
  }
  symbols(tickers: $tickers) {
    ticker market
    bars(timeframe: $tf, from: $from, to: $to, limit: 2) { time close }
    latestBar(timeframe: $tf) { time close }
  }
  symbol(ticker: $ticker) { ticker name }
}
"""
# Nullable `$limit`/`$tf` for arguments with defaults: an explicit null is a client mistake
# (BAD_USER_INPUT, see test_queries.py::...[null-for-defaulted-argument]).
NULLABLE_VARIABLES = """
query Fuzz($ticker: String!, $from: DateTime!, $to: DateTime!, $limit: Int, $tf: Timeframe,
           $tickers: [String!]!) {
  bars(ticker: $ticker, timeframe: $tf, from: $from, to: $to, limit: $limit, order: DESC) {
    time high low
  }
  aggregates(tickers: $tickers, from: $from, to: $to) { ticker close barCount }
  symbols(tickers: $tickers) { aggregate(from: $from, to: $to) { change changePercent } }
}
"""
VALID_DOCUMENTS = (
    STRICT_VARIABLES,
    NULLABLE_VARIABLES,
    '{ bars(ticker: "AAPL", timeframe: D1, limit: 5) { time close } }',
    '{ symbols(search: "A", market: STOCKS, first: 3) { ticker bars(limit: 1) { close } } }',
    '{ symbol(ticker: "AAPL") { latestBar { time } aggregate(from: "2024-01-01T00:00:00Z",'
    ' to: "2024-02-01T00:00:00Z", basis: D1) { close } } }',
    'query Q { ...F } fragment F on Query { symbols(tickers: ["AAPL"]) { ticker } }',
    "{ me { id } apiKeys { id } }",
    'mutation { createApiKey(name: "fuzz", scopes: [ADMIN]) { apiKey } }',
    "mutation { deleteApiKey(id: 1) revokeApiKey(id: 1) { id } }",
    "{ __schema { types { name fields { name } } } }",
)
GRAPHQL_TOKENS = (
    "{", "}", "(", ")", "[", "]", ":", "!", "=", "...", "@skip(if: true)", "@include", "$x",
    "query", "mutation", "subscription", "fragment", "on", "Query", "Bar", "bars", "symbols",
    "symbol", "ticker", "time", "limit", "timeframe", "from", "to", '"AAPL"', '"', "1", "-1",
    "1e999", "99999999999", "null", "true", "H1", "MO1", "__typename", "__schema", "#", "\\u0000",
    '"""', "a:", "b:", "\n",
)  # fmt: skip


# -- strategies -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**31) - 1, max_value=2**31)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Well-formed values (which may still be refused: an unknown ticker, end before start, a limit
# over the cap, 501 tickers)...
WELL_FORMED: dict[str, st.SearchStrategy[Any]] = {
    "ticker": st.sampled_from(TICKERS),
    "from": st.sampled_from(["2024-01-02T00:00:00Z", "2024-01-02T15:00:00+01:00"])
    | st.datetimes(min_value=datetime(2023, 12, 1), max_value=datetime(2024, 4, 1)).map(
        lambda t: t.replace(tzinfo=UTC).isoformat()
    ),
    "to": st.sampled_from(["2024-03-01T00:00:00Z", "2024-01-02T16:00:00Z"])
    | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda t: t.replace(tzinfo=UTC).isoformat()
    ),
    "limit": st.integers(min_value=1, max_value=1000)
    | st.sampled_from([0, -1, 100_000, 100_001, 2**31 - 1]),
    "tf": st.sampled_from([t.name for t in Timeframe]),
    "tickers": st.lists(st.sampled_from(TICKERS), max_size=8)
    | st.integers(min_value=495, max_value=505).map(lambda n: [f"T{i}" for i in range(n)]),
}
# ...and values of the wrong shape altogether.
junk = st.one_of(
    json_values,
    st.text(string.ascii_letters + string.digits + ":.-", max_size=24),  # tickers, enum names
    st.datetimes().map(lambda t: t.isoformat()),  # naive: refused
    st.sampled_from(["2024-01-02", "2024-13-40T25:61:00Z", "now", "", "1h", "h1", "Y1"]),
    st.sampled_from([2**31, -(2**31) - 1, 1.5, "5"]),
    st.lists(st.text(max_size=5), max_size=4),
)


@st.composite
def fuzzed(draw: st.DrawFn) -> dict[str, Any]:
    """Each variable mostly well-formed, else junk or missing; now and then an undeclared one."""
    out = {}
    for name, good in WELL_FORMED.items():
        roll = draw(st.integers(min_value=0, max_value=24))
        if roll < 20:
            out[name] = draw(good)
        elif roll < 23:
            out[name] = draw(junk)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        out["unexpected"] = draw(json_values)
    return out


variable_requests = st.one_of(
    st.tuples(st.just(STRICT_VARIABLES), fuzzed()),
    st.tuples(st.just(NULLABLE_VARIABLES), fuzzed()),
)


@st.composite
def truncated(draw: st.DrawFn) -> str:
    document = draw(st.sampled_from(VALID_DOCUMENTS))
    return document[: draw(st.integers(min_value=0, max_value=len(document)))]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    document = list(draw(st.sampled_from(VALID_DOCUMENTS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(document) - 1))
        if draw(st.booleans()):
            del document[at]
        else:
            document.insert(at, draw(st.sampled_from("{}()[]:!$@\"'.,#\\ \n\x00é")))
    return "".join(document)


documents = st.one_of(
    st.text(max_size=200),
    truncated(),
    mutated(),
    st.lists(st.sampled_from(GRAPHQL_TOKENS), max_size=40).map(" ".join),
)


# -- the contract ---------------------------------------------------------------------------


def violations(response: httpx.Response) -> list[str]:
    """What is wrong with an answer: a 5xx, a non-JSON refusal, an INTERNAL or uncoded error."""
    status = response.status_code
    if status >= 500 or status < 200 or 300 <= status < 400:
        return [f"status {status}: {response.text[:200]}"]
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if 400 <= status < 500:
        if is_json:
            return []
        return [f"{status} without a JSON body: {response.text[:200]!r}"]
    if status != 200 or not is_json:
        return [f"status {status}, {response.headers.get('content-type')}"]
    body = response.json()
    problems = []
    if "data" not in body and not body.get("errors"):
        problems.append(f"neither data nor errors: {body}")
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL":
            problems.append(f"INTERNAL: {error}")
        elif code is None:
            problems.append(f"no code: {error}")
    return problems


def outcome(response: httpx.Response) -> str:
    """e.g. `200 data`, `200 BAD_USER_INPUT` (with `+ data` when some fields answered), `400`."""
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return f"{response.status_code}"
    body = response.json()
    if not body.get("errors"):
        return "200 data"
    answered = any(v is not None for v in (body.get("data") or {}).values())
    codes = "/".join(sorted({str(error_codes_of(e)) for e in body["errors"]}))
    return f"200 {codes}" + (" + data" if answered else "")


def error_codes_of(error: dict[str, Any]) -> str | None:
    code = (error.get("extensions") or {}).get("code")
    return None if code is None else str(code)


# -- the server and the data --------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    async with cloned_database(server, templates) as database:
        await upsert_symbols(
            database.pool,
            [SymbolIn("AAPL", "Apple Inc.", "stocks"), SymbolIn("MSFT", "Microsoft", "stocks")],
        )
        start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
        minutes = [
            BarIn(s, start + timedelta(minutes=i), 10 + i, 11 + i, 9 + i, 10.5 + i, 100.0 * i)
            for s in ("AAPL", "X:BTCUSD")
            for i in range(120)
        ]
        days = [
            BarIn(
                "AAPL", datetime(2024, 1, 2, 5, tzinfo=UTC) + timedelta(days=i), 1, 2, 0.5, 1.5, 9
            )
            for i in range(60)
            if (date(2024, 1, 2) + timedelta(days=i)).weekday() < 5
        ]
        await upsert_bars(database.pool, Timeframe.M1, minutes, database.backend)
        await upsert_bars(database.pool, Timeframe.D1, days, database.backend)
        await api_keys.create_key(database.pool, "an admin key", [Scope.ADMIN])
        yield database


@pytest.fixture(scope="module")
def fuzz_url(fuzz_db: Database) -> Iterator[str]:
    config = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=fuzz_db.url,
        timescaledb="off",
        db_pool_min_size=1,
        db_pool_max_size=4,
        polygon_api_key=None,
        anonymous_reads=True,
        anonymous_rate_limit_per_minute=0,  # the fuzzer sends hundreds of keyless requests
        max_request_body_bytes=1_000_000,
        max_bars_per_response=100_000,
        cors_origins=[],
    )
    with serve_in_thread(create_app(config), lifespan="on") as url:
        yield url


async def checksum(db: Database) -> dict[str, str]:
    """A digest of every row of the tables a request could touch."""
    sums = {}
    for table in TABLES:
        sums[table] = await db.pool.fetchval(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        )
    return sums


async def fuzz(
    db: Database,
    url: str,
    requests: st.SearchStrategy[Any],
    expected_outcomes: set[str],
) -> None:
    before = await checksum(db)
    seen: Counter[str] = Counter()

    @FUZZ
    @given(request=requests)
    def check(client: httpx.Client, request: Any) -> None:
        if isinstance(request, tuple):
            document, values = request
            payload: dict[str, Any] = {"query": document, "variables": values}
        else:
            payload = {"query": request}
        response = client.post("/graphql", content=json.dumps(payload))
        seen[outcome(response)] += 1
        problems = violations(response)
        assert not problems, (payload, problems)

    def run() -> None:
        headers = {"Content-Type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            check(client)
            assert client.get("/health").status_code == 200  # still serving

    await asyncio.to_thread(run)
    assert await checksum(db) == before  # nothing written, whatever was sent
    assert expected_outcomes <= set(seen), seen  # the fuzzing reached where it was meant to


async def test_random_variables_never_fail_internally(fuzz_db: Database, fuzz_url: str) -> None:
    await fuzz(fuzz_db, fuzz_url, variable_requests, {"200 data", "200 BAD_USER_INPUT"})


async def test_malformed_documents_never_fail_internally(fuzz_db: Database, fuzz_url: str) -> None:
    await fuzz(fuzz_db, fuzz_url, documents, {"200 BAD_USER_INPUT"})
