"""The fast path's codecs (schema/columns.py) against the scalars they stand in for.

A column codec answers a list of values as the scalar's own output coercion would, or says
it will not judge them; its one-value twin (used for a single item: a 1-bar query) must
answer one value exactly as the column codec answers a list of that one value. Both rules
are checked over values of every kind a row may hold, odd ones included (NaN, huge ints,
bools where numbers are due, naive and non-UTC times, nulls in non-null fields).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schema.columns import CODECS, ONE_VALUE, UNJUDGED, Codec

UTC_TIMES = st.datetimes(timezones=st.just(UTC))
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    UTC_TIMES,
    st.datetimes(),  # naive
    st.datetimes(timezones=st.just(timezone(timedelta(hours=1)))),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
)
EDGES = [None, True, 0, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, math.nan, math.inf, 1e308,
         "", Decimal("1.5"), datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 2),
         datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)]  # fmt: skip
PAIRS = [(coercer, codec) for coercer, codec in CODECS.items()]
NAMES = [coercer.__name__ for coercer, _ in PAIRS]  # serialize_float ... serialize (DateTime)


def _same(one: Any, column: Any) -> bool:
    return type(one) is type(column) and one == column


@pytest.mark.parametrize(("coercer", "codec"), PAIRS, ids=NAMES)
@given(value=VALUES, nullable=st.booleans())
def test_one_value_answers_as_a_column_of_one(
    coercer: Callable[[Any], Any], codec: Codec, value: Any, nullable: bool
) -> None:
    column = codec([value], nullable)
    one = ONE_VALUE[codec](value, nullable)
    if column is None:
        assert one is UNJUDGED
    else:
        assert _same(one, column[0]), (one, column[0])


@pytest.mark.parametrize(("coercer", "codec"), PAIRS, ids=NAMES)
@pytest.mark.parametrize("value", EDGES, ids=repr)
@pytest.mark.parametrize("nullable", [True, False])
def test_one_value_edges(
    coercer: Callable[[Any], Any], codec: Codec, value: Any, nullable: bool
) -> None:
    column = codec([value], nullable)
    one = ONE_VALUE[codec](value, nullable)
    assert one is UNJUDGED if column is None else _same(one, column[0])


@pytest.mark.parametrize(("coercer", "codec"), PAIRS, ids=NAMES)
@given(values=st.lists(VALUES, max_size=6), nullable=st.booleans())
def test_what_a_codec_judges_is_what_the_scalar_writes(
    coercer: Callable[[Any], Any], codec: Codec, values: list[Any], nullable: bool
) -> None:
    answered = codec(values, nullable)
    if answered is None:
        return
    assert len(answered) == len(values)
    for value, written in zip(values, answered, strict=True):
        if value is None:
            assert nullable and written is None
        else:
            assert _same(written, coercer(value)), (value, written)


def test_the_odd_values_are_left_to_stock_coercion() -> None:
    """What the scalars refuse or convert (NaN, a 33-bit Int, a bool as a number, a naive or
    non-UTC time, a null in a non-null field) is never answered by a codec."""
    by_name = {coercer.__name__: codec for coercer, codec in CODECS.items()}
    paris = timezone(timedelta(hours=1))
    refused: dict[str, list[Any]] = {
        "serialize_float": [math.nan, math.inf, 1, True, None],
        "serialize_int": [2**31, -(2**31) - 1, 1.0, True, None],
        "serialize": [datetime(2024, 1, 2), datetime(2024, 1, 2, tzinfo=paris), "2024", None],
    }
    for name, values in refused.items():
        for value in values:
            assert by_name[name]([value], False) is None, (name, value)
            assert ONE_VALUE[by_name[name]](value, False) is UNJUDGED, (name, value)
