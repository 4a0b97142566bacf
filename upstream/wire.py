"""Polygon's wire format: bars, JSON bodies, `Retry-After`, time bounds, and scrubbing secrets
out of what is said about a failure."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from domain.errors import InvalidInput, UpstreamUnavailable
from domain.time_range import UNIX_EPOCH

_API_KEY_PARAM = re.compile(r"(?i)(apikey=)[^&\s\"'#]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


@dataclass(frozen=True, slots=True)
class PolygonBar:
    """One aggregate bar as Polygon reports it; `time` is the UTC start of the bar."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None = None
    trades: int | None = None


def scrub(text: str, *secrets: str) -> str:
    """`text` without `apiKey=` values, Bearer tokens and the literal `secrets`: what the
    client says of a failure carries no credentials (gateway/redaction.py does logs)."""
    text = _API_KEY_PARAM.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def as_ms(value: date) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInput("datetimes passed to Polygon must be timezone-aware")
        return (value - UNIX_EPOCH) // timedelta(milliseconds=1)
    return (datetime(value.year, value.month, value.day, tzinfo=UTC) - UNIX_EPOCH) // timedelta(
        milliseconds=1
    )


def range_bound(value: date) -> str:
    return str(as_ms(value)) if isinstance(value, datetime) else value.isoformat()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise UpstreamUnavailable(f"malformed Polygon {what}: body is not JSON") from None
    if not isinstance(body, dict):
        raise UpstreamUnavailable(f"malformed Polygon {what}: body is not a JSON object")
    return body


def json_status(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("status") if isinstance(body, dict) else None


def number(raw: Mapping[str, Any], key: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problem = "missing" if value is None else f"not a number ({value!r:.40})"
        raise UpstreamUnavailable(f"malformed Polygon bar: field {key!r} {problem}")
    return float(value)


def optional_number(raw: Mapping[str, Any], key: str) -> float | None:
    return None if raw.get(key) is None else number(raw, key)


def parse_bar(raw: object) -> PolygonBar:
    if not isinstance(raw, dict):
        raise UpstreamUnavailable("malformed Polygon bar: not a JSON object")
    t = number(raw, "t")
    trades = optional_number(raw, "n")
    if not t.is_integer() or (trades is not None and not trades.is_integer()):
        raise UpstreamUnavailable("malformed Polygon bar: 't' and 'n' must be integers")
    return PolygonBar(
        time=UNIX_EPOCH + timedelta(milliseconds=int(t)),
        open=number(raw, "o"),
        high=number(raw, "h"),
        low=number(raw, "l"),
        close=number(raw, "c"),
        volume=number(raw, "v"),
        vwap=optional_number(raw, "vw"),
        trades=None if trades is None else int(trades),
    )
