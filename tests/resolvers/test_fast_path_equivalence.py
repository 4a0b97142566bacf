"""The fast path answers exactly what stock execution answers, for any selection over Bar.

Random documents mix aliases (some conflicting), duplicate fields, inline and named fragments
(nested), `__typename`, and @include/@skip with literal or variable conditions; both schemas
run them on the same stored rows — ordinary bars, rollups, and rows with values GraphQL must
refuse (NaN, an Int beyond 32 bits), which make stock execution null out items and report
errors — and the answers must be equal, as Python data and as the bytes sent to clients.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import strawberry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.graphql_view import JSON_OPTIONS
from tests.resolvers.conftest import Gateway
from tests.support.graphql import execute

BAR_FIELDS = (
    "time", "open", "high", "low", "close", "volume", "vwap", "trades", "barCount",
    "qualityScore", "gapDetected", "volumeAnomaly", "validationNotes",
)  # fmt: skip
SERIES_FIELDS = (*BAR_FIELDS[:9], "ticker", "timeframe", "__typename")
VARIABLES = ("a", "b", "c")
ODD_ROWS = """
INSERT INTO bars (symbol, timeframe, time, open, high, low, close, volume, vwap, trades,
                  quality_score, gap_detected, volume_anomaly, validation_notes)
VALUES
  ('X:ODDUSD', '1m', '2024-05-06 00:00:00.123456+00', 1, 2, 0.5, 1.5, 10, NULL, 7,
   0.5, true, false, 'gap before; "quoted", unicode ✓'),
  ('X:ODDUSD', '1m', '2024-05-06 00:01:00+00', 1, 'NaN', 0.5, 1.5, 10, 1.2, 3,
   1, false, true, NULL),
  ('X:ODDUSD', '1m', '2024-05-06 00:02:00+00', 1, 2, 0.5, 1.5, 1e300, 1.2, 3000000000,
   1, false, false, NULL),
  ('X:OLDUSD', '1d', '1970-01-01 00:00:00.000001+00', 1, 2, 0.5, 1.5, 10, 1.1, 1, 1, false, false,
   NULL)
