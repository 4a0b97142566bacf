"""Requests timed one at a time from outside their servers: what a client waits for each.

Each server runs in its own process (pinned to one core, bench/load.py) and `wrk` sends one
request after another over a single connection from another core, so nothing queues and the
client (C, a few µs a request) adds next to nothing. A Python client in the server's process
adds its own time to every request alike and pulls every ratio toward 1 (bench/README.md).
Targets take turns round by round, so a change in the machine's load hits them all alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import psutil

from bench.database_cpu import backend_cpu_seconds, spent
from bench.load import Request, Running, wrk


@dataclass
class Timed:
    """One request sent alone, again and again, to one server, and what each round measured."""

    server: str
    request: Request
    ms: list[float] = field(default_factory=list)  # mean time of a request, per round
    cpu_ms: list[float] = field(default_factory=list)  # the server's CPU per request, per round
    # its PostgreSQL backends' CPU per request, per round (when they run on this machine)
    database_cpu_ms: list[float] = field(default_factory=list)

    def median_ms(self) -> float:
        return statistics.median(self.ms)

    def median_cpu_ms(self) -> float:
        return statistics.median(self.cpu_ms)

    def median_database_cpu_ms(self) -> float | None:
        return statistics.median(self.database_cpu_ms) if self.database_cpu_ms else None


def time_alone(
    running: Running,
    timed: Sequence[Timed],
    *,
    seconds: float,
    rounds: int,
    database_port: int | None = None,
) -> None:
    """A second's warm-up each, then `rounds` rounds of `seconds` per target, in turn; with
    `database_port`, the CPU of each server's backends too (bench/database_cpu.py)."""
    for target in timed:
        wrk(running[target.server][0], target.request, connections=1, seconds=1)

    def backends(process: psutil.Process) -> dict[int, float]:
        return backend_cpu_seconds(process, database_port) if database_port else {}

    for _ in range(rounds):
        for target in timed:
            origin, process = running[target.server]
            backends_before = backends(process)
            cpu_before = sum(process.cpu_times()[:2])
            load = wrk(origin, target.request, connections=1, seconds=seconds)
            cpu = sum(process.cpu_times()[:2]) - cpu_before
            database = spent(backends_before, backends(process))  # None: no backend read
            if load.refused:
                raise SystemExit(f"{target.server} {target.request.path}: non-2xx answers")
            target.ms.append(1000 / load.requests_per_second)
            requests = load.requests_per_second * seconds
            target.cpu_ms.append(cpu * 1000 / requests)
            if database is not None:
                target.database_cpu_ms.append(database * 1000 / requests)


def ratio(mine: list[float], theirs: list[float]) -> float:
    """The median of per-round ratios (rounds ran seconds apart: their ratios drift least)."""
    return statistics.median(m / t for m, t in zip(mine, theirs, strict=True))
