"""Prometheus metrics of one app, and `GET /metrics` in Prometheus' text format.

Every metric is made on the app's own registry (no module-level state). With several worker
processes `marketgraph serve` points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory before
the workers start: prometheus-client then keeps values in files there and `/metrics`, asked of
any worker, adds up all of them. Gauges say how workers combine (`livesum`: live workers'
sum; `max`: the worst).

Labels are bounded: `endpoint` is a route template or `METHOD /graphql:<operation>` with
operation names bounded by `OperationNames`; `code` is one of the error codes.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from starlette.requests import Request
from starlette.responses import Response

from storage.replicas import ReplicaSet

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def multiprocess_dir() -> str | None:
    """The directory worker values are shared in, when prometheus-client uses one (it decides
    when first imported, from the environment of that moment)."""
    in_files = bool(getattr(values.ValueClass, "_multiprocess", False))
    return os.environ.get(MULTIPROC_ENV) if in_files else None


class Metrics:
    """The gateway's metrics; `registry` is what `/metrics` shows in a single process."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        # the request counter's and latency histogram's series by (endpoint, status): as many
        # as the metrics themselves hold (endpoints are bounded: observability/facts.py)
        self._request_series: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.requests = Counter(
            "marketgraph_requests", "Requests answered, by endpoint and HTTP status.",
            ["endpoint", "status"], registry=registry,
        )  # fmt: skip
        self.errors = Counter(
            "marketgraph_request_errors", "Requests that failed, by endpoint and error code.",
            ["endpoint", "code"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "marketgraph_request_duration_seconds", "Time to answer a request, by endpoint.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.rate_limited = Counter(
            "marketgraph_rate_limited", "Requests refused with 429 (rate limits).",
            registry=registry,
        )  # fmt: skip
        self.cache_lookups = Counter(
            "marketgraph_cache_lookups", "Response cache lookups, by result (hit, miss).",
            ["result"], registry=registry,
        )  # fmt: skip
        self.cache_evictions = Counter(
            "marketgraph_cache_evictions", "Response cache entries evicted to make room.",
            registry=registry,
        )  # fmt: skip
        self.cache_entries = Gauge(
            "marketgraph_cache_entries", "Response cache entries held in this process's memory.",
            multiprocess_mode="livesum", registry=registry,
        )  # fmt: skip
        self.cache_shared_entries = Gauge(
            "marketgraph_cache_shared_entries",
            "Response cache entries in Redis, shared by every worker (REDIS_URL set).",
            multiprocess_mode="livemax", registry=registry,
        )  # fmt: skip
        self.upstream_calls = Counter(
            "marketgraph_upstream_requests", "HTTP requests to Polygon, by outcome.",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self.upstream_latency = Histogram(
            "marketgraph_upstream_request_duration_seconds", "Time of one request to Polygon.",
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.breaker_state = Gauge(
            "marketgraph_upstream_breaker_state", "Polygon circuit breaker: 0 closed, "
            "1 half-open, 2 open (the worst worker's).", multiprocess_mode="max",
            registry=registry,
        )  # fmt: skip
        self.redis_up = Gauge(
            "marketgraph_redis_up", "1 while Redis (REDIS_URL) answers, 0 while limits fall "
            "back to each process (the worst live worker's), and 0 without REDIS_URL.",
            multiprocess_mode="livemin", registry=registry,
        )  # fmt: skip
        self.pool_size = Gauge(
            "marketgraph_db_pool_connections", "Database connections open.",
            multiprocess_mode="livesum", registry=registry,
        )  # fmt: skip
        self.pool_in_use = Gauge(
            "marketgraph_db_pool_connections_in_use", "Database connections lent out.",
            multiprocess_mode="livesum", registry=registry,
        )  # fmt: skip
        self.pool_max = Gauge(
            "marketgraph_db_pool_max_connections", "Most database connections allowed.",
            multiprocess_mode="livesum", registry=registry,
        )  # fmt: skip

        self.replica_up = Gauge(
            "marketgraph_db_replica_up", "Read replica usable: 1 up, 0 down or not a replica "
            "(by position in DATABASE_READ_URLS; the worst worker's).", ["replica"],
            multiprocess_mode="livemin", registry=registry,
        )  # fmt: skip
        self.replica_lag = Gauge(
            "marketgraph_db_replica_lag_seconds", "Read replica's replay lag behind the primary "
            "at the last sample (+Inf: unknown).", ["replica"],
            multiprocess_mode="livemax", registry=registry,
        )  # fmt: skip
        self.replica_fallbacks = Counter(
            "marketgraph_db_replica_fallbacks_total",
            "Reads that failed on a replica and ran again on the primary.", registry=registry,
        )  # fmt: skip

    def set_replicas(self, replicas: ReplicaSet) -> None:
        for replica in replicas.replicas:
            label = str(replica.index)
            self.replica_up.labels(label).set(1 if replica in replicas.usable() else 0)
            self.replica_lag.labels(label).set(replica.lag_seconds)

    def observe_request(
        self, endpoint: str, status: int, seconds: float, code: str | None, fault: bool
    ) -> None:
        series = self._request_series.get((endpoint, status))
        if series is None:  # prometheus' `labels()` checks and locks: once per label set
            series = self._request_series[endpoint, status] = (
                self.requests.labels(endpoint, str(status)),
                self.latency.labels(endpoint),
            )
        series[0].inc()
        series[1].observe(seconds)
        if fault and code:
            self.errors.labels(endpoint, code).inc()
        if status == 429:
            self.rate_limited.inc()

    def observe_upstream(self, outcome: str, seconds: float) -> None:
        self.upstream_calls.labels(outcome).inc()
        self.upstream_latency.observe(seconds)

    def set_breaker(self, state: str) -> None:
        self.breaker_state.set(BREAKER_VALUES.get(state, 0))

    def set_pool(self, size: int, idle: int, max_size: int) -> None:
        self.pool_size.set(size)
        self.pool_in_use.set(size - idle)
        self.pool_max.set(max_size)

    def exposition(self) -> bytes:
        """The text `/metrics` answers: every worker's values when running multiprocess."""
        if multiprocess_dir() is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`: Prometheus text format, gauges refreshed first."""
    state = request.app.state
    refresh = getattr(state, "refresh_gauges", None)
    if refresh is not None:
        await refresh()
    metrics: Metrics = state.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def mark_process_dead() -> None:
    """Drop this worker's live gauges from the sums (at shutdown, multiprocess only)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
