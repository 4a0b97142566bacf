"""The times the store holds: 1970-01-01 ≤ time < 2200-01-01 UTC, on every backend.

PostgreSQL accepts years 4713 BC to 294276, but TimescaleDB's Apache-licensed build (the one
Debian packages) fails on hypertable chunks far from the epoch ("timestamp out of range").
One documented range, checked before anything is written or read, keeps the backends alike and
turns a time outside it into BAD_USER_INPUT instead of a driver error.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.errors import InvalidInput

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Where Unix times (Polygon's milliseconds), TimescaleDB's internal times and its chunk
alignment count from."""
EARLIEST = UNIX_EPOCH
"""The first supported time."""
END = datetime(2200, 1, 1, tzinfo=UTC)
"""The first time after the supported range (exclusive for bars, inclusive for range ends)."""
SUPPORTED = "1970-01-01T00:00:00Z ≤ time < 2200-01-01T00:00:00Z"


def check_bar_time(time: datetime, what: str) -> None:
    """Refuse a stored bar's time (time-zone aware) outside the supported range."""
    if not EARLIEST <= time < END:
        raise InvalidInput(f"{what} time {time.isoformat()} is outside the supported {SUPPORTED}")


def check_bound(time: datetime, name: str) -> None:
    """Refuse a range bound (time-zone aware) outside [EARLIEST, END]: `end` may equal END."""
    if not EARLIEST <= time <= END:
        raise InvalidInput(f"{name} {time.isoformat()} is outside the supported {SUPPORTED}")
