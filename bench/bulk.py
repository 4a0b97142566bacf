"""10,000 bars of one symbol: marketgraph's fast path, `barSeries` and stock execution against
a bare route, each request timed from outside its server.

Each target runs in its own server process (pinned to one core) and `wrk` sends it one
request after another over a single connection from another core: the time of a request
alone, with no client in the server's process to add its own time to every target alike.

- (a) floor: a bare Starlette route (bench/small_apps.py `bulk`) fetching the bars with asyncpg
  and dumping them with orjson, under marketgraph's garbage-collector settings;
- (b) marketgraph as `marketgraph serve` runs it, the `bars` query (fast path);
- (c) marketgraph with its GraphQL route on stock Strawberry execution
  (`build_schema(fast_path=False)`, bench/small_apps.py `stock-marketgraph`);
- (d) the same bars as `barSeries` (one array per field), on (b)'s server.

Targets take turns for `rounds` rounds; each ratio is the median of per-round ratios. Targets:
(b) <= 2x (a), (c)/(b) >= 10.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.load import Request, check, free_port, server, wrk

HERE = Path(__file__).resolve().parent
BARS = 10_000
FIELDS = "time open high low close volume"
BULK = f'{{ bars(ticker: "X:BTCUSD", timeframe: M1, limit: {BARS}) {{ {FIELDS} }} }}'
SERIES = BULK.replace("bars(", "barSeries(")
FLOOR_SQL = (
    f"SELECT {', '.join(FIELDS.split())} FROM bars"
    " WHERE symbol = 'X:BTCUSD' AND timeframe = '1m' ORDER BY time LIMIT $1"
)
FLOOR_PATH = "/bars"


@dataclass
class Target:
    """One kind of bulk request and what each round measured."""

    label: str
    name: str
    server: str
    request: Request
    ms: list[float] = field(default_factory=list)  # mean time of a request, per round
    cpu_ms: list[float] = field(default_factory=list)  # server CPU per request, per round


def targets() -> list[Target]:
    def graphql(query: str) -> Request:
        return Request("POST", "/graphql", json.dumps({"query": query}))

    return [
        Target("a", "floor, asyncpg + orjson route", "floor", Request("GET", FLOOR_PATH)),
        Target("b", "marketgraph GraphQL (fast path)", "marketgraph", graphql(BULK)),
        Target("c", "stock Strawberry execution", "stock", graphql(BULK)),
        Target("d", "the same bars as barSeries", "marketgraph", graphql(SERIES)),
    ]


@contextlib.contextmanager
def servers(database_url: str) -> Iterator[dict[str, tuple[str, psutil.Process]]]:
    from bench.small import server_commands  # the small case's settings, one place

    marketgraph_command, settings = server_commands(database_url)["marketgraph"]
    plain = {"BENCH_DATABASE_URL": database_url}
    apps = str(HERE / "small_apps.py")
    commands = {
        "floor": ([sys.executable, apps, "bulk"], plain),
        "marketgraph": (marketgraph_command, settings),
        "stock": ([sys.executable, apps, "stock-marketgraph"], plain | settings),
    }
    with contextlib.ExitStack() as stack:
        running: dict[str, tuple[str, psutil.Process]] = {}
        for name, (command, env) in commands.items():
            port = free_port()
            process = stack.enter_context(server([*command, str(port)], env, port))
            running[name] = (f"http://127.0.0.1:{port}", process)
        yield running


def _bars(answer: Any) -> list[dict[str, Any]]:
    """Rows of any target's answer, a series turned back into rows."""
    if isinstance(answer, list):
        return answer
    data = answer["data"]
    if "bars" in data:
        rows: list[dict[str, Any]] = data["bars"]
        return rows
    series = data["barSeries"]
    return [dict(zip(FIELDS.split(), values, strict=True))
            for values in zip(*(series[f] for f in FIELDS.split()), strict=True)]  # fmt: skip


def _same(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Rows written one way (stock Strawberry writes UTC as +00:00, orjson as Z)."""
    return [{k: str(v).replace("+00:00", "Z") for k, v in r.items()} for r in rows]


def run_bulk(database_url: str, *, seconds: float, rounds: int) -> list[Target]:
    """Each target for `seconds` per round; every target must answer the floor's bars first."""
    measured = targets()
    with servers(database_url) as running:
        expected = None
        for target in measured:
            rows = _same(_bars(check(running[target.server][0], target.request)))
            expected = rows if expected is None else expected
            if len(rows) != BARS or rows != expected:
                raise SystemExit(f"{target.name} answers other bars than the floor")
            wrk(running[target.server][0], target.request, connections=1, seconds=1)  # warm-up
        for _ in range(rounds):
            for target in measured:
                origin, process = running[target.server]
                cpu_before = sum(process.cpu_times()[:2])
                load = wrk(origin, target.request, connections=1, seconds=seconds)
                cpu = sum(process.cpu_times()[:2]) - cpu_before
                if load.refused:
                    raise SystemExit(f"{target.name}: non-2xx answers")
                target.ms.append(1000 / load.requests_per_second)
                target.cpu_ms.append(cpu * 1000 / (load.requests_per_second * seconds))
    return measured


def _ratio(mine: Target, theirs: Target) -> float:
    return statistics.median(m / t for m, t in zip(mine.ms, theirs.ms, strict=True))


def report_bulk(measured: list[Target], seconds: float, rounds: int) -> None:
    floor, fast, stock, _ = measured
    print(
        f"{BARS} bars of one symbol ({FIELDS}), one request at a time (wrk, 1 connection),"
        f" median of {rounds} x {seconds:g} s:"
    )
    for target in measured:
        ms, cpu = statistics.median(target.ms), statistics.median(target.cpu_ms)
        print(f"  ({target.label}) {target.name + ':':34} {ms:8.1f} ms  CPU {cpu:7.1f} ms", end="")
        if target is not floor:
            print(f"   ({target.label})/(a) = {_ratio(target, floor):.2f}", end="")
        print("  (target <= 2)" if target is fast else "")
    print(f"  (c)/(b) = {_ratio(stock, fast):.1f}  (target >= 10)")
