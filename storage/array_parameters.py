"""Array parameters unnested so that PostgreSQL keeps one cached plan of a rollup read.

asyncpg prepares a statement once per connection. After five calls PostgreSQL keeps the
statement's generic plan only if its estimated cost is below the average of the custom plans
made so far; otherwise it plans again on every call. A generic plan counts an array parameter
as 10 elements, a custom plan as its real length. A statement whose cost grows with the array
(a lateral lookup per symbol) therefore looked ten times dearer generic than custom for one
symbol, and was planned anew on every call: 0.3-0.5 ms of a one-symbol window summary or latest
rollup bar. Read through a sub-select, the array is an init plan's output in both kinds of
plan, counted as 10 elements in both, and the generic plan is kept after five calls.

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
