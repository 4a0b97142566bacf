"""The one-symbol statement (`bars_sql(one_symbol=True)`) is the plain index scan, and only
base timeframes have one: a rollup's rows must go through the stored-plus-tail union."""

from __future__ import annotations

import pytest

from domain.timeframes import BASE_TIMEFRAMES, Timeframe
from storage.bars_read import bars_sql

ROLLUPS = [tf for tf in Timeframe if tf not in BASE_TIMEFRAMES]


@pytest.mark.parametrize("timeframe", BASE_TIMEFRAMES, ids=[tf.value for tf in BASE_TIMEFRAMES])
def test_a_base_timeframe_reads_one_symbol_without_the_lateral_join(timeframe: Timeframe) -> None:
    sql = bars_sql(timeframe, "desc", True, True, one_symbol=True)
    assert "unnest" not in sql and "LATERAL" not in sql
    assert "r.symbol = $1::text" in sql and "ORDER BY r.time DESC LIMIT $2" in sql


@pytest.mark.parametrize("timeframe", ROLLUPS, ids=[tf.value for tf in ROLLUPS])
def test_a_rollup_has_no_one_symbol_statement(timeframe: Timeframe) -> None:
    with pytest.raises(ValueError, match="base timeframes only"):
        bars_sql(timeframe, "asc", False, False, one_symbol=True)
    assert "unnest" in bars_sql(timeframe, "asc", False, False)  # the many-symbol form
