"""BACKFILL_SCHEDULE cron expressions: checked when settings load, run by gateway/scheduler.py."""

from __future__ import annotations

from croniter import croniter


def valid_schedule(schedule: str) -> bool:
    """True for a 5-field cron expression croniter can iterate."""
    return bool(croniter.is_valid(schedule))
