"""Stored bars for the fast-path and compiled-operation properties, and how answers compare.

Base bars and rollups (validationNotes NULL), NULL vwap/trades, extreme but valid values
(EDGE) and values GraphQL must refuse (ODD: NaN, infinities, a 33-bit Int, infinite times),
written into one test database; answers compared as the bytes a client receives.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import strawberry
from strawberry.http import process_result

from domain.access import Principal
from gateway.graphql_view import JSON_OPTIONS
from resolvers.context import Services
from storage.bars_write import BarIn, upsert_bars
from tests.support.bars import daily_bars, minute_bars
from tests.support.databases import Database
from tests.support.documents import EDGE, ODD
from tests.support.graphql import execute

T0 = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday
NOTES = (None, "", "gap before", 'say "hi" \\ back\nslash \u2028 ✓ 😀')

# Written straight into `bars` (no validation, no rollup refresh: their rollups stay empty).
RAW_ROWS = f"""
INSERT INTO bars (symbol, timeframe, time, open, high, low, close, volume, vwap, trades,
                  quality_score, gap_detected, volume_anomaly, validation_notes)
VALUES
  ('{EDGE}', '1m', '2024-05-06 00:00:00.123456+00', '-0', 1.7976931348623157e308, '5e-324',
   0.1, 0, NULL, 2147483647, 0.1, true, true, ''),
  ('{EDGE}', '1m', '2024-05-06 00:01:00.000001+00', 1e-300, 2, -1.5, 1e22, 1e16, '-0',
   -2147483648, 0, false, false, E'line\\nbreak \\u2028 "q" \\\\ ✓ 😀'),
  ('{EDGE}', '1m', '2024-05-06 00:02:00+00', 123456789.123456789, 2.5, 0.30000000000000004,
   -1e-7, 4503599627370497, 1.7976931348623157e308, NULL, 1, false, true, NULL),
  ('{EDGE}', '1d', '1970-01-01 00:00:00+00', 1, 2, 0.5, 1.5, 10, NULL, NULL, 0.5, true, false,
   'the epoch'),
  ('{EDGE}', '1d', '1999-12-31 23:59:59.999999+00', 1, 2, 0.5, 1.5, 10, 1.25, 0, 1, false,
   false, NULL),
  ('{EDGE}', '1d', '2199-12-31 00:00:00+00', 1, 2, 0.5, 1.5, 10, 1.25, 1, 1, false, false,
   NULL),
  ('{ODD}', '1m', '2024-05-06 00:00:00+00', 1, 'NaN', 0.5, 1.5, 10, 1.2, 3, 1, false, false,
   NULL),
  ('{ODD}', '1m', '2024-05-06 00:01:00+00', 1, 2, 0.5, 1.5, 10, 'Infinity', 3, 1, false, true,
   NULL),
  ('{ODD}', '1m', '2024-05-06 00:02:00+00', 1, 2, 0.5, 1.5, 10, 1.2, 3000000000, 1, false,
   false, 'too many trades'),
  ('{ODD}', '1m', '2024-05-06 00:03:00+00', 1, 2, '-Infinity', 1.5, 10, 1.2, 3, 1, true, false,
   NULL),
  ('{ODD}', '1m', '2024-05-06 00:04:00+00', 1, 2, 0.5, 1.5, 10, 1.2, 3, 'NaN', false, false,
   NULL),
  ('{ODD}', '1m', '2024-05-06 00:05:00+00', 1, 2, 0.5, 1.5, 10, NULL, NULL, 1, false, false,
   NULL),
  ('{ODD}', '1m', '2199-12-31 23:59:00+00', 1, 2, 0.5, 1.5, 10, 1.2, 3, 1, false, false, NULL),
  ('{ODD}', '1d', '1970-01-01 00:00:00+00', 1, 2, 0.5, 1.5, 10, 1.2, 3, 1, false, false, NULL),
  ('{ODD}', '1d', '2024-05-01 04:00:00+00', 1, 2, 0.5, 1.5, 10, 'NaN', 3, 1, false, false, NULL),
  ('{ODD}', '1d', '2024-05-02 04:00:00+00', 1, 2, 0.5, 1.5, 1.7976931348623157e308, 1.2, 3, 1,
   false, false, NULL),
  ('{ODD}', '1d', '2024-05-03 04:00:00+00', 1, 2, 0.5, 1.5, 1.7976931348623157e308, 1.2, 3, 1,
   false, false, NULL)
"""


@dataclass(frozen=True)
class Market:
    services: Services
    fast: strawberry.Schema
    stock: strawberry.Schema

    async def both(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        principal: Principal | None = None,
    ) -> tuple[bytes, bytes]:
        answers = []
        for schema in (self.fast, self.stock):
            result = await execute(schema, query, self.services, variables, principal=principal)
            answers.append(encoded(result, errors_in_any_order=True))
        return answers[0], answers[1]


def stored_bars() -> tuple[list[BarIn], list[BarIn]]:
    rng = random.Random(20240506)
    minutes = [
        *minute_bars(rng, "X:BTCUSD", T0, T0 + timedelta(hours=6), gap_chance=0.1),
        *minute_bars(rng, "X:ETHUSD", T0, T0 + timedelta(hours=2), gap_chance=0.4),
    ]
    days = [
        *daily_bars(rng, "AAPL", date(2024, 1, 1), T0.date()),
        *daily_bars(rng, "X:BTCUSD", date(2024, 3, 1), T0.date()),
    ]

    def varied(bar: BarIn) -> BarIn:
        if bar.symbol == "X:BTCUSD" and T0 <= bar.time < T0 + timedelta(hours=1):
            bar = bar._replace(vwap=None, trades=None)  # whole rollup buckets without them
        return bar._replace(
            gap_detected=rng.random() < 0.2,
            volume_anomaly=rng.random() < 0.1,
            quality_score=rng.choice((1.0, 0.0, 0.85, round(rng.random(), 3))),
            validation_notes=rng.choice(NOTES),
        )

    return [varied(b) for b in minutes], [varied(b) for b in days]


def encoded(result: Any, *, errors_in_any_order: bool = False) -> bytes:
    """The response body exactly as the HTTP view sends it.

    With `errors_in_any_order`, errors are put in the order of their own encoded bytes: when
    several loader batches fail, the order of their errors is the order their SQL statements
    finished in, which varies from run to run on either path (each error is still compared
    byte for byte, and the data exactly as sent).
    """
    body: Any = process_result(result)
    if errors_in_any_order and "errors" in body:
        body["errors"] = sorted(body["errors"], key=lambda e: orjson.dumps(e, option=JSON_OPTIONS))
    return orjson.dumps(body, option=JSON_OPTIONS)


async def store_cases(database: Database) -> Services:
    """Write the cases into `database`; services reading them (anonymous reads on)."""
    minutes, days = stored_bars()
    await upsert_bars(database.pool, "1m", minutes, database.backend)
    await upsert_bars(database.pool, "1d", days, database.backend)
    await database.pool.execute(RAW_ROWS)
    return Services(database.pool, database.backend, None, 100_000, True)
