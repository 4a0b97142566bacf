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
    """What is impossible about a bar's prices and volume (empty when nothing)."""
    problems = []
    if bar.high < bar.low:
        problems.append(f"high {bar.high:g} below low {bar.low:g}")
    else:
        for name, value in (("open", bar.open), ("close", bar.close)):
            if not bar.low <= value <= bar.high:
                problems.append(f"{name} {value:g} outside low-high {bar.low:g}-{bar.high:g}")
    if bar.volume < 0:
        problems.append(f"negative volume {bar.volume:g}")
    return problems


def gap_note(bar: PriceBar, previous_close: float | None) -> str | None:
    """A note when the open moved more than GAP_THRESHOLD from the previous bar's close."""
    if previous_close is None or previous_close <= 0:
        return None
    move = (bar.open - previous_close) / previous_close
    if abs(move) <= GAP_THRESHOLD:
        return None
    return f"gap: open {bar.open:g} is {move:+.1%} from previous close {previous_close:g}"


def volume_note(bar: PriceBar, preceding_volumes: Sequence[float]) -> str | None:
    """A note when volume is far from the median of the last VOLUME_WINDOW preceding volumes.

    No judgement with fewer than MIN_VOLUME_HISTORY preceding bars, or when their median is 0
    (an illiquid stretch gives no baseline to compare with).
    """
    window = preceding_volumes[-VOLUME_WINDOW:]
    if len(window) < MIN_VOLUME_HISTORY:
        return None
    median = statistics.median(window)
    if median <= 0:
        return None
    ratio = bar.volume / median
    if VOLUME_LOW <= ratio <= VOLUME_HIGH:
        return None
    return f"volume anomaly: {bar.volume:g} is {ratio:.2g}x the median {median:g}"


def assess(
    bar: PriceBar, previous_close: float | None, preceding_volumes: Sequence[float]
) -> Quality:
    """All checks for one bar, given what came before it."""
    problems = ohlc_problems(bar)
    gap = gap_note(bar, previous_close)
    volume = volume_note(bar, preceding_volumes)
    score = 1.0
    if any(not p.startswith("negative volume") for p in problems):
        score -= OHLC_PENALTY
    if bar.volume < 0:
        score -= NEGATIVE_VOLUME_PENALTY
    if gap:
        score -= GAP_PENALTY
    if volume:
        score -= VOLUME_PENALTY
    notes = [f"ohlc: {p}" for p in problems] + [n for n in (gap, volume) if n]
    return Quality(
        gap_detected=gap is not None,
        volume_anomaly=volume is not None,
        quality_score=round(max(0.0, score), 4),
        validation_notes="; ".join(notes) or None,
    )


def assess_series(bars: Sequence[PriceBar], context: Sequence[PriceBar] = ()) -> list[Quality]:
    """Quality of each of `bars` (oldest first), `context` being the stored bars before them."""
    history = list(context[-VOLUME_WINDOW:])
    volumes = [b.volume for b in history]
    previous_close = history[-1].close if history else None
    out = []
    for bar in bars:
        out.append(assess(bar, previous_close, volumes))
        volumes.append(bar.volume)
        if len(volumes) > VOLUME_WINDOW:
            del volumes[0]
        previous_close = bar.close
    return out
