"""A ticker is matched whole: a trailing newline (`$` with `re.match` allowed one) is refused."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from domain.errors import InvalidInput
from domain.tickers import validate_ticker
from schema import build_schema
from storage.bars_write import BarIn, upsert_bars
from tests.support.bars import daily_bars
from tests.support.databases import Database
from tests.support.graphql import error_codes, make_services, run

FIELDS = {
    "bars": "bars(ticker: $t, timeframe: D1) { time }",
    "barSeries": "barSeries(ticker: $t, timeframe: D1) { time }",
    "symbol": "symbol(ticker: $t) { ticker }",
    "symbols": "symbols(tickers: [$t]) { ticker }",
}
ALMOST = ["AAPL\n", "X:BTCUSD\n", "AAPL\r\n", "\nAAPL", "AAPL "]


@pytest.mark.parametrize("ticker", ALMOST)
def test_a_ticker_with_anything_around_it_is_refused(ticker: str) -> None:
    with pytest.raises(InvalidInput, match="invalid ticker") as refused:
        validate_ticker(ticker)
    assert refused.value.code == "BAD_USER_INPUT"


@pytest.mark.parametrize("field", FIELDS.values(), ids=FIELDS.keys())
async def test_graphql_refuses_a_ticker_with_a_trailing_newline(
    portable_db: Database, field: str
) -> None:
    days = daily_bars(random.Random(1), "AAPL", date(2024, 5, 6), date(2024, 5, 10))
    await upsert_bars(portable_db.pool, "1d", days, portable_db.backend)
    services = make_services(portable_db.pool)
    query = f"query($t: String!) {{ {field} }}"

    assert error_codes(await run(build_schema(), query, services, {"t": "AAPL"})) == []
    refused = await run(build_schema(), query, services, {"t": "AAPL\n"})
    assert error_codes(refused) == ["BAD_USER_INPUT"], refused


async def test_bars_whose_ticker_ends_in_a_newline_are_not_stored(portable_db: Database) -> None:
    bar = BarIn("AAPL\n", datetime(2024, 5, 6, 4, tzinfo=UTC), 1, 2, 0.5, 1.5, 10)
    with pytest.raises(InvalidInput, match="invalid ticker"):
        await upsert_bars(portable_db.pool, "1d", [bar], portable_db.backend)
    assert await portable_db.pool.fetchval("SELECT count(*) FROM bars") == 0
