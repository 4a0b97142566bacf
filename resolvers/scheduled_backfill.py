"""One scheduled backfill run: every active tracked symbol's timeframes, fetched on miss.

Exactly one process runs each schedule tick (storage/backfill_runs.py: an advisory lock, then
a claim on the tick). All symbols of a base timeframe go through one batched backfill
(resolvers/backfill.py): month by month, each month stored for every symbol and then
materialized once, as the CLI backfill does, instead of re-materializing the same month's
buckets after each symbol. Outcomes are recorded on the symbols' rows when the run ends; a
failing symbol is recorded as failed and the others go on, so the next tick retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.clocks import WallClock, utc_now
from domain.errors import ServiceError
from domain.records import TrackedSymbol
from domain.timeframes import Timeframe, base_of
from resolvers.backfill import backfill
from resolvers.context import Services
from resolvers.read_through import ReadThrough
from resolvers.validation import MAX_SYMBOLS
from storage import backfill_runs, tracked_symbols

log = logging.getLogger(__name__)

Outcome = tuple[int, dict[str, str]]  # bars stored, and the error of each failed symbol


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did (None from `run_tracked_backfill` when another process ran the tick)."""

    run_id: int
    successful: int
    failed: int
    records: int


def _bases(tracked: TrackedSymbol) -> list[Timeframe]:
    return list(dict.fromkeys(base_of(tf) for tf in tracked.timeframes))


async def backfill_tracked(
    read_through: ReadThrough, tracked: Sequence[TrackedSymbol], start: datetime, end: datetime
) -> Outcome:
    """Fill [start, end) of every symbol's base bars: one batched backfill per base timeframe.

    A symbol that failed at one base is not tried at the next (as a symbol stops at its first
    failed month).
    """
    stored, errors = 0, {}
    for base in dict.fromkeys(b for t in tracked for b in _bases(t)):
        symbols = [t.symbol for t in tracked if base in _bases(t) and t.symbol not in errors]
        for at in range(0, len(symbols), MAX_SYMBOLS):
            count, failed = await _backfill_group(
                read_through, symbols[at : at + MAX_SYMBOLS], base, start, end
            )
            stored += count
            errors.update(failed)
    return stored, errors


async def _backfill_group(
    read_through: ReadThrough,
    symbols: Sequence[str],
    base: Timeframe,
    start: datetime,
    end: datetime,
) -> Outcome:
    """One batched backfill; if one symbol's failure ended it, each symbol again on its own.

    The batch reports upstream failures per symbol; anything else it raises (a bug, a
    symbol refused as a whole) would fail every symbol, so the group is retried symbol by
    symbol (months already stored are covered and cost one coverage query each).
    """
    try:
        report = await backfill(read_through, symbols, base, start, end)
    except ServiceError as exc:
        if len(symbols) == 1:
            return 0, {symbols[0]: str(exc)}
    except Exception:  # a bug must not stop the other symbols; it is logged in full
        if len(symbols) == 1:
            log.exception("scheduled backfill failed", extra={"symbol": symbols[0]})
            return 0, {symbols[0]: "internal error"}
    else:
        return report.bars_stored, {s: str(e) for s, e in report.errors.items()}
    log.warning(
        "batched scheduled backfill failed; retrying symbol by symbol",
        extra={"symbols": len(symbols), "timeframe": base.value},
    )
    stored, errors = 0, {}
    for symbol in symbols:
        count, failed = await _backfill_group(read_through, [symbol], base, start, end)
        stored += count
        errors.update(failed)
    return stored, errors


async def run_tracked_backfill(
    services: Services,
    scheduled_for: datetime,
    *,
    lookback: timedelta,
    now: WallClock = utc_now,
) -> RunSummary | None:
    """Run the tick `scheduled_for` unless another process is running or ran it."""
    if services.read_through is None:
        return None
    async with backfill_runs.runner_lock(services.pool) as held:
        if not held:
            return None
        run_id = await backfill_runs.claim_run(services.pool, scheduled_for)
        if run_id is None:
            return None
        tracked = await tracked_symbols.list_tracked(services.pool, active_only=True)
        end = now()
        records, errors = await backfill_tracked(
            services.read_through, tracked, end - lookback, end
        )
        finished = now()
        for row in tracked:
            error = errors.get(row.symbol)
            await tracked_symbols.record_backfill(services.pool, row.symbol, finished, error)
            if error is not None:
                log.warning(
                    "scheduled backfill of a symbol failed",
                    extra={"symbol": row.symbol, "error": error},
                )
        failed = sum(1 for row in tracked if row.symbol in errors)
        successful = len(tracked) - failed
        await backfill_runs.finish_run(services.pool, run_id, successful, failed, records)
    log.info(
        "scheduled backfill run finished",
        extra={"successful": successful, "failed": failed, "records": records},
    )
    return RunSummary(run_id, successful, failed, records)
