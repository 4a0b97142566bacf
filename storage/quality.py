"""Data-quality flags computed when bars are written (COMPAT.md, "Data quality fields").

Pure functions, so the rules are testable without a database and the same whichever code path
stores a bar. Each bar is judged against the bars before it *whatever their distance*: the
previous close for gaps (so a weekend or holiday is not a gap, only a price jump across it) and
the median volume of up to `VOLUME_WINDOW` preceding bars for volume anomalies.

Score: 1.0, minus `OHLC_PENALTY` for inconsistent prices, `NEGATIVE_VOLUME_PENALTY` for a
negative volume, `GAP_PENALTY` for a gap and `VOLUME_PENALTY` for a volume anomaly, floored at 0.
A gap or an anomaly alone still passes (0.9 ≥ 0.85: markets do jump), both together do not, and
an impossible bar never does.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

GAP_THRESHOLD = 0.10  # open more than 10 % away from the previous close
VOLUME_WINDOW = 20  # preceding bars whose median volume is the baseline
MIN_VOLUME_HISTORY = 5  # fewer preceding bars than this: no volume judgement
VOLUME_HIGH = 10.0  # above 10x the median is an anomaly
VOLUME_LOW = 0.10  # below 10 % of the median is an anomaly
PASSING_SCORE = 0.85

OHLC_PENALTY = 0.5
NEGATIVE_VOLUME_PENALTY = 0.5
GAP_PENALTY = 0.1
VOLUME_PENALTY = 0.1


class PriceBar(Protocol):
    """What the checks read; BarIn, PolygonBar and database records all qualify."""

    @property
    def open(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def volume(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Quality:
    """The flags stored with one bar."""

    gap_detected: bool
    volume_anomaly: bool
    quality_score: float
    validation_notes: str | None

    @property
    def passes(self) -> bool:
        return self.quality_score >= PASSING_SCORE


def ohlc_problems(bar: PriceBar) -> list[str]:
    """What is impossible about a bar's prices: low ≤ open, close ≤ high (empty when fine)."""
    problems = []
    if bar.high < bar.low:
        problems.append(f"high {bar.high:g} below low {bar.low:g}")
    else:
        for name, value in (("open", bar.open), ("close", bar.close)):
            if not bar.low <= value <= bar.high:
                problems.append(f"{name} {value:g} outside low-high {bar.low:g}-{bar.high:g}")
    return problems


def gap_note(bar: PriceBar, previous_close: float | None) -> str | None:
    """A note when the open moved more than GAP_THRESHOLD from the previous bar's close."""
    if previous_close is None or previous_close <= 0:
        return None
    move = (bar.open - previous_close) / previous_close
    if abs(move) <= GAP_THRESHOLD:
        return None
    return f"gap: open {bar.open:g} is {move:+.1%} from previous close {previous_close:g}"


def volume_median(preceding_volumes: Sequence[float]) -> float | None:
    """The baseline: median of the last VOLUME_WINDOW volumes; None with too few or when 0.

    No judgement with fewer than MIN_VOLUME_HISTORY preceding bars, or when their median is 0
    (an illiquid stretch gives no baseline to compare with).
    """
    window = preceding_volumes[-VOLUME_WINDOW:]
    if len(window) < MIN_VOLUME_HISTORY:
        return None
    median = statistics.median(window)
    return median if median > 0 else None


def volume_note(bar: PriceBar, median: float | None) -> str | None:
    """A note when volume is beyond VOLUME_HIGH or below VOLUME_LOW times the median."""
    if median is None:
        return None
    ratio = bar.volume / median
    if VOLUME_LOW <= ratio <= VOLUME_HIGH:
        return None
    return f"volume anomaly: {bar.volume:g} is {ratio:.2g}x the median {median:g}"


def assess(
    bar: PriceBar, previous_close: float | None, preceding_volumes: Sequence[float]
) -> Quality:
    """All checks for one bar, given the previous close and the preceding volumes."""
    return _judge(bar, previous_close, volume_median(preceding_volumes))


_CLEAN = Quality(False, False, 1.0, None)


def _judge(bar: PriceBar, previous_close: float | None, median: float | None) -> Quality:
    o, h, lo, c, v = bar.open, bar.high, bar.low, bar.close, bar.volume
    if (
        lo <= o <= h
        and lo <= c <= h
        and v >= 0
        and (median is None or VOLUME_LOW <= v / median <= VOLUME_HIGH)
        and (
            previous_close is None
            or previous_close <= 0
            or abs(o - previous_close) / previous_close <= GAP_THRESHOLD
        )
    ):
        return _CLEAN  # the common case, kept cheap: ingest judges every bar
    notes = [f"ohlc: {p}" for p in ohlc_problems(bar)]
    score = 1.0 - (OHLC_PENALTY if notes else 0.0)
    if v < 0:
        notes.append(f"negative volume {v:g}")
        score -= NEGATIVE_VOLUME_PENALTY
    gap = gap_note(bar, previous_close)
    volume = volume_note(bar, median)
    score -= (GAP_PENALTY if gap else 0.0) + (VOLUME_PENALTY if volume else 0.0)
    notes += [n for n in (gap, volume) if n]
    return Quality(
        gap_detected=gap is not None,
        volume_anomaly=volume is not None,
        quality_score=round(max(0.0, score), 4),
        validation_notes="; ".join(notes) or None,
    )


def assess_series(bars: Sequence[PriceBar], context: Sequence[PriceBar] = ()) -> list[Quality]:
    """Quality of each of `bars` (oldest first), `context` being the stored bars before them.

    Keeps the last VOLUME_WINDOW volumes both in arrival order and sorted, so each median is
    a lookup rather than a sort.
    """
    history = list(context[-VOLUME_WINDOW:])
    recent = deque(b.volume for b in history)
    ordered = sorted(recent)
    previous_close = history[-1].close if history else None
    out = []
    for bar in bars:
        n = len(ordered)
        median = None
        if n >= MIN_VOLUME_HISTORY:
            middle = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
            median = middle if middle > 0 else None
        out.append(_judge(bar, previous_close, median))
        recent.append(bar.volume)
        insort(ordered, bar.volume)
        if len(recent) > VOLUME_WINDOW:
            del ordered[bisect_left(ordered, recent.popleft())]
        previous_close = bar.close
    return out
