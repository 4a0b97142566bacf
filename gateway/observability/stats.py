"""The numbers of the observability and performance routes, computed from a RequestWindow.

Plain functions returning plain dicts in the JSON shapes of the older API (COMPAT.md), so
any handler (these routes, the REST router, the alert rules) can call them. They read the
window's raw rows, mostly through C-level `map`/`sorted`: over a full window (100,000 rows)
making an object of each took 80 ms, and the dashboard asks every 15 s.
"""

from __future__ import annotations

import math
import operator
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.observability.window import (
    DURATION_MS,
    ENDPOINT,
    FAULT,
    HOUR,
    RequestWindow,
    Row,
    Tally,
    total,
)

MAX_BOTTLENECKS = 5


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where `degraded` and `critical` start (the alert rules use the same numbers)."""

    error_rate_pct: float = 5.0
    p95_ms: float = 2000.0


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (`pct` in 0..100) of already sorted values; 0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def rate_pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _ms(value: float) -> float:
    return round(value, 2)


def duration_stats(rows: Sequence[Row], query_type: str | None = None) -> dict[str, Any]:
    """`stats` of `/performance/queries`: counts and duration spread of `rows`."""
    durations = sorted(map(DURATION_MS, rows))
    failed = failures(rows)
    count = len(durations)
    mean = math.fsum(durations) / count if count else 0.0
    return {
        "query_type": query_type,
        "total": count,
        "successful": count - failed,
        "failed": failed,
        "error_rate_pct": rate_pct(failed, count),
        "min_ms": _ms(durations[0]) if durations else 0.0,
        "max_ms": _ms(durations[-1]) if durations else 0.0,
        "mean_ms": _ms(mean),
        "median_ms": _ms(statistics.median(durations)) if durations else 0.0,
        "p95_ms": _ms(percentile(durations, 95)),
        "p99_ms": _ms(percentile(durations, 99)),
        "stdev_ms": _ms(_stdev(durations, mean)) if count > 1 else 0.0,
    }


def failures(rows: Iterable[Row]) -> int:
    """How many of `rows` were server-side failures."""
    return int(sum(map(FAULT, rows)))


def _stdev(values: list[float], mean: float) -> float:
    """The sample standard deviation, from exactly rounded sums (statistics.stdev works in
    exact fractions: 0.3 s for 100,000 values)."""
    squares = math.fsum(map(operator.mul, values, values))
    return math.sqrt(max(0.0, squares - len(values) * mean * mean) / (len(values) - 1))


def bottlenecks(rows: Sequence[Row], thresholds: Thresholds) -> list[dict[str, Any]]:
    """Endpoints whose p95 or error rate is over its threshold, worst p95 first (at most 5)."""
    by_endpoint: dict[str, list[Row]] = {}
    for row in rows:
        by_endpoint.setdefault(ENDPOINT(row), []).append(row)
    found = []
    for endpoint, group in by_endpoint.items():
        stats = duration_stats(group, endpoint)
        slow = stats["p95_ms"] > thresholds.p95_ms
        failing = stats["error_rate_pct"] > thresholds.error_rate_pct
        if slow or failing:
            found.append(
                {
                    "query_type": endpoint,
                    "count": stats["total"],
                    "p95_ms": stats["p95_ms"],
                    "mean_ms": stats["mean_ms"],
                    "error_rate_pct": stats["error_rate_pct"],
                    "reason": "slow" if slow else "errors",
                }
            )
    found.sort(key=lambda b: (-b["p95_ms"], -b["error_rate_pct"]))
    return found[:MAX_BOTTLENECKS]


def health_status(last_hour: Tally, p95_ms: float, thresholds: Thresholds) -> str:
    """`idle` without requests in the last hour; `critical` at twice a threshold;
    `degraded` over one; else `healthy`."""
    if not last_hour.requests:
        return "idle"
    error_rate = rate_pct(last_hour.errors, last_hour.requests)
    if error_rate > 2 * thresholds.error_rate_pct or p95_ms > 2 * thresholds.p95_ms:
        return "critical"
    if error_rate > thresholds.error_rate_pct or p95_ms > thresholds.p95_ms:
        return "degraded"
    return "healthy"


def observability_metrics(window: RequestWindow, thresholds: Thresholds) -> dict[str, Any]:
    """The body of `GET /api/v1/observability/metrics`."""
    tallies = window.tallies()
    day, hour = total(tallies.values()), total(window.tallies(HOUR).values())
    hour_durations = sorted(map(DURATION_MS, window.rows(HOUR)))
    return {
        "timestamp": _timestamp(window),
        "health_status": health_status(hour, percentile(hour_durations, 95), thresholds),
        "summary": {
            "total_requests": day.requests,
            "total_errors": day.errors,
            "error_rate_pct": rate_pct(day.errors, day.requests),
            "avg_response_time_ms": _ms(day.total_ms / day.requests) if day.requests else 0.0,
            "requests_last_hour": hour.requests,
            "errors_last_hour": hour.errors,
        },
        "endpoints": {
            endpoint: {
                "requests": tally.requests,
                "errors": tally.errors,
                "avg_duration_ms": _ms(tally.total_ms / tally.requests),
                "status_codes": {str(k): v for k, v in sorted(tally.status_codes.items())},
            }
            for endpoint, tally in sorted(tallies.items())
        },
        "error_summary": dict(day.error_codes.most_common()),
    }


def query_performance(
    window: RequestWindow, thresholds: Thresholds, query_type: str | None = None
) -> dict[str, Any]:
    """The body of `GET /api/v1/performance/queries` (`query_type`: one endpoint)."""
    rows = window.rows()
    chosen = rows if query_type is None else [row for row in rows if ENDPOINT(row) == query_type]
    return {
        "timestamp": _timestamp(window),
        "stats": duration_stats(chosen, query_type),
        "bottlenecks": bottlenecks(rows, thresholds),
        "query_types": sorted(set(map(ENDPOINT, rows))),
    }


def performance_summary(
    window: RequestWindow, thresholds: Thresholds, cache: dict[str, Any]
) -> dict[str, Any]:
    """The body of `GET /api/v1/performance/summary` (`cache` as `/performance/cache` has it)."""
    rows = window.rows()
    stats = duration_stats(rows)
    found = bottlenecks(rows, thresholds)
    return {
        "timestamp": _timestamp(window),
        "cache": cache,
        "performance": {
            "total_queries": stats["total"],
            "successful_queries": stats["successful"],
            "failed_queries": stats["failed"],
            "error_rate_pct": stats["error_rate_pct"],
            "avg_duration_ms": stats["mean_ms"],
            "median_duration_ms": stats["median_ms"],
            "p95_duration_ms": stats["p95_ms"],
            "p99_duration_ms": stats["p99_ms"],
            "window_hours": round(window.window_seconds / HOUR, 2),
        },
        "bottlenecks": found,
        "recommendations": recommendations(stats, found, cache, thresholds),
    }


def recommendations(
    stats: dict[str, Any],
    found: list[dict[str, Any]],
    cache: dict[str, Any],
    thresholds: Thresholds,
) -> list[str]:
    """Short hints for an operator, from the figures above."""
    hints = []
    if cache.get("max_size", 0) == 0:
        hints.append("the response cache is off (CACHE_TTL_SECONDS=0): repeated reads hit the DB")
    elif cache["hits"] + cache["misses"] >= 100 and cache["hit_rate_pct"] < 20:
        hints.append("cache hit rate under 20 %: raise CACHE_TTL_SECONDS or CACHE_MAX_ENTRIES")
    if stats["error_rate_pct"] > thresholds.error_rate_pct:
        hints.append("error rate over threshold: see error_summary and the logs by trace id")
    for bottleneck in found:
        hints.append(f"{bottleneck['query_type']}: p95 {bottleneck['p95_ms']} ms, look at it")
    return hints


def _timestamp(window: RequestWindow) -> datetime:
    return datetime.fromtimestamp(window.now(), UTC)
