"""The small-request bench's reference servers, each run by `python bench/small_apps.py NAME PORT`.

- `floor`: a bare Starlette route that fetches the same row with asyncpg and dumps it with
  orjson in the same `{"data": {"bars": [...]}}` shape, the issue's floor;
- `floor-pool`: the same route on marketgraph's pool, which spares the reset round trip
  asyncpg's default pool makes on each release: the least any server can do;
- `stock`: stock Strawberry on a minimal schema (one `bars` field reading the same row);
- `layers`: marketgraph's own app (its middleware, routing, lifespan, logging and uvicorn
  protocol) with `POST /graphql` answered by the floor's handler: what marketgraph costs
  before any GraphQL runs, so the most any GraphQL layer inside it can reach (on marketgraph's
  pool, as `floor-pool`);
- `bulk`: `GET /bars`, bench/bulk.py's 10,000 bars fetched with asyncpg and dumped with orjson,
  under the garbage-collector settings marketgraph runs with (gateway/app.py: process-wide,
  not work of the app's own; with Python's defaults the floor's 10,000 dicts set off young
  collections that took it from 19-20 ms to 32-34 ms a request);
- `stock-marketgraph`: marketgraph's own app with its GraphQL route on stock Strawberry
  execution (`build_schema(fast_path=False)`): what its fast path is compared with;
- `symbols`: `GET /symbols?n=N`, the first N of bench/many_symbols.py's symbols with their
  latest hourly bar and their day's summary: marketgraph's two statements, run as its loaders
  run them, on a bare route.

All read `BENCH_DATABASE_URL` and run on uvicorn (httptools, one worker) like marketgraph.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import gc
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

# this folder holds a graphql.py: it must not shadow the graphql package
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import asyncpg
import orjson
import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from strawberry.asgi import GraphQL
from strawberry.types import Info

from bench.bulk import BARS, FLOOR_PATH, FLOOR_SQL
from bench.many_symbols import PLAIN_PATH, TICKERS, WINDOW_BOUNDS
from domain.records import WindowSummary
from domain.timeframes import Timeframe as StoredTimeframe
from gateway.app import YOUNG_COLLECTION_THRESHOLD, serve_app, young_collections_every
from gateway.graphiql import find_assets_dir
from gateway.graphql_view import make_graphql_app
from gateway.http_protocol import HeadDeadlineHttpToolsProtocol
from schema import build_schema
from storage.bars_read import latest_bars, window_summary
from storage.features import RollupBackend, detect
from storage.pool import create_pool

ROW_SQL = (
    "SELECT time, open, high, low, close, volume FROM bars"
    " WHERE symbol = $1 AND timeframe = '1m' ORDER BY time DESC LIMIT $2"
)


def _default_pool(url: str) -> Awaitable[asyncpg.Pool]:
    """asyncpg's own pool, as a bare route opens it."""
    return asyncpg.create_pool(url, max_size=10)


@contextlib.asynccontextmanager
async def _pool(
    app: Starlette, open_pool: Callable[[str], Awaitable[asyncpg.Pool]] = _default_pool
) -> AsyncIterator[None]:
    """`app.state.pool` for the app's life, opened by `open_pool`."""
    app.state.pool = await open_pool(os.environ["BENCH_DATABASE_URL"])
    try:
        yield
    finally:
        await app.state.pool.close()


def _marketgraphs_pool(app: Starlette) -> contextlib.AbstractAsyncContextManager[None]:
    """marketgraph's own pool as `marketgraph serve` opens it (storage/pool.py, its default
    sizes), which makes no reset round trip when a connection goes back, as asyncpg's default
    pool does (`_pool`): the database then costs a route what it costs marketgraph."""
    return _pool(app, create_pool)


async def _floor(request: Request) -> Response:
    body = await request.json()
    ticker = body["variables"]["ticker"] if "variables" in body else "AAPL"
    rows = await request.app.state.pool.fetch(ROW_SQL, ticker, 1)
    payload = {"data": {"bars": [dict(r) for r in rows]}}
    return Response(orjson.dumps(payload, option=orjson.OPT_UTC_Z), media_type="application/json")


def floor_app() -> Starlette:
    return Starlette(routes=[Route("/graphql", _floor, methods=["POST"])], lifespan=_pool)


def floor_pool_app() -> Starlette:
    """The floor's route on marketgraph's pool: the stricter floor (bench/small.py)."""
    return Starlette(
        routes=[Route("/graphql", _floor, methods=["POST"])], lifespan=_marketgraphs_pool
    )


@strawberry.enum
class Timeframe(enum.Enum):
    M1 = "1m"


