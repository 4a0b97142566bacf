"""The older API's read routes over real HTTP (COMPAT.md): fields, bounds, access, agreement
with GraphQL. One server per configuration and one database per module."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from pydantic import BaseModel

from domain.access import Scope
from domain.timeframes import Timeframe
from gateway.rest import models
from resolvers.validation import HISTORY_TIMEFRAMES
from storage import api_keys
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.gateway import auth, live, make_key, settings

NY = ZoneInfo("America/New_York")
HISTORICAL_FIELDS = {
    "time", "symbol", "timeframe", "open", "high", "low", "close", "volume", "vwap", "source",
    "validated", "quality_score", "validation_notes", "gap_detected", "volume_anomaly",
    "fetched_at",
}  # fmt: skip
BORDERLINE_DAY = date(2024, 1, 10)  # quality 0.85: passes the default threshold exactly
BAD_DAY = date(2024, 1, 11)  # quality 0.5
CAP = 25


def ny_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=NY).astimezone(UTC)


def weekdays(start: date, end: date) -> list[date]:
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return [d for d in days if d.weekday() < 5]


def stock_days() -> list[BarIn]:
    bars = []
    for i, day in enumerate(weekdays(date(2024, 1, 2), date(2024, 2, 29))):
        price = 100 + i
        score = {BORDERLINE_DAY: 0.85, BAD_DAY: 0.5}.get(day, 1.0)
        notes = "open outside low-high" if day == BAD_DAY else None
        bars.append(
            BarIn("AAPL", ny_midnight(day), price, price + 2, price - 1, price + 1, 1000.0 + i,
                  price + 0.5, 10, quality_score=score, validation_notes=notes, source="test")
        )  # fmt: skip
    return bars


def crypto_days() -> list[BarIn]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        BarIn("X:BTCUSD", start + timedelta(days=i), 40000.0 + i, 40100.0 + i, 39900.0 + i,
              40050.0 + i, 5.5, 40010.0 + i, 100)
        for i in range(31)
    ]  # fmt: skip


def stock_minutes() -> list[BarIn]:
    """2024-01-03 in New York: 14:30 to 16:30 UTC, and 21:00 to 21:05 (02:00 UTC next day)."""
    morning = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
    evening = datetime(2024, 1, 4, 2, 0, tzinfo=UTC)
    times = [morning + timedelta(minutes=i) for i in range(120)]
    times += [evening + timedelta(minutes=i) for i in range(5)]
    return [BarIn("AAPL", t, 110.0, 111.0, 109.0, 110.5, 10.0, 110.2, 3) for t in times]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def rest_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    async with cloned_database(server, templates) as database:
        await upsert_bars(database.pool, Timeframe.D1, stock_days(), database.backend)
        await upsert_bars(database.pool, Timeframe.D1, crypto_days(), database.backend)
        await upsert_bars(database.pool, Timeframe.M1, stock_minutes(), database.backend)
        yield database


@pytest.fixture(scope="module")
def strict_url(rest_db: Database) -> Iterator[str]:
    with live(settings(rest_db, max_bars_per_response=CAP, usage_flush_seconds=0.1)) as url:
        yield url


@pytest.fixture(scope="module")
def open_url(rest_db: Database) -> Iterator[str]:
    with live(settings(rest_db, anonymous_reads=True)) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def keys(rest_db: Database) -> dict[str, str | None]:
    _, read = await make_key(rest_db, "reader", Scope.READ)
    _, admin = await make_key(rest_db, "admin", Scope.ADMIN)
    revoked_id, revoked = await make_key(rest_db, "revoked", Scope.ADMIN)
    await api_keys.set_active(rest_db.pool, revoked_id, False)
    return {"none": None, "wrong": "mg_" + "x" * 43, "revoked": revoked, "read": read,
            "admin": admin}  # fmt: skip


async def get(
    client: httpx.AsyncClient, url: str, path: str, key: str | None, **params: Any
) -> httpx.Response:
    return await client.get(f"{url}{path}", params=params, headers=auth(key))


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "code"} and body["code"] == code and body["detail"]


def history(client: httpx.AsyncClient, url: str, key: str | None, symbol: str = "AAPL",
            **params: Any) -> Any:  # fmt: skip
    return get(client, url, f"/api/v1/historical/{symbol}", key, **params)


# -- service routes --------------------------------------------------------------------------


async def test_root_and_health_answer_without_a_key(
    strict_url: str, client: httpx.AsyncClient
) -> None:
    root = await client.get(f"{strict_url}/")
    assert root.status_code == 200
    body = root.json()
    assert {"name", "version", "description", "dashboard", "docs", "graphql", "authentication",
            "endpoints"} <= set(body)  # fmt: skip
    assert body["endpoints"]["historical"] == "/api/v1/historical/{symbol}"
    assert body["dashboard"] == "/dashboard"
    assert (await client.get(f"{strict_url}{body['dashboard']}")).status_code == 200
    health = await client.get(f"{strict_url}/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert health.json()["scheduler_running"] is False  # no BACKFILL_SCHEDULE


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_the_test_runner_route_is_not_served(
    strict_url: str, client: httpx.AsyncClient, keys: Any, method: str
) -> None:
    response = await client.request(
        method, f"{strict_url}/api/v1/tests/run", headers=auth(keys["admin"])
    )
    refused(response, 404, "NOT_FOUND")


# -- historical ------------------------------------------------------------------------------


async def test_historical_answers_the_documented_fields(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    response = await history(client, strict_url, keys["read"], start="2024-01-02", end="2024-01-05")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["symbol"] == "AAPL" and body["timeframe"] == "1d"
    assert (body["start_date"], body["end_date"]) == ("2024-01-02", "2024-01-05")
    assert body["count"] == len(body["data"]) == 4
    first = body["data"][0]
    assert set(first) == HISTORICAL_FIELDS
    assert first["time"] == "2024-01-02T05:00:00Z"
    assert (first["open"], first["close"], first["volume"]) == (100.0, 101.0, 1000.0)
    assert first["validated"] is True and first["quality_score"] == 1.0
    assert first["source"] == "test" and first["gap_detected"] is False


async def test_days_are_new_york_days_for_stocks_and_utc_days_for_crypto(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    stock = await history(client, strict_url, keys["read"], start="2024-01-03", end="2024-01-03")
    assert [b["time"] for b in stock.json()["data"]] == ["2024-01-03T05:00:00Z"]
    coin = await history(client, strict_url, keys["read"], "X:BTCUSD", start="2024-01-03",
                         end="2024-01-03")  # fmt: skip
    assert [b["time"] for b in coin.json()["data"]] == ["2024-01-03T00:00:00Z"]
    hours = await history(client, strict_url, keys["read"], start="2024-01-03",
                          end="2024-01-03", timeframe="1h")  # fmt: skip
    assert [b["time"] for b in hours.json()["data"]] == [
        "2024-01-03T14:00:00Z", "2024-01-03T15:00:00Z", "2024-01-03T16:00:00Z",
        "2024-01-04T02:00:00Z",  # 21:00 in New York, still the 3rd there
    ]  # fmt: skip


async def test_quality_filter_at_and_past_the_threshold(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    def days(response: httpx.Response) -> dict[str, bool]:
        return {b["time"][:10]: b["validated"] for b in response.json()["data"]}

    span = {"start": "2024-01-09", "end": "2024-01-12"}
    default = await history(client, strict_url, keys["read"], **span)
    assert days(default) == {"2024-01-09": True, "2024-01-10": True, "2024-01-12": True}
    stricter = await history(client, strict_url, keys["read"], min_quality=0.86, **span)
    assert days(stricter) == {"2024-01-09": True, "2024-01-12": True}
    everything = await history(client, strict_url, keys["read"], validated_only="false", **span)
    assert days(everything) == {
        "2024-01-09": True, "2024-01-10": True, "2024-01-11": False, "2024-01-12": True
    }  # fmt: skip
    bad = everything.json()["data"][2]
    assert bad["quality_score"] == 0.5 and bad["validation_notes"] == "open outside low-high"


@pytest.mark.parametrize(
    ("value", "status"),
    [("0", 200), ("1", 200), ("-0.01", 400), ("1.01", 400), ("high", 422)],
)
async def test_min_quality_bounds(
    strict_url: str, client: httpx.AsyncClient, keys: Any, value: str, status: int
) -> None:
    response = await history(client, strict_url, keys["read"], start="2024-01-02",
                             end="2024-01-05", min_quality=value)  # fmt: skip
    if status == 200:
        assert response.status_code == 200, response.text
    else:
        refused(response, status, "BAD_USER_INPUT")


@pytest.mark.parametrize("timeframe", [t.value for t in HISTORY_TIMEFRAMES])
async def test_every_documented_timeframe_answers(
    strict_url: str, client: httpx.AsyncClient, keys: Any, timeframe: str
) -> None:
    response = await history(client, strict_url, keys["read"], start="2024-01-01",
                             end="2024-01-07", timeframe=timeframe)  # fmt: skip
    assert response.status_code == 200, response.text
    assert {b["timeframe"] for b in response.json()["data"]} == {timeframe}


@pytest.mark.parametrize("timeframe", ["1m", "1mo", "2h", ""])
async def test_undocumented_timeframes_are_refused(
    strict_url: str, client: httpx.AsyncClient, keys: Any, timeframe: str
) -> None:
    response = await history(client, strict_url, keys["read"], start="2024-01-03",
                             end="2024-01-03", timeframe=timeframe)  # fmt: skip
    refused(response, 400, "BAD_USER_INPUT")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"start": "2024-01-02"}, 422),
        ({"end": "2024-01-02"}, 422),
        ({"start": "2024-13-01", "end": "2024-01-02"}, 422),
        ({"start": "yesterday", "end": "2024-01-02"}, 422),
        ({"start": "2024-01-05", "end": "2024-01-04"}, 400),
    ],
)
async def test_missing_malformed_and_reversed_dates(
    strict_url: str, client: httpx.AsyncClient, keys: Any, params: dict[str, str], status: int
) -> None:
    refused(await history(client, strict_url, keys["read"], **params), status, "BAD_USER_INPUT")


async def test_no_data_and_unknown_symbols_are_404_and_bad_tickers_400(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    span = {"start": "2020-01-02", "end": "2020-01-05"}
    refused(await history(client, strict_url, keys["read"], **span), 404, "NOT_FOUND")
    refused(await history(client, strict_url, keys["read"], "ZZZZ", **span), 404, "NOT_FOUND")
    refused(await history(client, strict_url, keys["read"], "A$B", **span), 400, "BAD_USER_INPUT")


async def test_the_bars_cap_applies_on_both_sides(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    # 25 weekdays from 2024-01-02 to 2024-02-05 (two below the threshold, so validated_only off)
    full = {"start": "2024-01-02", "end": "2024-02-05", "validated_only": "false"}
    at_cap = await history(client, strict_url, keys["read"], **full)
    assert at_cap.json()["count"] == CAP
    refused(await history(client, strict_url, keys["read"], **{**full, "end": "2024-02-06"}),
            400, "BAD_USER_INPUT")  # fmt: skip


@pytest.mark.parametrize("timeframe", ["1d", "1w", "1h"])
async def test_rest_and_graphql_return_the_same_bars(
    strict_url: str, client: httpx.AsyncClient, keys: Any, timeframe: str
) -> None:
    rest = await history(client, strict_url, keys["read"], start="2024-01-01", end="2024-01-21",
                         timeframe=timeframe, validated_only="false")  # fmt: skip
    query = """query($tf: Timeframe!, $from: DateTime!, $to: DateTime!) {
        bars(ticker: "AAPL", timeframe: $tf, from: $from, to: $to, limit: 25) {
            time open high low close volume vwap } }"""
    variables = {"tf": Timeframe(timeframe).name, "from": "2024-01-01T05:00:00Z",
                 "to": "2024-01-22T05:00:00Z"}  # fmt: skip
    graphql = await client.post(f"{strict_url}/graphql", headers=auth(keys["read"]),
                                json={"query": query, "variables": variables})  # fmt: skip
    fields = ("time", "open", "high", "low", "close", "volume", "vwap")
    rest_bars = [{f: b[f] for f in fields} for b in rest.json()["data"]]
    assert rest_bars and rest_bars == (graphql.json()["data"] or {}).get("bars"), graphql.text


# -- symbols, bars, status -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asset_class", "expected"),
    [(None, ["AAPL", "X:BTCUSD"]), ("stock", ["AAPL"]), ("crypto", ["X:BTCUSD"])],
)
async def test_symbols_by_asset_class(
    strict_url: str, client: httpx.AsyncClient, keys: Any, asset_class: str | None,
    expected: list[str],
) -> None:  # fmt: skip
    params = {} if asset_class is None else {"asset_class": asset_class}
    response = await get(client, strict_url, "/api/v1/symbols", keys["read"], **params)
    assert response.json() == {"symbols": expected, "count": len(expected)}
    refused(await get(client, strict_url, "/api/v1/symbols", keys["read"], asset_class="fx"),
            400, "BAD_USER_INPUT")  # fmt: skip


async def test_symbols_detailed_reports_figures_and_health(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    response = await get(client, strict_url, "/api/v1/symbols/detailed", keys["read"])
    body = response.json()
    assert body["count"] == 2
    aapl = body["symbols"][0]
    days = len(stock_days())
    assert aapl["symbol"] == "AAPL"
    assert aapl["records"] == days + len(stock_minutes())
    assert aapl["validation_rate"] == round(100 * (aapl["records"] - 1) / aapl["records"], 2)
    assert aapl["timeframes"] == ["1d", "1m"]
    assert aapl["latest_data"] == "2024-02-29T05:00:00Z"
    assert aapl["data_age_hours"] > 72 and aapl["status"] == "stale"


async def test_status_and_metrics_count_what_is_stored(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    records = len(stock_days()) + len(crypto_days()) + len(stock_minutes())
    status = (await get(client, strict_url, "/api/v1/status", keys["read"])).json()
    assert status["database"] == {
        "symbols_available": 2,
        "latest_data": "2024-02-29T05:00:00Z",
        "total_records": records,
        "validated_records": records - 1,
        "validation_rate_pct": round(100 * (records - 1) / records, 2),
    }
    assert status["data_quality"]["scheduler_status"] == "disabled"
    metrics = (await get(client, strict_url, "/api/v1/metrics", keys["read"])).json()
    assert metrics["database"] == status["database"]
    assert metrics["scheduler"] == {"running": False, "schedule": None}
    assert metrics["last_backfill"]["time"] is None


async def test_bars_newest_first_over_symbols(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    response = await get(client, strict_url, "/api/v1/bars", keys["read"], symbols="AAPL,X:BTCUSD",
                         limit=2)  # fmt: skip
    body = response.json()
    assert body["status"] == "success"
    assert [(b["symbol"], b["timestamp"]) for b in body["data"]] == [
        ("AAPL", "2024-02-29T05:00:00Z"), ("AAPL", "2024-02-28T05:00:00Z"),
        ("X:BTCUSD", "2024-01-31T00:00:00Z"), ("X:BTCUSD", "2024-01-30T00:00:00Z"),
    ]  # fmt: skip
    assert set(body["data"][0]) == {"symbol", "timestamp", "open", "high", "low", "close",
                                    "volume", "vwap"}  # fmt: skip
    one = await get(client, strict_url, "/api/v1/bars", keys["read"], symbol="x:btcusd", limit=1)
    assert [b["symbol"] for b in one.json()["data"]] == ["X:BTCUSD"]
    crypto = await get(client, strict_url, "/api/v1/bars", keys["read"], symbols="AAPL,X:BTCUSD",
                       asset_class="crypto", limit=1)  # fmt: skip
    assert [b["symbol"] for b in crypto.json()["data"]] == ["X:BTCUSD"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"symbol": "AAPL", "limit": 0}, 400),
        ({"symbol": "AAPL", "limit": CAP + 1}, 400),
        ({"symbols": "AAPL,X:BTCUSD", "limit": CAP // 2 + 1}, 400),
        ({"symbol": "AAPL", "limit": "many"}, 422),
        ({"symbol": "AAPL", "timeframe": "2h"}, 400),
        ({}, 422),
        ({"symbols": ","}, 422),
    ],
)
async def test_bars_refusals(
    strict_url: str, client: httpx.AsyncClient, keys: Any, params: dict[str, Any], status: int
) -> None:
    response = await get(client, strict_url, "/api/v1/bars", keys["read"], **params)
    refused(response, status, "BAD_USER_INPUT")


async def test_bars_limit_at_the_cap(strict_url: str, client: httpx.AsyncClient, keys: Any) -> None:
    response = await get(client, strict_url, "/api/v1/bars", keys["read"], symbol="AAPL",
                         limit=CAP)  # fmt: skip
    assert len(response.json()["data"]) == CAP


# -- access ----------------------------------------------------------------------------------

READ_ROUTES = (
    "/api/v1/status",
    "/api/v1/metrics",
    "/api/v1/historical/AAPL?start=2024-01-02&end=2024-01-05",
    "/api/v1/symbols",
    "/api/v1/symbols/detailed",
    "/api/v1/bars?symbol=AAPL&limit=5",
)


@pytest.mark.parametrize("path", READ_ROUTES)
async def test_who_may_read(
    strict_url: str, open_url: str, client: httpx.AsyncClient, keys: Any, path: str
) -> None:
    assert (await client.get(f"{strict_url}{path}", headers=auth(keys["read"]))).status_code == 200
    refused(await client.get(f"{strict_url}{path}"), 401, "UNAUTHENTICATED")
    for caller in ("wrong", "revoked"):
        refused(await client.get(f"{strict_url}{path}", headers=auth(keys[caller])), 401,
                "UNAUTHENTICATED")  # fmt: skip
    assert (await client.get(f"{open_url}{path}")).status_code == 200  # ANONYMOUS_READS


async def test_the_audit_trail_names_the_route(
    strict_url: str, client: httpx.AsyncClient, rest_db: Database
) -> None:
    key_id, key = await make_key(rest_db, "audited", Scope.READ)
    await history(client, strict_url, key, "X:BTCUSD", start="2024-01-02", end="2024-01-02")
    for _ in range(100):  # the usage flusher writes every 0.1 s
        entries, _total = await api_keys.audit_entries(rest_db.pool, key_id, 10, 0)
        if entries:
            break
        await asyncio.sleep(0.05)
    assert [(e.method, e.endpoint, e.status_code) for e in entries] == [
        ("GET", "GET /api/v1/historical/{symbol}", 200)
    ]


def worker_threads() -> set[int]:
    """The threads anyio runs plain functions in (FastAPI's `run_in_threadpool`)."""
    return {t.ident or 0 for t in threading.enumerate() if t.name == "AnyIO worker thread"}


async def test_reads_are_answered_without_a_worker_thread(
    rest_db: Database, client: httpx.AsyncClient, keys: Any
) -> None:
    """A plain-function dependency is run in a worker thread: a thread hop on every request
    (the 1-bar `/api/v1/bars` served a fifth fewer requests a second). A server of its own,
    so no idle worker thread of an earlier request can hide a new hop."""
    before = worker_threads()
    with live(settings(rest_db)) as url:
        answers = await asyncio.gather(
            *(client.get(f"{url}{path}", headers=auth(keys["read"])) for path in READ_ROUTES)
        )
        assert [a.status_code for a in answers] == [200] * len(READ_ROUTES)
        assert worker_threads() - before == set()


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/api/v1/historical/AAPL?start=2024-01-02&end=2024-01-12", models.HistoricalData),
        (
            "/api/v1/historical/AAPL?start=2024-01-03&end=2024-01-04&timeframe=5m",
            models.HistoricalData,
        ),
        ("/api/v1/bars?symbols=AAPL,X:BTCUSD&limit=3", models.RecentBars),
        ("/api/v1/bars?symbol=AAPL&timeframe=1m&limit=2", models.RecentBars),
    ],
)
async def test_bar_answers_are_written_exactly_as_their_documented_model_writes_them(
    strict_url: str, client: httpx.AsyncClient, keys: Any, path: str, model: type[BaseModel]
) -> None:
    """These answers are written straight from the rows, not through their pydantic models:
    every field, its order, its format (times with `Z`) must still be what the model gives."""
    response = await client.get(f"{strict_url}{path}", headers=auth(keys["read"]))
    assert response.status_code == 200
    assert response.json()["data"]  # some bars
    assert model.model_validate_json(response.content).model_dump_json() == response.text
