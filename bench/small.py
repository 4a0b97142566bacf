"""The small-request case: one 1-bar query at 32 connections against real servers.

Each target runs in its own process (uvicorn, one worker, pinned to one core) and `wrk` loads
it from another core; targets take turns for `rounds` rounds so a load change on the machine
hits them all alike, and each figure is the median round. Every target must answer the very
same rows as the floor, checked before it is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from bench.load import Load, Request, check, servers, wrk

HERE = Path(__file__).resolve().parent
SMALL = (
    '{ bars(ticker:"AAPL", timeframe:M1, order:DESC, limit:1) { time open high low close volume } }'
)
CONNECTIONS = 32
ANONYMOUS = "marketgraph, anonymous"
BROWSER_HEADERS = {
    "Accept": "application/graphql-response+json, application/json",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Accept-Language": "en-GB,en;q=0.9",
    "Origin": "http://127.0.0.1:8000",
    "Referer": "http://127.0.0.1:8000/dashboard/",
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-origin",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36",
}
"""What a page's `fetch` POST sends besides its body (Chromium's, trimmed): an `Origin` on every
POST and gzip accepted, so the CORS and gzip layers do real work, unlike for wrk's bare
requests."""
STRICT_FLOOR = "floor on marketgraph's pool"
"""The floor's route on marketgraph's own pool (bench/small_apps.py `floor-pool`). The floor
keeps asyncpg's default pool, as a bare Starlette + asyncpg + orjson route (the issue's floor)
opens it, and that pool makes a reset round trip on each release that marketgraph's does not:
this is the least a server can do."""
REST_PATH = "/api/v1/bars?symbol=AAPL&timeframe=1m&limit=1"
"""The same newest bar by the older API's REST route (COMPAT.md): the request a client of that
API sends most."""
LAYERS = "floor inside marketgraph's layers"
"""The floor's handler served by marketgraph's app (bench/small_apps.py `layers`): the most a
GraphQL layer inside marketgraph's middleware could reach."""


@dataclass
class Target:
    """One server configuration under load and what it measured."""

    name: str
    server: str  # key of the server process (several targets may share one)
    request: Request
    prepare: Callable[[str], None] | None = None  # e.g. register a persisted query
    rows: Callable[[object], object] | None = None  # its answer's rows as the floor writes them
    loads: list[Load] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # server CPU time per request, per run
    rss_mb: float = 0.0

    def median(self, attribute: str) -> float:
        return statistics.median(float(getattr(load, attribute)) for load in self.loads)


def graphql_body(query: str) -> str:
    return json.dumps({"query": query})


