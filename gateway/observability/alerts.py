"""Alerts: thresholds checked periodically, each alert deduplicated, rate-limited, kept in a
history and handed to its handlers (a log line always, an email when SMTP is configured).

An alert of a given type (and subject) fires at most once per `dedupe_seconds`; at most
`max_per_hour` alerts fire per hour in all, so a flapping system cannot flood an inbox.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.clocks import Monotonic, WallClock, utc_now

log = logging.getLogger(__name__)
Handler = Callable[["Alert"], Awaitable[None]]
HISTORY_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as `/api/v1/observability/alerts` lists it."""

    type: str  # error_rate, latency_p95, upstream_failures, breaker_open, database_unreachable
    severity: str  # warning, critical
    title: str
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "timestamp": self.timestamp,
            "metadata": self.metadata,
        }


class AlertCenter:
    """Fires alerts through `handlers`, deduplicated and rate-limited; keeps the history."""

    def __init__(
        self,
        handlers: Sequence[Handler] = (),
        *,
        dedupe_seconds: float = 900.0,
        max_per_hour: int = 20,
        clock: Monotonic = time.monotonic,
        wall_clock: WallClock = utc_now,
    ) -> None:
        if dedupe_seconds < 0 or max_per_hour < 1:
            raise ValueError("dedupe_seconds must be >= 0 and max_per_hour >= 1")
        self._handlers = list(handlers)
        self._dedupe = dedupe_seconds
        self._max_per_hour = max_per_hour
        self._clock = clock
        self._wall_clock = wall_clock
        self._last_fired: dict[str, float] = {}
        self._fired: deque[float] = deque()
        self._history: deque[Alert] = deque(maxlen=HISTORY_SIZE)
        self.suppressed = 0

    async def fire(
        self,
        type_: str,
        severity: str,
        title: str,
        message: str,
        metadata: dict[str, Any] | None = None,
    ) -> bool:
        """Fire unless the same alert fired within the dedupe window or the hourly budget is
        spent; returns whether it fired."""
        now = self._clock()
        last = self._last_fired.get(type_)
        while self._fired and self._fired[0] <= now - 3600:
            self._fired.popleft()
        if (last is not None and now - last < self._dedupe) or len(
            self._fired
        ) >= self._max_per_hour:
            self.suppressed += 1
            return False
        self._last_fired[type_] = now
        self._fired.append(now)
        alert = Alert(type_, severity, title, message, metadata or {}, self._wall_clock())
        self._history.append(alert)
        for handler in self._handlers:
            try:
                await handler(alert)
            except Exception:  # one failing handler (SMTP down) must not stop the others
                log.exception("alert handler failed", extra={"alert": alert.type})
        return True

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` alerts, newest first."""
        newest = list(self._history)[-limit:]
        return [alert.as_json() for alert in reversed(newest)]


async def log_alert(alert: Alert) -> None:
    """The handler every deployment has: one log line per alert."""
    level = logging.CRITICAL if alert.severity == "critical" else logging.WARNING
    log.log(
        level,
        "ALERT %s: %s",
        alert.title,
        alert.message,
        extra={"alert": alert.type, "severity": alert.severity, "metadata": alert.metadata},
    )
