"""50 symbols x (latestBar + aggregate) against 1 symbol, each request timed from outside.

Each request is timed as bench/alone.py times requests: alone, by `wrk` from outside its
server's process. A Python client in the server's process (as this case was first measured)
added about 1.5 ms to every request, 1 symbol and 50 alike, and so pulled the ratio toward 1.

Beside marketgraph, a plain route (bench/small_apps.py `symbols`: Starlette, asyncpg,
orjson) runs the very same two statements (`storage.bars_read.latest_bars` and
`window_summary`, concurrently, as the loaders run them) and writes the same fields: its
ratio is the database's own growth from 1 symbol to 50, which no GraphQL layer can beat.
Each ratio is the median of per-round ratios.

Each request shape has a server process of its own: PostgreSQL's choice of plan for a prepared
statement (planned anew on each call, or one cached plan) follows what the connection ran
before, so one-symbol requests timed on connections that also served 50-symbol ones were timed
with plans one-symbol traffic alone would not get (before rollup reads kept one cached plan,
storage/array_parameters.py: 0.77 ms, where a server sent only one-symbol requests took 1.17).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.alone import Timed, ratio, time_alone
from bench.load import Commands, Request, check, servers
from bench.small import server_commands  # the small case's settings, one place

HERE = Path(__file__).resolve().parent
TICKERS = tuple(f"X:S{i:02d}USD" for i in range(50))
"""The synthetic symbols bench/graphql.py loads, a day of minute bars each."""
WINDOW = ('from: "2024-12-30T00:00:00Z"', 'to: "2024-12-31T00:00:00Z"')
WINDOW_BOUNDS = (datetime(2024, 12, 30, tzinfo=UTC), datetime(2024, 12, 31, tzinfo=UTC))
PLAIN_PATH = "/symbols"
SIZES = (1, len(TICKERS))


def many_symbols_query(tickers: tuple[str, ...] | list[str]) -> str:
    listed = ", ".join(f'"{t}"' for t in tickers)
    return (
        f"{{ symbols(tickers: [{listed}]) {{ ticker latestBar(timeframe: H1) {{ time close }}"
        f" aggregate({', '.join(WINDOW)}) {{ open close change changePercent volume }} }} }}"
    )


@dataclass
class Probe(Timed):
    """A request for `symbols` symbols, to a server (`kind`) that is sent no other."""

    kind: str = ""
    symbols: int = 1


def probes() -> list[Probe]:
    def graphql(n: int) -> Request:
        return Request("POST", "/graphql", json.dumps({"query": many_symbols_query(TICKERS[:n])}))

    def plain(n: int) -> Request:
        return Request("GET", f"{PLAIN_PATH}?n={n}")

    return [
        Probe(f"{kind} {n}", request(n), kind=kind, symbols=n)
        for kind, request in (("marketgraph", graphql), ("plain", plain))
        for n in SIZES
    ]


def commands(database_url: str) -> Commands:
    """marketgraph as `marketgraph serve` runs it (bench/small.py's settings: no response
    cache, no rate limits) and the plain route, each once per request shape."""
    kinds = {
        "marketgraph": server_commands(database_url)["marketgraph"],
        "plain": (
            [sys.executable, str(HERE / "small_apps.py"), "symbols"],
            {"BENCH_DATABASE_URL": database_url},
        ),
    }
    return {f"{kind} {n}": command for kind, command in kinds.items() for n in SIZES}


def _symbols(answer: Any) -> Any:
    return answer["data"]["symbols"] if isinstance(answer, dict) else answer


def run_many(database_url: str, *, seconds: float, rounds: int) -> list[Probe]:
    """marketgraph and the plain route must answer the same data, for each size, before any
    server is timed."""
    measured = probes()
    with servers(commands(database_url)) as running:
        for size in {p.symbols for p in measured}:
            answers = [_symbols(check(running[p.server][0], p.request))
                       for p in measured if p.symbols == size]  # fmt: skip
            if len(answers[0]) != size or any(a != answers[0] for a in answers):
                raise SystemExit(f"{size} symbols: the servers answer differently: {answers}")
        port = urlsplit(database_url).port or 5432
        time_alone(running, measured, seconds=seconds, rounds=rounds, database_port=port)
    return measured


def report_many(measured: list[Probe], seconds: float, rounds: int) -> None:
    print(
        f"symbols(tickers) {{ latestBar aggregate }}, one request at a time (wrk, 1 connection),"
        f" median of {rounds} x {seconds:g} s:"
    )
    print(f"  {'server':12} {'1 symbol ms':>11} {'50 ms':>7} {'50/1':>5}"
          f" {'CPU ms 1':>8} {'CPU ms 50':>9} {'CPU 50/1':>8}"
          f" {'DB CPU ms 1':>11} {'DB CPU ms 50':>12}")  # fmt: skip
    for name in ("marketgraph", "plain"):
        one, many = (p for p in measured if p.kind == name)
        print(
            f"  {name:12} {one.median_ms():11.2f} {many.median_ms():7.2f}"
            f" {ratio(many.ms, one.ms):5.2f} {one.median_cpu_ms():8.3f}"
            f" {many.median_cpu_ms():9.3f} {ratio(many.cpu_ms, one.cpu_ms):8.2f}"
            f" {_ms(one.median_database_cpu_ms()):>11} {_ms(many.median_database_cpu_ms()):>12}"
        )
    print("  (target: marketgraph's 50/1 <= 1.5; the plain route's 50/1 is the database's own)")
    print("  (DB CPU: the server's PostgreSQL backends, summed; both statements run at once)")


def _ms(value: float | None) -> str:
    """A per-request figure, or a dash where it was not measured (a remote database)."""
    return "-" if value is None else f"{value:.3f}"
