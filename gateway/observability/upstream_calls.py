"""Counting calls to Polygon: the observer the client reports each HTTP attempt to."""

from __future__ import annotations

import time
from collections import deque

from domain.clocks import Monotonic
from gateway.observability.facts import facts
from gateway.observability.metrics import Metrics

MAX_REMEMBERED_FAILURES = 10_000


class UpstreamCalls:
    """Feeds the metrics, the running request's facts, and the failure count alerts read."""

    def __init__(self, metrics: Metrics, *, clock: Monotonic = time.monotonic) -> None:
        self._metrics = metrics
        self._clock = clock
        self._failures: deque[float] = deque(maxlen=MAX_REMEMBERED_FAILURES)

    def __call__(self, outcome: str, seconds: float) -> None:
        self._metrics.observe_upstream(outcome, seconds)
        request = facts()
        if request is not None:
            request.upstream_calls += 1
        if outcome != "ok":
            self._failures.append(self._clock())

    def failures_within(self, seconds: float) -> int:
        since = self._clock() - seconds
        return sum(1 for at in self._failures if at >= since)
