"""The fast path (schema/fast_path.py) answers byte for byte what stock execution answers.

A property test runs random documents over Bar — aliases (two of one field, names such as
`rows` or `lambda` that the row builder must treat as data), duplicate fields, named and
inline fragments (nested), `__typename`, @include/@skip with literals and with variables —
under root `bars` and under `symbols { bars }`, through `build_schema(fast_path=True)` and
`build_schema(fast_path=False)` on the same stored rows: base bars, rollups (validationNotes
NULL), NULL vwap/trades, extreme but valid values, and values GraphQL must refuse. The
responses are compared as the bytes a client receives (orjson with JSON_OPTIONS), so a
DateTime left to orjson and one serialised by the scalar must read the same.

Targeted tests use a tiny schema over hand-written SQL for what the bars table cannot hold
(NULL in a non-null field) and check the fast path is really taken for plain selections.
"""

from __future__ import annotations

from collections.abc import Sized
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import pytest
import pytest_asyncio
import strawberry
from graphql import get_named_type, parse, validate
from hypothesis import HealthCheck, given, settings
from strawberry.schema.config import StrawberryConfig

from domain.access import Principal, Scope
from domain.timeframes import Timeframe
from schema import build_schema
from schema.fast_path import FastExecutionContext
from schema.records import read_field
from schema.scalars import DATETIME
from storage.tracked_symbols import add_tracked
from tests.support.databases import Database
from tests.support.documents import BAR_FIELDS, EMPTY, ODD, Document, documents
from tests.support.market_cases import Market, encoded, store_cases
from tests.support.properties import check_each_drawn

EXAMPLES = 200

# --- counting what the fast executor does -------------------------------------------------


@dataclass
class Completions:
    """List items of the counted types the fast executor saw, and those stock completed."""

    types: frozenset[str] = frozenset({"Bar", "Row"})
    items: int = 0
    stock: int = 0

    def reset(self) -> None:
        self.items = self.stock = 0


@pytest.fixture
def completions(monkeypatch: pytest.MonkeyPatch) -> Completions:
    seen = Completions()
    list_value = FastExecutionContext.complete_list_value
    object_value = FastExecutionContext.complete_object_value

    def complete_list_value(self: Any, return_type: Any, *args: Any) -> Any:
        result = args[-2]
        if get_named_type(return_type).name in seen.types and isinstance(result, Sized):
            seen.items += len(result)
        return list_value(self, return_type, *args)

    def complete_object_value(self: Any, return_type: Any, *args: Any) -> Any:
        path = args[-3]
        if return_type.name in seen.types and isinstance(path.key, int):
            seen.stock += 1
        return object_value(self, return_type, *args)

    monkeypatch.setattr(FastExecutionContext, "complete_list_value", complete_list_value)
    monkeypatch.setattr(FastExecutionContext, "complete_object_value", complete_object_value)
    return seen


# --- the market schema over stored bars ----------------------------------------------------


@pytest.fixture(scope="module")
def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    return build_schema(fast_path=True), build_schema(fast_path=False)


@pytest_asyncio.fixture(loop_scope="session")
async def market(
    portable_db: Database, schemas: tuple[strawberry.Schema, strawberry.Schema]
) -> Market:
    return Market(await store_cases(portable_db), *schemas)


@dataclass
class Tally:
    examples: int = 0
    executed: int = 0  # responses with data
    with_errors: int = 0
    fast_items: int = 0  # Bar list items built by the fast path
    fallback_items: int = 0  # Bar list items stock completion built under the fast schema
    shapes: set[str] = field(default_factory=set)


