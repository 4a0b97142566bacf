"""The 24 h window and the figures computed from it, against a known request mix."""

from __future__ import annotations

import gc

from gateway.observability import stats
from gateway.observability.window import DAY_SECONDS, RequestWindow
from tests.support.time import FakeTime

T0 = 1_800_000_000.0  # a whole minute


def mixed_window(clock: FakeTime) -> RequestWindow:
    """100 requests: 1..100 ms; every 10th (10, 20, ..., 100 ms) a 503."""
    window = RequestWindow(clock=clock.clock)
    for ms in range(1, 101):
        failed = ms % 10 == 0
        endpoint = "POST /graphql:Bars" if ms % 2 else "GET /api/v1/symbols"
        code = "UNAVAILABLE" if failed else None
        window.record(endpoint, 503 if failed else 200, float(ms), code, failed)
    return window


def test_percentiles_and_rates_of_a_known_mix() -> None:
    clock = FakeTime(T0)
    window = mixed_window(clock)
    body = stats.observability_metrics(window, stats.Thresholds(error_rate_pct=5, p95_ms=1000))
    assert body["summary"] == {
        "total_requests": 100,
        "total_errors": 10,
        "error_rate_pct": 10.0,
        "avg_response_time_ms": 50.5,
        "requests_last_hour": 100,
        "errors_last_hour": 10,
    }
    assert body["health_status"] == "degraded"  # 10 % > 5 %, not > 2 x 5 %
    assert body["endpoints"]["GET /api/v1/symbols"] == {
        "requests": 50,
        "errors": 10,
        "avg_duration_ms": 51.0,
        "status_codes": {"200": 40, "503": 10},
    }
    assert body["error_summary"] == {"UNAVAILABLE": 10}
    queries = stats.query_performance(window, stats.Thresholds())["stats"]
    assert (queries["min_ms"], queries["median_ms"], queries["max_ms"]) == (1.0, 50.5, 100.0)
    assert (queries["p95_ms"], queries["p99_ms"]) == (95.0, 99.0)
    assert (queries["mean_ms"], queries["stdev_ms"]) == (50.5, 29.01)  # sample stdev of 1..100
    assert (queries["successful"], queries["failed"], queries["error_rate_pct"]) == (90, 10, 10.0)
    one = stats.query_performance(window, stats.Thresholds(), "POST /graphql:Bars")["stats"]
    assert (one["total"], one["failed"], one["max_ms"]) == (50, 0, 99.0)


def test_bottlenecks_name_slow_and_failing_endpoints_worst_first() -> None:
    window = mixed_window(FakeTime(T0))
    found = stats.bottlenecks(window.rows(), stats.Thresholds(error_rate_pct=15, p95_ms=96))
    # symbols: p95 96 ms (not over 96) but errors 20 % > 15 %; Bars: p95 95 ms, no errors
    assert [(b["query_type"], b["reason"]) for b in found] == [("GET /api/v1/symbols", "errors")]
    found = stats.bottlenecks(window.rows(), stats.Thresholds(error_rate_pct=50, p95_ms=90))
    assert [b["query_type"] for b in found] == ["GET /api/v1/symbols", "POST /graphql:Bars"]


def test_the_window_rolls_over_after_24_hours() -> None:
    clock = FakeTime(T0)
    window = mixed_window(clock)
    clock.advance(3600)  # an hour on: still in the day, not in the last hour
    window.record("GET /livez", 200, 1.0, None, False)
    summary = stats.observability_metrics(window, stats.Thresholds())["summary"]
    assert (summary["total_requests"], summary["requests_last_hour"]) == (101, 1)
    clock.advance(DAY_SECONDS - 3600 - 60)  # the mix is 23 h 59 min old
    assert (
        stats.observability_metrics(window, stats.Thresholds())["summary"]["total_requests"] == 101
    )
    clock.advance(120)  # the mix is over 24 h old; the livez request is not
    body = stats.observability_metrics(window, stats.Thresholds())
    assert body["summary"]["total_requests"] == 1
    assert list(body["endpoints"]) == ["GET /livez"]
    assert len(window.rows()) == 1
    clock.advance(DAY_SECONDS)
    assert stats.observability_metrics(window, stats.Thresholds())["health_status"] == "idle"


def test_health_is_critical_at_twice_a_threshold() -> None:
    window = mixed_window(FakeTime(T0))
    assert stats.observability_metrics(window, stats.Thresholds(4, 1000))["health_status"] == (
        "critical"
    )
    assert stats.observability_metrics(window, stats.Thresholds(10, 1000))["health_status"] == (
        "healthy"
    )


def test_samples_are_bounded_but_counts_stay_exact() -> None:
    window = RequestWindow(max_samples=10, clock=FakeTime(T0).clock)
    for _ in range(25):
        window.record("GET /livez", 200, 1.0, None, False)
    assert len(window.rows()) == 10
    assert (
        stats.observability_metrics(window, stats.Thresholds())["summary"]["total_requests"] == 25
    )


def test_kept_samples_are_not_left_for_the_cycle_collector_to_walk() -> None:
    """A full window (100,000 samples) must not lengthen every full collection."""
    window = RequestWindow(max_samples=10_000, clock=FakeTime(T0).clock)
    gc.collect()
    before = len(gc.get_objects())
    for ms in range(10_000):
        window.record("POST /graphql:Bars", 200, float(ms), None, False)
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    assert len(window.rows()) == 10_000  # still all there


def test_minutes_past_the_window_are_let_go_under_steady_traffic() -> None:
    clock = FakeTime(T0)
    window = RequestWindow(clock=clock.clock)
    day = int(DAY_SECONDS // 60)
    kept = []
    for _ in range(2 * day):  # two days, a request every 30 s
        for _ in range(2):
            window.record("GET /livez", 200, 1.0, None, False)
            clock.advance(30)
        kept.append(window.minutes_kept)
    assert max(kept) == day  # the minute now and those wholly inside the window
    assert kept[-1] == day
