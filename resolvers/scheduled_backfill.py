"""One scheduled backfill run: every active tracked symbol's timeframes, fetched on miss.

Exactly one process runs each schedule tick (storage/backfill_runs.py: an advisory lock, then
a claim on the tick). Symbols run one after another through `resolvers/backfill.py`, each
outcome recorded on its row as it finishes; a failing symbol is recorded as failed and the
run goes on, so the next tick retries it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.clocks import WallClock, utc_now
from domain.errors import ServiceError
from domain.records import TrackedSymbol
from domain.timeframes import base_of
from resolvers.backfill import backfill
from resolvers.context import Services
from resolvers.read_through import ReadThrough
from storage import backfill_runs, tracked_symbols

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did (None from `run_tracked_backfill` when another process ran the tick)."""

    run_id: int
    successful: int
    failed: int
    records: int


async def backfill_symbol(
    read_through: ReadThrough, tracked: TrackedSymbol, start: datetime, end: datetime
) -> tuple[int, str | None]:
    """Bars stored for one symbol over its timeframes' base bars, and the error if it failed."""
    bases = list(dict.fromkeys(base_of(tf) for tf in tracked.timeframes))
    stored = 0
    try:
        for base in bases:
            report = await backfill(read_through, [tracked.symbol], base, start, end)
            stored += report.bars_stored
            if report.errors:
                return stored, str(report.errors[tracked.symbol])
    except ServiceError as exc:
        return stored, str(exc)
    except Exception:  # a bug must not stop the other symbols; it is logged in full
        log.exception("scheduled backfill failed", extra={"symbol": tracked.symbol})
        return stored, "internal error"
    return stored, None


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
        successful = failed = records = 0
        for tracked in await tracked_symbols.list_tracked(services.pool, active_only=True):
            end = now()
            stored, error = await backfill_symbol(
                services.read_through, tracked, end - lookback, end
            )
            records += stored
            await tracked_symbols.record_backfill(services.pool, tracked.symbol, now(), error)
            if error is None:
                successful += 1
            else:
                failed += 1
                log.warning(
                    "scheduled backfill of a symbol failed",
                    extra={"symbol": tracked.symbol, "error": error},
                )
        await backfill_runs.finish_run(services.pool, run_id, successful, failed, records)
    log.info(
        "scheduled backfill run finished",
        extra={"successful": successful, "failed": failed, "records": records},
    )
    return RunSummary(run_id, successful, failed, records)