async def test_fast_and_stock_answers_are_identical_bytes(
    market: Market, completions: Completions
) -> None:
    tally = Tally()

    async def compare(document: Document) -> None:
        completions.reset()
        fast, stock = await market.both(document.text, document.variables)
        assert fast == stock, (document, fast, stock)
        body = orjson.loads(fast)
        tally.examples += 1
        tally.executed += body.get("data") is not None
        tally.with_errors += "errors" in body
        tally.fast_items += completions.items - completions.stock
        tally.fallback_items += completions.stock
        if ODD not in document.text and document.variables.get("v2", False) is not None:
            # every value elsewhere is one the fast path must take without falling back
            assert completions.stock == 0, document
        tally.shapes.update(
            shape
            for shape, present in (
                ("fragment", "fragment F" in document.text),
                ("inline", "... " in document.text or "...{" in document.text),
                ("variable", bool(document.variables)),
                ("symbols", "symbols(" in document.text),
                ("root bars", ": bars(ticker" in document.text),
            )
            if present
        )

    await check_each_drawn(
        documents(),
        compare,
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )

    # the documents reached what the property is about
    assert tally.examples >= EXAMPLES, tally
    assert tally.executed >= EXAMPLES * 4 // 5, tally  # valid documents, mostly executed
    assert tally.with_errors > 0, tally
    assert tally.fast_items > 1000 and tally.fallback_items > 0, tally
    assert tally.shapes == {"fragment", "inline", "variable", "symbols", "root bars"}, tally


async def test_spot_checks_of_the_stored_cases(market: Market, completions: Completions) -> None:
    """Rollups, NULLs, extremes and refused values, each through both schemas."""
    query = """
    query ($v: Boolean = true) {
      rollup: bars(ticker: "X:BTCUSD", timeframe: H1, limit: 2) {
        time vwap trades barCount validationNotes n: validationNotes @include(if: $v)
      }
      edge: bars(ticker: "X:EDGEUSD", timeframe: M1) {
        ... on Bar { time open high low close volume vwap trades qualityScore validationNotes }
      }
      days: bars(ticker: "X:EDGEUSD", timeframe: D1) { time, t: time, __typename }
      odd: symbols(tickers: ["X:ODDUSD", "X:NONEUSD"]) {
        ticker bars(timeframe: M1, order: DESC) { time high vwap trades qualityScore }
      }
    }
    """
    fast, stock = await market.both(query)
    assert fast == stock
    body = orjson.loads(fast)
    rollup = body["data"]["rollup"]
    assert (rollup[0]["vwap"], rollup[0]["trades"]) == (None, None)  # a bucket without them
    assert all(r["validationNotes"] is None and r["n"] is None for r in rollup)
    edge = body["data"]["edge"]
    assert edge[0]["time"] == "2024-05-06T00:00:00.123456Z"
    assert (edge[0]["open"], edge[0]["trades"], edge[1]["trades"]) == (-0.0, 2**31 - 1, -(2**31))
    assert [d["t"] for d in body["data"]["days"]] == [
        "1970-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z", "2199-12-31T00:00:00Z",
    ]  # fmt: skip
    # NaN in the non-null `high` nulls the whole (nullable) list; the other symbol stands
    assert body["data"]["odd"] == [{"ticker": ODD, "bars": None}, {"ticker": EMPTY, "bars": []}]
    # NaN in a nullable field, a 33-bit Int, Infinity: errors too (the newest bar, at the end of
    # the supported range, is fine; infinite times are refused by the write path and by
    # TimescaleDB's hypertables, and the tiny schema below covers them)
    assert sorted(tuple(e["path"]) for e in body["errors"]) == [
        ("odd", 0, "bars", 2, "qualityScore"),
        ("odd", 0, "bars", 4, "trades"),
        ("odd", 0, "bars", 5, "vwap"),
        ("odd", 0, "bars", 6, "high"),
    ]


async def test_a_null_directive_variable_fails_where_stock_fails(
    market: Market, completions: Completions
) -> None:
    """A nullable variable with a default, given an explicit null, is an error in `if: Boolean!`
    only when the field is collected: stock execution reports it at the first bar."""
    query = """
    query ($v: Boolean = true) {
      bars(ticker: "X:BTCUSD", timeframe: M1, limit: 2) { time ... @skip(if: $v) { open } }
      empty: bars(ticker: "X:NONEUSD") { time @include(if: $v) }
    }
    """
    fast, stock = await market.both(query, {"v": None})
    assert fast == stock
    body = orjson.loads(fast)
    assert body["data"] == {"bars": None, "empty": []}
    assert [e["path"] for e in body["errors"]] == [["bars", 0]]
    # (masked as INTERNAL by ErrorCodes, though the client sent the null: both paths alike)


