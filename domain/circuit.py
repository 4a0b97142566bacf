"""A fleet-wide circuit's answer before an upstream call (coordination/circuit.py gives it,
upstream/polygon.py obeys it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Admission:
    """May this worker call upstream now: `wait` > 0 refuses for that many seconds; `trial`
    marks the fleet's one call after an open period (report it: `opened` or `closed`)."""

    wait: float = 0.0
    trial: bool = False
