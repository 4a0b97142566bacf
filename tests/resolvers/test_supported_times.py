"""GraphQL refuses `from`/`to` outside the supported time range as BAD_USER_INPUT."""

from __future__ import annotations

import pytest

from schema import build_schema
from tests.support.databases import Database
from tests.support.graphql import error_codes, make_services, run

QUERY = """
query($f: DateTime!, $t: DateTime!) {
  bars(ticker: "AAPL", timeframe: D1, from: $f, to: $t) { time }
  aggregates(tickers: ["AAPL"], from: $f, to: $t) { close }
}
"""


@pytest.mark.parametrize(
    ("start", "end", "codes"),
    [
        ("1970-01-01T00:00:00Z", "2200-01-01T00:00:00Z", []),
        ("1969-12-31T23:59:59Z", "2024-01-01T00:00:00Z", ["BAD_USER_INPUT"] * 2),
        ("2024-01-01T00:00:00Z", "2200-01-01T00:00:01Z", ["BAD_USER_INPUT"] * 2),
        ("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", ["BAD_USER_INPUT"] * 2),
        ("0001-01-01T00:00:00+01:00", "2024-01-01T00:00:00Z", ["BAD_USER_INPUT"]),
    ],
)
async def test_graphql_refuses_ranges_outside_the_limits(
    portable_db: Database, start: str, end: str, codes: list[str]
) -> None:
    body = await run(build_schema(), QUERY, make_services(portable_db.pool), {"f": start, "t": end})
    assert error_codes(body) == codes