# --- a tiny schema over hand-written SQL ---------------------------------------------------


@strawberry.type
class Row:
    open: float
    vwap: float | None
    count: int | None
    at: datetime | None
    note: str | None


def _rows(info: strawberry.Info[Any, None], sql: str) -> Any:
    pool: asyncpg.Pool = info.context
    return pool.fetch(sql)


class SubRecord(asyncpg.Record):
    """A record class of our own: not exactly asyncpg.Record."""


@strawberry.type
class TinyQuery:
    @strawberry.field
    async def rows(self, info: strawberry.Info[Any, None], sql: str) -> list[Row] | None:
        return await _rows(info, sql)  # type: ignore[no-any-return]

    @strawberry.field
    async def maybe_rows(
        self, info: strawberry.Info[Any, None], sql: str
    ) -> list[Row | None] | None:
        return await _rows(info, sql)  # type: ignore[no-any-return]

    @strawberry.field
    async def strict_rows(self, info: strawberry.Info[Any, None], sql: str) -> list[Row]:
        return await _rows(info, sql)  # type: ignore[no-any-return]

    @strawberry.field
    async def other_items(
        self, info: strawberry.Info[Any, None], sql: str, kind: str
    ) -> list[Row] | None:
        pool: asyncpg.Pool = info.context
        records = await pool.fetch(sql)
        objects = [
            Row(open=r["open"], vwap=r["vwap"], count=None, at=None, note="o") for r in records
        ]
        items: dict[str, Any] = {
            "objects": objects,
            "mixed": [records[0], *objects[1:]],
            "tuple": tuple(records),
            "generator": (r for r in records),
            "subclass": await pool.fetch(sql, record_class=SubRecord),
            "dicts": [dict(r) for r in records],
            "none item": [records[0], None],
        }
        return items[kind]  # type: ignore[no-any-return]


CONFIG = StrawberryConfig(default_resolver=read_field, scalar_map={datetime: DATETIME})
TINY_FAST = strawberry.Schema(
    query=TinyQuery, config=CONFIG, execution_context_class=FastExecutionContext
)
TINY_STOCK = strawberry.Schema(query=TinyQuery, config=CONFIG)
ROW_FIELDS = "open vwap count at note __typename o2: open"


def values_sql(*rows: str) -> str:
    return (
        "SELECT * FROM (VALUES " + ", ".join(f"({r})" for r in rows) + ")"
        " AS v(open, vwap, count, at, note)"
    )


CLEAN_ROW = "1.5::float8, NULL::float8, 7::bigint, '2024-01-02 03:04:05+00'::timestamptz, 'x'"


async def tiny(
    pool: asyncpg.Pool, field_name: str, sql: str, extra: str = ""
) -> tuple[dict[str, Any], bytes]:
    """Both tiny schemas' answers; they must be equal bytes. Returns the decoded answer."""
    query = f"query ($sql: String!) {{ {field_name}(sql: $sql{extra}) {{ {ROW_FIELDS} }} }}"
    answers = [
        encoded(await schema.execute(query, variable_values={"sql": sql}, context_value=pool))
        for schema in (TINY_FAST, TINY_STOCK)
    ]
    assert answers[0] == answers[1], answers
    return orjson.loads(answers[0]), answers[0]


@pytest.fixture
def pool(portable_db: Database) -> asyncpg.Pool:
    return portable_db.pool