def _persisted_extensions() -> dict[str, object]:
    """The `extensions` that send SMALL by its hash."""
    digest = hashlib.sha256(SMALL.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def apq_target() -> Target | None:
    """marketgraph via an Automatic Persisted Query hash: registered once with its document,
    then sent as the hash alone (None until gateway/persisted_queries.py exists)."""
    if importlib.util.find_spec("gateway.persisted_queries") is None:
        return None
    extensions = _persisted_extensions()
    hashed = json.dumps({"extensions": extensions})

    def register(origin: str) -> None:
        check(origin, Request("POST", "/graphql", json.dumps({"query": SMALL, **{
            "extensions": extensions}})))  # fmt: skip

    return Target("marketgraph, APQ hash", "marketgraph", Request("POST", "/graphql", hashed),
                  prepare=register)  # fmt: skip


def apq_get_target() -> Target:
    """The same hash over GET, as Apollo clients send it with `useGETForHashedQueries` (so that
    HTTP caches may keep the answers); registered by the POST target before it."""
    path = "/graphql?" + urlencode({"extensions": json.dumps(_persisted_extensions())})
    return Target("marketgraph, APQ hash over GET", "marketgraph", Request("GET", path))


def targets(key: str) -> list[Target]:
    body = graphql_body(SMALL)
    floor_body = json.dumps({"query": SMALL, "variables": {"ticker": "AAPL"}})
    apq = apq_target()
    return [
        Target(
            "floor: Starlette + asyncpg + orjson", "floor", Request("POST", "/graphql", floor_body)
        ),
        Target(STRICT_FLOOR, "floor-pool", Request("POST", "/graphql", floor_body)),
        Target(LAYERS, "layers", Request("POST", "/graphql", floor_body)),
        Target(ANONYMOUS, "marketgraph", Request("POST", "/graphql", body)),
        Target(
            "marketgraph, with a key",
            "marketgraph",
            Request("POST", "/graphql", body, {"X-API-Key": key}),
        ),
        *([apq, apq_get_target()] if apq else []),
        Target(
            "marketgraph, from a browser page",
            "marketgraph",
            Request("POST", "/graphql", body, BROWSER_HEADERS),
        ),
        Target(
            "marketgraph, REST, anonymous",
            "marketgraph",
            Request("GET", REST_PATH),
            rows=_rest_rows,
        ),
        Target("stock Strawberry, minimal schema", "stock", Request("POST", "/graphql", body)),
    ]


def server_commands(database_url: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """How each server process starts (marketgraph exactly as `marketgraph serve` runs it,
    with the response cache and rate limits off: each request is answered in full)."""
    python = sys.executable
    marketgraph = str(Path(python).with_name("marketgraph"))
    plain = {"BENCH_DATABASE_URL": database_url}
    settings = {
        "DATABASE_URL": database_url,
        "ANONYMOUS_READS": "true",
        "ANONYMOUS_RATE_LIMIT_PER_MINUTE": "0",
        "DEFAULT_RATE_LIMIT_PER_MINUTE": "0",
        "CACHE_TTL_SECONDS": "0",
        "INTROSPECTION": "public",
        "LOG_FORMAT": "json",
    }
    return {
        "floor": ([python, str(HERE / "small_apps.py"), "floor"], plain),
        "floor-pool": ([python, str(HERE / "small_apps.py"), "floor-pool"], plain),
        "layers": ([python, str(HERE / "small_apps.py"), "layers"], plain | settings),
        "stock": ([python, str(HERE / "small_apps.py"), "stock"], plain),
        "marketgraph": ([marketgraph, "serve", "--host", "127.0.0.1", "--port"], settings),
    }


def _rest_rows(answer: object) -> object:
    """A REST answer's bars written as the floor writes them (its `timestamp` is `time`)."""
    data = answer.get("data", []) if isinstance(answer, dict) else []
    columns = ("open", "high", "low", "close", "volume")
    bars = [{"time": b["timestamp"], **{c: b[c] for c in columns}} for b in data]
    return _rows({"data": {"bars": bars}})


def _rows(answer: object) -> object:
    """The answer's data, UTC times written one way (stock Strawberry writes +00:00)."""
    data = answer.get("data") if isinstance(answer, dict) else answer
    return json.loads(json.dumps(data).replace('+00:00"', 'Z"'))


def run_small(database_url: str, key: str, *, seconds: float, rounds: int) -> list[Target]:
    chosen = targets(key)
    with servers(server_commands(database_url)) as running:
        expected = None
        for target in chosen:
            origin = running[target.server][0]
            if target.prepare is not None:
                target.prepare(origin)
            rows = (target.rows or _rows)(check(origin, target.request))
            expected = rows if expected is None else expected
            if rows != expected:
                raise SystemExit(f"{target.name} answers {rows}, the floor {expected}")
            wrk(origin, target.request, connections=CONNECTIONS, seconds=1)  # warm-up
        for _ in range(rounds):
            for target in chosen:
                origin, process = running[target.server]
                cpu_before = sum(process.cpu_times()[:2])
                load = wrk(origin, target.request, connections=CONNECTIONS, seconds=seconds)
                cpu = sum(process.cpu_times()[:2]) - cpu_before
                requests = load.requests_per_second * seconds
                target.cpu_ms.append(cpu * 1000 / requests if requests else float("nan"))
                if load.refused:
                    raise SystemExit(f"{target.name}: {load.refused} non-2xx answers")
                target.loads.append(load)
        for target in chosen:
            target.rss_mb = running[target.server][1].memory_info().rss / 2**20
    return chosen


def per_round(target: Target, base: Target) -> float:
    """The median over rounds of `target`'s requests/s against `base`'s in the same round.

    The machine's speed drifts from minute to minute (the floor alone ran 5,312-6,361
    requests/s in nine runs of one evening); targets within a round ran seconds apart, so
    a ratio taken round by round drifts far less than a ratio of medians."""
    return statistics.median(
        mine.requests_per_second / theirs.requests_per_second
        for mine, theirs in zip(target.loads, base.loads, strict=True)
    )


def report(measured: list[Target], seconds: float, rounds: int) -> None:
    """Requests/s and latency depend on what else the machine runs; the server's CPU time per
    request much less so (it is what a request costs), hence both. `x floor` is `per_round`."""
    floor = measured[0]
    floor_p99 = floor.median("p99_ms")
    floor_cpu = statistics.median(floor.cpu_ms)
    print(f"small request, {CONNECTIONS} connections, median of {rounds} x {seconds:g} s (wrk):")
    print(f"  {SMALL}")
    print(f"  {'target':36} {'req/s':>7} {'x floor':>7} {'p50 ms':>7} {'p99 ms':>7}"
          f" {'p99/floor':>9} {'CPU ms/req':>10} {'floor/CPU':>9} {'RSS MB':>6}")  # fmt: skip
    for target in measured:
        rps, p99 = target.median("requests_per_second"), target.median("p99_ms")
        cpu = statistics.median(target.cpu_ms)
        print(
            f"  {target.name:36} {rps:7.0f} {per_round(target, floor):7.2f}"
            f" {target.median('p50_ms'):7.2f}"
            f" {p99:7.2f} {p99 / floor_p99:9.2f} {cpu:10.3f} {floor_cpu / cpu:9.2f}"
            f" {target.rss_mb:6.0f}"
        )
    for base in (STRICT_FLOOR, LAYERS):
        against = [t for t in measured if t.name == base]
        if against:
            shares = ", ".join(
                f"{t.name.removeprefix('marketgraph, ')} {per_round(t, against[0]):.2f}x"
                for t in measured
                if t.server == "marketgraph"
            )
            print(f"  against the {base}: {shares}")
    errors = {t.name: sum(load.socket_errors for load in t.loads) for t in measured}
    if any(errors.values()):
        print(f"  socket errors (wrk): {errors}")
    if apq_target() is None:
        print("  (no APQ target: gateway/persisted_queries.py is not there yet)")
