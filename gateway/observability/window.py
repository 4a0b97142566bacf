"""The last 24 hours of requests in memory: exact counts per minute, recent durations.

Counts (requests, errors, status codes) are kept per minute and per endpoint, so they stay
exact however busy the gateway is; durations for percentiles are kept as individual samples,
at most `max_samples` of the newest. Everything older than the window is dropped as time moves.
One window per process: with several workers each reports its own requests (Prometheus'
`/metrics` is the view across workers).
"""

from __future__ import annotations

import bisect
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter

from domain.clocks import Monotonic

DAY_SECONDS = 86_400
MINUTE = 60
HOUR = 3600


@dataclass(slots=True)
class Tally:
    """Counts of one endpoint over one minute (or summed over many)."""

    requests: int = 0
    errors: int = 0
    total_ms: float = 0.0
    status_codes: Counter[int] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)

    def count(self, status: int, duration_ms: float, code: str | None, fault: bool) -> None:
        self.requests += 1
        self.errors += fault
        self.total_ms += duration_ms
        self.status_codes[status] += 1
        if code:
            self.error_codes[code] += 1

    def merge(self, other: Tally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.total_ms += other.total_ms
        self.status_codes.update(other.status_codes)
        self.error_codes.update(other.error_codes)


Row = tuple[float, str, int, float, str | None, bool]
"""One answered request: (wall-clock seconds, endpoint, status, duration in ms, its error code
or None, whether it was a server-side failure). A plain tuple of atomic values, which the cycle
collector stops tracking after its first pass (100,000 objects were traversed by every full
collection: pauses of 10-100 ms in the latency tail), read without making an object per row."""
AT, ENDPOINT, DURATION_MS, FAULT = itemgetter(0), itemgetter(1), itemgetter(3), itemgetter(5)
"""Readers of a Row's fields, for `map`, `sorted` and `bisect` over many rows (C-level)."""


class RequestWindow:
    """Requests of the last `window_seconds`; `clock` is wall-clock seconds (tests move it)."""

    def __init__(
        self,
        *,
        window_seconds: float = DAY_SECONDS,
        max_samples: int = 100_000,
        clock: Monotonic = time.time,
    ) -> None:
        if window_seconds <= 0 or max_samples < 1:
            raise ValueError("window_seconds must be > 0 and max_samples >= 1")
        self.window_seconds = window_seconds
        self._clock = clock
        self._samples: deque[Row] = deque(maxlen=max_samples)
        self._minutes: dict[int, dict[str, Tally]] = {}
        self._kept_from = -1  # minutes before this one are gone from `_minutes`

    def now(self) -> float:
        return self._clock()

    @property
    def minutes_kept(self) -> int:
        """Per-minute tallies held (at most a window's worth and the current minute)."""
        return len(self._minutes)

    def record(
        self, endpoint: str, status: int, duration_ms: float, code: str | None, fault: bool
    ) -> None:
        at = self._clock()
        self._samples.append((at, endpoint, status, duration_ms, code, fault))
        minute = int(at // MINUTE)
        tallies = self._minutes.get(minute)
        if tallies is None:
            tallies = self._minutes[minute] = {}
        tally = tallies.get(endpoint)
        if tally is None:  # not `setdefault(endpoint, Tally())`: a Tally and two Counters
            tally = tallies[endpoint] = Tally()  # made and dropped on every request
        tally.count(status, duration_ms, code, fault)
        self._expire(at)

    def _expire(self, now: float) -> None:
        oldest = now - self.window_seconds
        while self._samples and self._samples[0][0] < oldest:
            self._samples.popleft()
        first_kept = int(oldest // MINUTE) + 1  # a minute partly outside the window goes
        if first_kept <= self._kept_from:
            return  # the minutes were swept since the last one went (a day's are 1,440 keys:
            # swept on every request they cost 15 µs of it)
        self._kept_from = first_kept
        for minute in [m for m in self._minutes if m < first_kept]:
            del self._minutes[minute]

    def rows(self, within: float | None = None) -> list[Row]:
        """The rows of the last `within` seconds (default: the whole window), oldest first."""
        now = self._clock()
        self._expire(now)
        since = now - (self.window_seconds if within is None else within)
        kept = list(self._samples)  # one C-level copy, oldest first
        return kept[bisect.bisect_left(kept, since, key=AT) :]

    def tallies(self, within: float | None = None) -> dict[str, Tally]:
        """Exact counts per endpoint over the last `within` seconds (whole minutes)."""
        now = self._clock()
        self._expire(now)
        first = int((now - (self.window_seconds if within is None else within)) // MINUTE) + 1
        merged: dict[str, Tally] = {}
        for minute, endpoints in self._minutes.items():
            if minute >= first:
                for endpoint, tally in endpoints.items():
                    merged.setdefault(endpoint, Tally()).merge(tally)
        return merged


def total(tallies: Iterable[Tally]) -> Tally:
    out = Tally()
    for tally in tallies:
        out.merge(tally)
    return out
