"""Array parameters unnested so that PostgreSQL keeps one cached plan of a rollup read.

asyncpg prepares a statement once per connection. After five calls PostgreSQL keeps the
statement's generic plan only if its estimated cost is below the average of the custom plans
made so far; otherwise it plans again on every call. A generic plan counts an array parameter
as 10 elements, a custom plan as its real length. A statement whose cost grows with the array
(a lateral lookup per symbol) therefore looked ten times dearer generic than custom for few
symbols, and was planned anew on every call. Read through a sub-select, the array is an init
plan's output in both kinds of plan, counted as 10 elements in both, so the array no longer
tips the choice. Measured (one connection, per call): a one-symbol summary over a day of
minutes 0.43 -> 0.15 ms; over a year of minutes on TimescaleDB, 30 weekly bars 2.2 -> 0.6 ms
and a month's summary 2.3 -> 1.0 ms. Where the estimates differ for other reasons (`LIMIT $2`
is 1, a generic plan assumes a tenth of the rows; a short window in a long history), PostgreSQL
still plans each call, as it judges best.

Reads of base bars keep the plain form. On TimescaleDB `bars` is a hypertable: a generic plan
excludes its chunks at executor startup, on every call (105 weekly chunks: 0.5 ms more for a
one-symbol summary of minutes), where a custom plan excludes them while planning, for less.
"""

from __future__ import annotations


def unnested(*arrays: str, cached_plan: bool) -> str:
    """`unnest(...)` of the given parameters (such as `$1::text[]`); with `cached_plan`, each
    read through a sub-select, so that no plan's estimate depends on how many it holds."""
    if cached_plan:
        arrays = tuple(f"(SELECT {array})" for array in arrays)
    return f"unnest({', '.join(arrays)})"