@strawberry.enum
class Order(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.type
class Bar:
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


@strawberry.type
class Query:
    @strawberry.field
    async def bars(
        self, info: Info, ticker: str, timeframe: Timeframe, order: Order, limit: int
    ) -> list[Bar]:
        pool = info.context["request"].app.state.pool
        return [Bar(**r) for r in await pool.fetch(ROW_SQL, ticker, limit)]


def stock_app() -> Starlette:
    graphql = GraphQL(strawberry.Schema(query=Query))
    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])], lifespan=_pool)


async def _bulk(request: Request) -> Response:
    rows = await request.app.state.pool.fetch(FLOOR_SQL, BARS)
    body = orjson.dumps([dict(r) for r in rows], option=orjson.OPT_UTC_Z)
    return Response(body, media_type="application/json")


@contextlib.asynccontextmanager
async def _pool_and_collector(app: Starlette) -> AsyncIterator[None]:
    async with _pool(app):
        gc.freeze()  # as marketgraph's lifespan does once it has started
        young_collections_every(YOUNG_COLLECTION_THRESHOLD)
        yield


def bulk_app() -> Starlette:
    return Starlette(routes=[Route(FLOOR_PATH, _bulk)], lifespan=_pool_and_collector)


def stock_marketgraph_app() -> Starlette:
    """marketgraph as `marketgraph serve` builds it, its GraphQL route on stock execution."""
    app = serve_app()
    (route,) = [r for r in app.router.routes if isinstance(r, Route) and r.path == "/graphql"]
    route.app = make_graphql_app(build_schema(fast_path=False), find_assets_dir())
    return app


def layers_app() -> Starlette:
    """marketgraph as `marketgraph serve` builds it, its GraphQL route swapped for the floor's
    handler (reading through a pool of its own, opened as marketgraph's is)."""
    app = serve_app()
    (route,) = [r for r in app.router.routes if isinstance(r, Route) and r.path == "/graphql"]
    route.app = request_response(_floor)
    started = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with started(app), _marketgraphs_pool(app):
            yield

    app.router.lifespan_context = lifespan
    return app


async def _symbols(request: Request) -> Response:
    some = list(TICKERS[: int(request.query_params["n"])])
    pool, tails = request.app.state.pool, request.app.state.rollup_tails
    latest, summaries = await asyncio.gather(
        latest_bars(pool, some, StoredTimeframe.H1, rollup_tails=tails),
        window_summary(pool, some, *WINDOW_BOUNDS, rollup_tails=tails),
    )
    body = [
        {"ticker": t, "latestBar": _bar(latest.get(t)), "aggregate": _summary(summaries.get(t))}
        for t in some
    ]
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


def _bar(record: asyncpg.Record | None) -> dict[str, Any] | None:
    return None if record is None else {"time": record["time"], "close": record["close"]}


def _summary(summary: WindowSummary | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    return {"open": summary.open, "close": summary.close, "change": summary.change,
            "changePercent": summary.change_percent, "volume": summary.volume}  # fmt: skip


@contextlib.asynccontextmanager
async def _pool_and_backend(app: Starlette) -> AsyncIterator[None]:
    """marketgraph's own pool, so that the route's two statements cost the database what they
    cost marketgraph, at 1 symbol as at 50."""
    async with _marketgraphs_pool(app):
        # the statements marketgraph's loaders choose: portable rollups are read without tail
        features = await detect(app.state.pool)
        app.state.rollup_tails = features.rollup_backend is not RollupBackend.PORTABLE
        yield


def symbols_app() -> Starlette:
    return Starlette(routes=[Route(PLAIN_PATH, _symbols)], lifespan=_pool_and_backend)


APPS = {
    "floor": floor_app,
    "floor-pool": floor_pool_app,
    "stock": stock_app,
    "layers": layers_app,
    "symbols": symbols_app,
    "bulk": bulk_app,
    "stock-marketgraph": stock_marketgraph_app,
}

if __name__ == "__main__":
    name, port = sys.argv[1], int(sys.argv[2])
    if name in ("layers", "stock-marketgraph"):  # as `marketgraph serve` serves (gateway/cli.py)
        options: dict[str, Any] = {"log_config": None, "access_log": False,
                                   "proxy_headers": False,  # FORWARDED_ALLOW_IPS is empty
                                   "http": HeadDeadlineHttpToolsProtocol}  # fmt: skip
    else:
        options = {"log_level": "warning", "http": "httptools"}
    uvicorn.run(APPS[name](), host="127.0.0.1", port=port, **options)
