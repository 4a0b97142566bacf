"""50 symbols x (latestBar + aggregate) against 1 symbol, each request timed from outside.

The time of one request is what a client waits for it alone: each target runs in its own
server process (pinned to one core) and `wrk` sends it one request after another over a
single connection from another core, so nothing queues and the client (C, a few µs a
request) adds next to nothing. A Python client in the server's process (as this case was
first measured) added about a millisecond to every request, 1 symbol and 50 alike, and so
pulled the ratio toward 1.

Beside marketgraph, a plain route (bench/small_apps.py `symbols`: Starlette, asyncpg,
orjson) runs the very same two statements (`storage.bars_read.latest_bars` and
`window_summary`, concurrently, as the loaders run them) and writes the same fields: its
ratio is the database's own growth from 1 symbol to 50, which no GraphQL layer can beat.
Targets take turns for `rounds` rounds; each ratio is the median of per-round ratios.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.load import Request, check, free_port, server, wrk

HERE = Path(__file__).resolve().parent
TICKERS = tuple(f"X:S{i:02d}USD" for i in range(50))
"""The synthetic symbols bench/graphql.py loads, a day of minute bars each."""
WINDOW = ('from: "2024-12-30T00:00:00Z"', 'to: "2024-12-31T00:00:00Z"')
WINDOW_BOUNDS = (datetime(2024, 12, 30, tzinfo=UTC), datetime(2024, 12, 31, tzinfo=UTC))
PLAIN_PATH = "/symbols"


def many_symbols_query(tickers: tuple[str, ...] | list[str]) -> str:
    listed = ", ".join(f'"{t}"' for t in tickers)
    return (
        f"{{ symbols(tickers: [{listed}]) {{ ticker latestBar(timeframe: H1) {{ time close }}"
        f" aggregate({', '.join(WINDOW)}) {{ open close change changePercent volume }} }} }}"
    )


@dataclass
class Probe:
    """One request sent alone, again and again, and what each round measured."""

    server: str
    symbols: int
    request: Request
    ms: list[float] = field(default_factory=list)  # mean time of a request, per round
    cpu_ms: list[float] = field(default_factory=list)  # server CPU per request, per round


def probes() -> list[Probe]:
    def graphql(n: int) -> Request:
        return Request("POST", "/graphql", json.dumps({"query": many_symbols_query(TICKERS[:n])}))

    return [
        Probe("marketgraph", 1, graphql(1)),
        Probe("marketgraph", len(TICKERS), graphql(len(TICKERS))),
        Probe("plain", 1, Request("GET", f"{PLAIN_PATH}?n=1")),
        Probe("plain", len(TICKERS), Request("GET", f"{PLAIN_PATH}?n={len(TICKERS)}")),
    ]


@contextlib.contextmanager
def servers(database_url: str) -> Iterator[dict[str, tuple[str, psutil.Process]]]:
    """marketgraph as `marketgraph serve` runs it (bench/small.py's settings: no response
    cache, no rate limits) and the plain route, each in its own process."""
    from bench.small import server_commands  # the small case's settings, one place

    marketgraph_command, settings = server_commands(database_url)["marketgraph"]
    commands = {
        "marketgraph": (marketgraph_command, settings),
        "plain": (
            [sys.executable, str(HERE / "small_apps.py"), "symbols"],
            {"BENCH_DATABASE_URL": database_url},
        ),
    }
    with contextlib.ExitStack() as stack:
        running: dict[str, tuple[str, psutil.Process]] = {}
        for name, (command, env) in commands.items():
            port = free_port()
            process = stack.enter_context(server([*command, str(port)], env, port))
            running[name] = (f"http://127.0.0.1:{port}", process)
        yield running


def _symbols(answer: Any) -> Any:
    return answer["data"]["symbols"] if isinstance(answer, dict) else answer


def run_many(database_url: str, *, seconds: float, rounds: int) -> list[Probe]:
    """Each probe for `seconds` per round; both servers must answer the same data first."""
    measured = probes()
    with servers(database_url) as running:
        for size in {p.symbols for p in measured}:
            answers = [_symbols(check(running[p.server][0], p.request))
                       for p in measured if p.symbols == size]  # fmt: skip
            if len(answers[0]) != size or any(a != answers[0] for a in answers):
                raise SystemExit(f"{size} symbols: the servers answer differently: {answers}")
        for probe in measured:
            wrk(running[probe.server][0], probe.request, connections=1, seconds=1)  # warm-up
        for _ in range(rounds):
            for probe in measured:
                origin, process = running[probe.server]
                cpu_before = sum(process.cpu_times()[:2])
                load = wrk(origin, probe.request, connections=1, seconds=seconds)
                cpu = sum(process.cpu_times()[:2]) - cpu_before
                if load.refused:
                    raise SystemExit(f"{probe.server}, {probe.symbols}: non-2xx answers")
                requests = load.requests_per_second * seconds
                probe.ms.append(1000 / load.requests_per_second)
                probe.cpu_ms.append(cpu * 1000 / requests)
    return measured


def _ratio(many: list[float], one: list[float]) -> float:
    return statistics.median(m / o for m, o in zip(many, one, strict=True))


def report_many(measured: list[Probe], seconds: float, rounds: int) -> None:
    print(
        f"symbols(tickers) {{ latestBar aggregate }}, one request at a time (wrk, 1 connection),"
        f" median of {rounds} x {seconds:g} s:"
    )
    print(f"  {'server':12} {'1 symbol ms':>11} {'50 ms':>7} {'50/1':>5}"
          f" {'CPU ms 1':>8} {'CPU ms 50':>9} {'CPU 50/1':>8}")  # fmt: skip
    for name in ("marketgraph", "plain"):
        one, many = (p for p in measured if p.server == name)
        print(
            f"  {name:12} {statistics.median(one.ms):11.2f} {statistics.median(many.ms):7.2f}"
            f" {_ratio(many.ms, one.ms):5.2f} {statistics.median(one.cpu_ms):8.3f}"
            f" {statistics.median(many.cpu_ms):9.3f} {_ratio(many.cpu_ms, one.cpu_ms):8.2f}"
        )
    print("  (target: marketgraph's 50/1 <= 1.5; the plain route's 50/1 is the database's own)")