async def test_a_null_in_a_non_null_field_propagates_as_in_stock(
    pool: asyncpg.Pool, completions: Completions
) -> None:
    sql = values_sql(CLEAN_ROW, "NULL::float8, 2.0, 1, NULL, NULL", CLEAN_ROW)
    message = "Cannot return null for non-nullable field Row.open."

    body, _ = await tiny(pool, "rows", sql)
    assert body["data"] == {"rows": None}
    assert [(e["message"], e["path"]) for e in body["errors"]] == [(message, ["rows", 1, "open"])]

    body, _ = await tiny(pool, "maybeRows", sql)
    assert body["data"]["maybeRows"][1] is None
    assert body["data"]["maybeRows"][2]["o2"] == 1.5
    assert [e["path"] for e in body["errors"]] == [["maybeRows", 1, "open"]]

    body, _ = await tiny(pool, "strictRows", sql)
    assert body["data"] is None
    assert [e["path"] for e in body["errors"]] == [["strictRows", 1, "open"]]

    body, _ = await tiny(pool, "rows", values_sql(CLEAN_ROW.replace("1.5::float8", "NULL::float8")))
    assert body["data"] == {"rows": None}  # a single row: the same
    assert [(e["message"], e["path"]) for e in body["errors"]] == [(message, ["rows", 0, "open"])]
    assert completions.stock > 0  # the fast path gave these lists to stock completion


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("'NaN'::float8, 1.0, 1, NULL, NULL", "Float cannot represent non numeric value: nan"),
        ("'Infinity'::float8, 1.0, 1, NULL, NULL", "Float cannot represent non numeric value: inf"),
        ("'-Infinity'::float8, 1.0, 1, NULL, NULL", "non numeric value: -inf"),
        ("1.0::float8, 'NaN'::float8, 1, NULL, NULL", "non numeric value: nan"),
        ("1.0::float8, 'Infinity'::float8, 1, NULL, NULL", "non numeric value: inf"),
        ("1.0::float8, 1.0, 2147483648::bigint, NULL, NULL", "non 32-bit signed integer"),
        ("1.0::float8, 1.0, -2147483649::bigint, NULL, NULL", "non 32-bit signed integer"),
    ],
)
async def test_a_refused_value_gives_the_stock_error(
    pool: asyncpg.Pool, completions: Completions, row: str, error: str
) -> None:
    # the refused value is in the middle row; the others are clean
    sql = values_sql("1.5::float8, 2.5::float8, 3::bigint, NULL::timestamptz, NULL::text", row,
                     "1.5, 2.5, 3, NULL, NULL")  # fmt: skip
    alone = values_sql(row.replace("NULL, NULL", "NULL::timestamptz, NULL::text"))
    for field_name in ("rows", "maybeRows", "strictRows"):
        for rows, index in ((sql, 1), (alone, 0)):  # one row: each value judged on its own
            body, _ = await tiny(pool, field_name, rows)
            assert len(body["errors"]) == 1 and error in body["errors"][0]["message"], body
            assert body["errors"][0]["path"][:2] == [field_name, index]
    assert completions.stock > 0


@pytest.mark.parametrize(
    "row",
    [
        "1.7976931348623157e308::float8, 1.7976931348623157e308::float8, 1, NULL, NULL",
        "1.5::numeric, 2.5::numeric, 3::numeric, NULL, NULL",  # Decimal: stock converts
        "1::bigint, 2::bigint, 3::float8, NULL, NULL",  # ints as Float, a whole float as Int
        "1.5::float8, 2.5::float8, true, NULL, NULL",  # a bool as Int
        "1.5::float8, 2.5::float8, 3, '2024-01-02 03:04:05.5'::timestamp, 5",  # naive; an int
        "1.5::float8, 2.5::float8, 3, 'infinity'::timestamptz, NULL",  # asyncpg: naive max
        "'-0'::float8, '5e-324'::float8, -2147483648, '0001-01-01 00:00+00'::timestamptz, ''",
    ],
)
async def test_values_only_stock_coercion_accepts_answer_the_same(
    pool: asyncpg.Pool, row: str
) -> None:
    sql = values_sql(row, row)  # two of each: the float column sums beyond float range
    for field_name in ("rows", "maybeRows", "strictRows"):
        for rows, count in ((sql, 2), (values_sql(row), 1)):  # one row: judged value by value
            body, _ = await tiny(pool, field_name, rows)
            assert "errors" not in body, body
            assert len(body["data"][field_name]) == count