"""
DOCUMENT = """
query Q{declarations} {{
  symbols(tickers: ["X:BTCUSD", "X:ODDUSD", "AAPL", "X:OLDUSD", "X:NONEUSD"]) {{
    ticker
    minutes: bars(timeframe: M1, limit: 4) {{ {selection} }}
    hours: bars(timeframe: H1, limit: 3, order: DESC) {{ {selection} }}
    daily: bars(timeframe: D1, limit: 2) {{ {selection} }}
    latestBar(timeframe: D1) {{ {selection} }}
  }}
  bars(ticker: "X:ETHUSD", timeframe: M15, limit: 5) {{ {selection} }}
  series: barSeries(ticker: "X:BTCUSD", timeframe: H1, limit: 5) {{ {series} }}
  odd: barSeries(ticker: "X:ODDUSD", timeframe: M1) {{ {series} }}
}}
{fragments}
"""


@dataclass(frozen=True)
class Document:
    text: str
    variables: dict[str, bool]


def directives() -> st.SearchStrategy[str]:
    condition = st.one_of(
        st.sampled_from(("true", "false")), st.sampled_from(VARIABLES).map("${}".format)
    )
    one = st.tuples(st.sampled_from(("include", "skip")), condition).map(
        lambda d: f"@{d[0]}(if: {d[1]})"
    )
    return st.lists(one, max_size=2).map(" ".join)


def field() -> st.SearchStrategy[str]:
    name = st.sampled_from((*BAR_FIELDS, "__typename"))
    return st.tuples(name, st.sampled_from(("", "", "", "own", "same")), directives()).map(
        lambda f: " ".join(
            part
            for part in (
                {"": "", "own": f"{f[0].strip('_')}Alias:", "same": "same:"}[f[1]] + f[0],
                f[2],
            )
            if part
        )
    )


def selection(fragments: int) -> st.SearchStrategy[str]:
    """A non-empty selection set body; spreads name fragments F0..F{fragments-1}."""

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        inline = st.tuples(st.sampled_from(("... on Bar", "...")), directives(), inner).map(
            lambda i: f"{i[0]} {i[1]} {{ {i[2]} }}"
        )
        options = [field(), inline]
        if fragments:
            spread = st.tuples(st.integers(0, fragments - 1), directives()).map(
                lambda s: f"...F{s[0]} {s[1]}"
            )
            options.append(spread)
        return st.lists(st.one_of(*options), min_size=1, max_size=5).map(" ".join)

    plain = st.lists(field(), min_size=1, max_size=5).map(" ".join)
    return st.recursive(plain, extend, max_leaves=12)


@st.composite
def documents(draw: st.DrawFn) -> Document:
    # fragment i may spread fragments below i only, so there are no cycles
    bodies = [draw(selection(i)) for i in range(draw(st.integers(0, 3)))]
    body = draw(selection(len(bodies)))
    used: set[int] = set()
    pending = [body]
    while pending:
        for index in map(int, re.findall(r"\.\.\.F(\d+)", pending.pop())):
            if index not in used:
                used.add(index)
                pending.append(bodies[index])
    fragments = "\n".join(f"fragment F{i} on Bar {{ {bodies[i]} }}" for i in sorted(used))
    names = sorted(set(re.findall(r"\$(\w+)", body + fragments)))
    declarations = f"({', '.join(f'${n}: Boolean!' for n in names)})" if names else ""
    series = " ".join(draw(st.lists(st.sampled_from(SERIES_FIELDS), min_size=1, max_size=4)))
    text = DOCUMENT.format(
        declarations=declarations, selection=body, fragments=fragments, series=series
    )
    values = draw(st.fixed_dictionaries({n: st.booleans() for n in names}))
    return Document(text, values)


async def answer(gateway: Gateway, schema: strawberry.Schema, document: Document) -> Any:
    result = await execute(schema, document.text, gateway.services, document.variables)
    # Errors of fields that resolve concurrently arrive in database-timing order (in stock
    # execution too), so they are compared in a fixed order.
    errors = sorted((e.formatted for e in result.errors or ()), key=orjson.dumps)
    return {"data": result.data, "errors": errors, "extensions": result.extensions}


@pytest.fixture
async def odd_gateway(gateway: Gateway) -> Gateway:
    await gateway.services.pool.execute(ODD_ROWS)
    return gateway


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=documents())
async def test_fast_and_stock_execution_agree(
    odd_gateway: Gateway,
    fast_schema: strawberry.Schema,
    stock_schema: strawberry.Schema,
    document: Document,
) -> None:
    fast = await answer(odd_gateway, fast_schema, document)
    stock = await answer(odd_gateway, stock_schema, document)
    assert fast == stock, document.text
    assert orjson.dumps(fast, option=JSON_OPTIONS) == orjson.dumps(stock, option=JSON_OPTIONS)


async def test_the_generated_documents_reach_the_interesting_cases(
    odd_gateway: Gateway, fast_schema: strawberry.Schema, stock_schema: strawberry.Schema
) -> None:
    """Spot checks the property relies on: values stock execution refuses, and clean rows."""
    for refused in ("high", "trades"):
        text = DOCUMENT.format(
            declarations="($a: Boolean!)",
            selection=f"t: time ...F0 @include(if: $a) __typename {refused} qualityScore",
            fragments="fragment F0 on Bar { close validationNotes ... { barCount } }",
            series=f"time {refused}",
        )
        for flag in (True, False):
            document = Document(text, {"a": flag})
            fast = await answer(odd_gateway, fast_schema, document)
            assert fast == await answer(odd_gateway, stock_schema, document)
            # NaN and a 33-bit Int are the server's fault: masked, with the path to the value
            assert sorted(e["path"] for e in fast["errors"]) == [
                ["odd", refused, 1 if refused == "high" else 2],
                ["symbols", 1, "minutes", 1 if refused == "high" else 2, refused],
            ]
            assert fast["errors"][0]["extensions"]["code"] == "INTERNAL"
            symbols = fast["data"]["symbols"]
            if refused == "high":  # non-null: the error nulls the list; the rest stands
                assert symbols[1]["minutes"] is None
            else:  # nullable: only the value is nulled
                assert symbols[1]["minutes"][2]["trades"] is None
            assert symbols[1]["latestBar"] is None and symbols[1]["hours"] == []
            assert symbols[2]["minutes"][0]["__typename"] == "Bar"
            assert ("close" in symbols[0]["minutes"][0]) is flag
            assert symbols[3]["daily"][0]["t"] == "1970-01-01T00:00:00.000001Z"
            assert symbols[4]["minutes"] == []
            assert fast["data"]["bars"][0]["t"].endswith(":00Z")
            assert len(fast["data"]["series"]["time"]) == 5
            assert (fast["data"]["odd"] is None) is (refused == "high")
