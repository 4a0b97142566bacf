"""How long background work holds a worker's event loop: the latency tail it adds to requests.

Run: `.venv/bin/python bench/loop_stalls.py [--samples N]`. A probe task yields to the loop
over and over and records the longest gap between two of its turns, while each job runs once
beside it, against a floor (the same probe with nothing else to do):
- the alert check (gateway/observability/alert_rules.py) over a request window holding N
  samples of the last 5 minutes (N = 100,000, the window's cap: reached at 333 requests/s);
- the same figures computed the way the check did before (an object per row, summed and
  sorted on the loop), for comparison.
A request waiting behind a stall waits that long: p99 under load rose from 13 to 60-75 ms when
the old check ran during a bench round. Measured: floor 0.05-0.09 ms, the check 4.7 ms (raw
rows, faults counted in C, the p95 of an even spread of 10,000), the old way 99-102 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # not bench/ (bench/graphql.py)

from gateway.observability import stats
from gateway.observability.alert_rules import Rules, Watched, check
from gateway.observability.alerts import AlertCenter
from gateway.observability.metrics import Metrics
from gateway.observability.upstream_calls import UpstreamCalls
from gateway.observability.window import RequestWindow


@dataclass(frozen=True, slots=True)
class _OldSample:
    """What the window made of each row before (`RequestWindow.samples`)."""

    at: float
    endpoint: str
    status: int
    duration_ms: float
    code: str | None
    fault: bool


async def longest_stall(job: Callable[[], Awaitable[object]] | None) -> float:
    """The longest gap (ms) between two turns of a probe that yields continuously, while
    `job` runs (or for 0.2 s with nothing else)."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    longest = 0.0

    async def probe() -> None:
        nonlocal longest
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0)
            now = loop.time()
            longest, last = max(longest, now - last), now

    task = asyncio.create_task(probe())
    await asyncio.sleep(0)
    if job is None:
        await asyncio.sleep(0.2)
    else:
        await job()
    done.set()
    await task
    return longest * 1000


def full_window(samples: int) -> RequestWindow:
    now = time.time()
    window = RequestWindow(max_samples=samples)
    for i in range(samples):  # recorded with the real clock's values spread over 4 minutes
        window._samples.append(
            (now - 240 + 240 * i / samples, "POST /graphql:x", 200, random.random() * 20, None,
             False)
        )  # fmt: skip
    return window


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100_000)
    args = parser.parse_args()
    window = full_window(args.samples)

    async def database_ok() -> bool:
        return True

    watched = Watched(window, UpstreamCalls(Metrics()), database_ok, lambda: None)
    rules = Rules(stats.Thresholds())

    async def alert_check() -> None:
        await check(rules, watched, AlertCenter())

    async def old_check() -> None:  # one object per row, summed and sorted on the loop
        recent = [_OldSample(*row) for row in window.rows(300)]
        sum(s.fault for s in recent)
        stats.percentile(sorted(s.duration_ms for s in recent), 95)

    floor = min([await longest_stall(None) for _ in range(3)])
    print(f"longest event-loop stall, {args.samples:,} samples in the window (best of 3):")
    print(f"  floor (nothing else running):       {floor:7.2f} ms")
    for name, job in (("alert check", alert_check), ("before: objects on the loop", old_check)):
        stall = min([await longest_stall(job) for _ in range(3)])
        print(f"  {name:35} {stall:7.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