async def test_a_list_of_enum_values_answers_as_in_stock(market: Market) -> None:
    """A tracked symbol's timeframes are neither records nor scalars: stock completes them."""
    await add_tracked(market.services.pool, "X:BTCUSD", "crypto", [Timeframe.D1, Timeframe.H1])
    admin = Principal(key_id=1, name="admin", scopes=frozenset({Scope.ADMIN}))
    fast, stock = await market.both("{ trackedSymbols { symbol timeframes } }", principal=admin)
    assert fast == stock
    assert orjson.loads(fast)["data"] == {
        "trackedSymbols": [{"symbol": "X:BTCUSD", "timeframes": ["D1", "H1"]}]
    }


async def test_an_empty_list_is_empty(
    pool: asyncpg.Pool, market: Market, completions: Completions
) -> None:
    sql = values_sql(CLEAN_ROW) + " WHERE false"
    for field_name in ("rows", "maybeRows", "strictRows"):
        _, raw = await tiny(pool, field_name, sql)
        assert raw == b'{"data":{"%s":[]}}' % field_name.encode()
    fast, stock = await market.both(
        '{ bars(ticker: "X:NONEUSD") { time } symbols(tickers: ["X:NONEUSD"]) { bars { open } } }'
    )
    assert fast == stock
    assert orjson.loads(fast)["data"] == {"bars": [], "symbols": [{"bars": []}]}


@pytest.mark.parametrize(
    "kind", ["objects", "mixed", "tuple", "generator", "subclass", "dicts", "none item"]
)
async def test_items_that_are_not_plain_records_fall_back(
    pool: asyncpg.Pool, completions: Completions, kind: str
) -> None:
    sql = values_sql(CLEAN_ROW, CLEAN_ROW.replace("1.5", "2.5"))
    body, _ = await tiny(pool, "otherItems", sql, f', kind: "{kind}"')
    assert completions.stock > 0
    if kind in ("tuple", "generator", "subclass"):
        assert "errors" not in body
        assert [r["open"] for r in body["data"]["otherItems"]] == [1.5, 2.5]
        assert body["data"]["otherItems"][0]["at"] == "2024-01-02T03:04:05Z"
    elif kind in ("objects", "mixed"):
        assert "errors" not in body
        assert [r["note"] for r in body["data"]["otherItems"]] == [
            "o" if kind == "objects" else "x",
            "o",
        ]
    else:  # dicts have no attributes; None in a non-null item
        assert body["data"] == {"otherItems": None} and len(body["errors"]) == 1


async def test_the_fast_path_is_taken_for_plain_selections(
    pool: asyncpg.Pool, market: Market, completions: Completions
) -> None:
    body, _ = await tiny(pool, "rows", values_sql(CLEAN_ROW, CLEAN_ROW, CLEAN_ROW))
    assert len(body["data"]["rows"]) == 3
    assert (completions.items, completions.stock) == (3, 0)

    completions.reset()
    fields = " ".join(f"{f} a_{f.strip('_')}: {f}" for f in BAR_FIELDS)
    query = """
    query ($yes: Boolean!, $no: Boolean!) {
      bars(ticker: "X:BTCUSD", timeframe: M1, limit: 300) { FIELDS }
      symbols(tickers: ["X:BTCUSD", "X:ETHUSD", "AAPL"]) {
        bars(timeframe: H1, order: DESC) {
          time ...F @include(if: $yes) ... on Bar @skip(if: $no) { close c: close }
          vwap @skip(if: $yes)
        }
        daily: bars(timeframe: MO1) { ... { ... on Bar { time vwap trades barCount } } }
      }
    }
    fragment F on Bar { open vwap validationNotes }
    """.replace("FIELDS", fields)
    fast, stock = await market.both(query, {"yes": True, "no": False})
    assert fast == stock
    body = orjson.loads(fast)
    assert "errors" not in body
    assert len(body["data"]["bars"]) == 300
    assert list(body["data"]["bars"][0])[:4] == ["time", "a_time", "open", "a_open"]
    hourly = body["data"]["symbols"][0]["bars"]
    assert list(hourly[0]) == ["time", "open", "vwap", "validationNotes", "close", "c"]
    assert completions.items > 300 and completions.stock == 0


