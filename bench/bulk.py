"""10,000 bars of one symbol: marketgraph's fast path, `barSeries` and stock execution against
a bare route, each request timed from outside its server.

Each target is timed as bench/alone.py times requests: alone, by `wrk` from outside its
server's process.

- (a) floor: a bare Starlette route (bench/small_apps.py `bulk`) fetching the bars with asyncpg
  and dumping them with orjson, under marketgraph's garbage-collector settings;
- (b) marketgraph as `marketgraph serve` runs it, the `bars` query (fast path);
- (c) marketgraph with its GraphQL route on stock Strawberry execution
  (`build_schema(fast_path=False)`, bench/small_apps.py `stock-marketgraph`);
- (d) the same bars as `barSeries` (one array per field), on (b)'s server.

Each ratio is the median of per-round ratios. Targets: (b) <= 2x (a), (c)/(b) >= 10.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.alone import Timed, ratio, time_alone
from bench.load import Commands, Request, check, servers
from bench.small import server_commands  # the small case's settings, one place

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
class Target(Timed):
    """One kind of bulk request, with its label in the report."""

    label: str = ""
    name: str = ""


def targets() -> list[Target]:
    def graphql(query: str) -> Request:
        return Request("POST", "/graphql", json.dumps({"query": query}))

    return [
        Target(
            "floor", Request("GET", FLOOR_PATH), label="a", name="floor, asyncpg + orjson route"
        ),
        Target("marketgraph", graphql(BULK), label="b", name="marketgraph GraphQL (fast path)"),
        Target("stock", graphql(BULK), label="c", name="stock Strawberry execution"),
        Target("marketgraph", graphql(SERIES), label="d", name="the same bars as barSeries"),
    ]


def commands(database_url: str) -> Commands:
    marketgraph_command, settings = server_commands(database_url)["marketgraph"]
    plain = {"BENCH_DATABASE_URL": database_url}
    apps = str(HERE / "small_apps.py")
    return {
        "floor": ([sys.executable, apps, "bulk"], plain),
        "marketgraph": (marketgraph_command, settings),
        "stock": ([sys.executable, apps, "stock-marketgraph"], plain | settings),
    }


def _rows(answer: Any) -> list[dict[str, str]]:
    """Any target's bars as rows of strings, a series turned back into rows, UTC written one
    way (stock Strawberry writes +00:00, orjson Z)."""
    if isinstance(answer, list):
        rows: list[dict[str, Any]] = answer
    elif "bars" in answer["data"]:
        rows = answer["data"]["bars"]
    else:
        series = answer["data"]["barSeries"]
        columns = zip(*(series[f] for f in FIELDS.split()), strict=True)
        rows = [dict(zip(FIELDS.split(), values, strict=True)) for values in columns]
    return [{k: str(v).replace("+00:00", "Z") for k, v in row.items()} for row in rows]


def run_bulk(database_url: str, *, seconds: float, rounds: int) -> list[Target]:
    """Every target must answer the floor's bars before any is timed."""
    measured = targets()
    with servers(commands(database_url)) as running:
        expected = _rows(check(running["floor"][0], measured[0].request))
        for target in measured:
            if _rows(check(running[target.server][0], target.request)) != expected:
                raise SystemExit(f"{target.name} answers other bars than the floor")
        if len(expected) != BARS:
            raise SystemExit(f"the floor answers {len(expected)} bars, not {BARS}")
        time_alone(running, measured, seconds=seconds, rounds=rounds)
    return measured


def report_bulk(measured: list[Target], seconds: float, rounds: int) -> None:
    floor, fast, stock, _ = measured
    print(
        f"{BARS} bars of one symbol ({FIELDS}), one request at a time (wrk, 1 connection),"
        f" median of {rounds} x {seconds:g} s:"
    )
    for target in measured:
        line = f"  ({target.label}) {target.name + ':':34} {target.median_ms():8.1f} ms"
        line += f"  CPU {target.median_cpu_ms():7.1f} ms"
        if target is not floor:
            line += f"   ({target.label})/(a) = {ratio(target.ms, floor.ms):.2f}"
        print(line + ("  (target <= 2)" if target is fast else ""))
    print(f"  (c)/(b) = {ratio(stock.ms, fast.ms):.1f}  (target >= 10)")
