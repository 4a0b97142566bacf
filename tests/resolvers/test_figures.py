"""The health verdict of `/api/v1/symbols/detailed`, on both sides of each threshold."""

from __future__ import annotations

import pytest

from resolvers.figures import health_of


@pytest.mark.parametrize(
    ("age_hours", "rate", "verdict"),
    [
        (24.0, 95.0, "healthy"),
        (24.01, 95.0, "warning"),
        (24.0, 94.99, "warning"),
        (72.0, 85.0, "warning"),
        (72.01, 100.0, "stale"),
        (1.0, 84.99, "stale"),
        (None, 100.0, "stale"),
    ],
)
def test_health_thresholds(age_hours: float | None, rate: float, verdict: str) -> None:
    assert health_of(age_hours, rate) == verdict