async def test_documents_alike_but_for_their_fragment_read_their_own_columns(
    market: Market,
) -> None:
    """A compiled field keeps the columns its selection names (schema/selection.py): each
    document's own, though all three look alike but for what their fragment `F` selects."""
    document = (
        '{ bars(ticker: "X:BTCUSD", timeframe: M1, limit: 2) { ...F } } fragment F on Bar { %s }'
    )
    for _ in range(3):  # compiled after the first request, then kept
        for name in ("open", "close", "volume"):
            fast, stock = await market.both(document % name)
            assert fast == stock
            bars = orjson.loads(fast)["data"]["bars"]
            assert [list(bar) for bar in bars] == [[name], [name]]
            assert all(isinstance(bar[name], float) for bar in bars)


async def test_series_columns_are_coerced_whole_not_item_by_item(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    """barSeries' lists of scalars take the fast path too: stock completes no item of them."""
    items: list[list[str | int]] = []
    complete_value = FastExecutionContext.complete_value

    def counted(self: Any, return_type: Any, details: Any, info: Any, path: Any, *rest: Any) -> Any:
        if isinstance(path.key, int):
            items.append(path.as_list())
        return complete_value(self, return_type, details, info, path, *rest)

    monkeypatch.setattr(FastExecutionContext, "complete_value", counted)
    query = """{ barSeries(ticker: "X:BTCUSD", timeframe: M1, from: "2024-05-06T00:00:00Z",
                           limit: 90) { ticker time open vwap trades barCount } }"""
    fast, stock = await market.both(query)
    assert fast == stock
    series = orjson.loads(fast)["data"]["barSeries"]
    assert len(series["time"]) == 90 and None in series["vwap"] and None not in series["open"]
    assert items == []


@pytest.mark.parametrize("column", ["high", "vwap", "trades", "low"])
async def test_a_series_value_graphql_cannot_represent_gives_the_stock_error(
    market: Market, column: str
) -> None:
    """NaN, infinities and a 33-bit Int: the column falls back to stock, which locates the
    error at the item (nulling the item of a nullable list, else the whole series)."""
    query = """{ barSeries(ticker: "TICKER", timeframe: M1, from: "2024-05-06T00:00:00Z")
                 { time COLUMN } }""".replace("TICKER", ODD).replace("COLUMN", column)
    fast, stock = await market.both(query)
    assert fast == stock
    body = orjson.loads(fast)
    assert len(body["errors"]) == 1 and body["errors"][0]["path"][:2] == ["barSeries", column]


def test_the_generated_documents_reach_the_interesting_cases(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
) -> None:
    """The strategy itself (no database): what it draws is valid, and varied."""
    seen: list[Document] = []

    # drawing is slow on a loaded machine; what matters is what it draws, not how fast
    @settings(max_examples=60, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(document=documents())
    def collect(document: Document) -> None:
        seen.append(document)

    collect()
    graphql_schema = schemas[0]._schema
    valid = [d for d in seen if not validate(graphql_schema, parse(d.text))]
    assert len(valid) >= len(seen) * 4 // 5, [d.text for d in seen if d not in valid][:3]
    text = "\n".join(d.text for d in valid)
    for needle in ("fragment F", "... on Bar", "@include(if: $v", "@skip(if: true)", "symbols("):
        assert needle in text, needle
    assert any(d.variables for d in valid)
