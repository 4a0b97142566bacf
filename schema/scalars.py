"""`DateTime`: ISO 8601 in UTC, with `Z`; inputs must say their zone."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry


def serialize(value: datetime) -> str:
    """UTC with a `Z`, microseconds only when there are some."""
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse(value: object) -> datetime:
    """Accept `2024-01-02T15:04:05Z` or with an offset; refuse naive or malformed times."""
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string, e.g. 2024-01-02T00:00:00Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"invalid DateTime {value[:40]!r}: use ISO 8601, e.g. 2024-01-02T00:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"DateTime {value[:40]!r} has no time zone: add Z (UTC) or an offset")
    return parsed.astimezone(UTC)


DATETIME = strawberry.scalar(
    name="DateTime",
    serialize=serialize,
    parse_value=parse,
    description="An instant, ISO 8601 in UTC (e.g. 2024-01-02T14:30:00Z).",
)
"""How every `datetime` in the schema appears (StrawberryConfig.scalar_map)."""
