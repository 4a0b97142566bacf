"""Persisted queries: the small request (1 bar) sent as Apollo's APQ hash vs as full text,
against the floor, at 32 connections, side by side on one real server in one run.

(a) floor: the same bar fetched with asyncpg and dumped with orjson by a plain Starlette route;
(b) the 1-bar query as text (POST), response cache off;
(c) the same query by its APQ hash only (POST), response cache off;
(d) the same by hash over GET (the cacheable URL), response cache off;
(e) (d) with the response cache on (every request after the first a hit).
Prints requests/s and p50 of each and the ratio to the floor (issue 11's target for APQ:
>= 0.7x). The client shares the process with the servers: compare within a run.

`apq_request(query)` gives the (method, path, body) of the APQ cases for other benches
(bench/graphql.py's small-request case).

Run: `.venv/bin/python bench/apq.py [--database-url URL] [--requests N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.cache import FLOOR_SQL, QUERY, hammer
from bench.graphql import load
from gateway.app import create_app
from gateway.persisted_queries import sha256_hex
from gateway.settings import Settings
from storage.embedded import EmbeddedPostgres
from storage.migrations import migrate
from tests.support.live_server import serve_in_thread

Request_ = tuple[str, str, dict[str, Any] | None]


def apq_request(query: str, *, method: str = "POST", with_query: bool = False) -> Request_:
    """(method, path, JSON body) of `query` sent by its APQ hash, as Apollo clients do
    (`with_query`: the registering request, hash and document)."""
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}}
    if method == "GET":
        params = {"extensions": orjson.dumps(extensions).decode()}
        if with_query:
            params["query"] = query
        return "GET", "/graphql?" + urlencode(params), None
    body: dict[str, Any] = {"extensions": extensions}
    if with_query:
        body["query"] = query
    return "POST", "/graphql", body


def _app(url: str, ttl: float) -> Starlette:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, anonymous_reads=True, cache_ttl_seconds=ttl,
        anonymous_rate_limit_per_minute=0, log_level="warning",
    )  # fmt: skip
    app = create_app(settings)

    async def floor(request: Request) -> Response:
        rows = await request.app.state.database.pool.fetch(FLOOR_SQL)
        body = orjson.dumps([dict(r) for r in rows], option=orjson.OPT_UTC_Z)
        return Response(body, media_type="application/json")

    app.router.routes.insert(0, Route("/floor", floor))
    return app


async def _register(origin: str) -> None:
    """Register the document (as an APQ client does after PersistedQueryNotFound), and check
    the hash alone answers with data."""
    async with httpx.AsyncClient(base_url=origin) as client:
        for with_query in (True, False):
            method, path, body = apq_request(QUERY, with_query=with_query)
            answer = (await client.request(method, path, json=body)).json()
            assert answer.get("data", {}).get("bars"), answer


async def _hammer(
    label: str, origin: str, method: str, path: str, body: object, total: int
) -> tuple[float, float]:
    """bench/cache.py's hammer, tried again when the server closed a keep-alive connection
    just as it was reused (uvicorn's 5 s idle limit, reached on a loaded machine)."""
    for attempt in range(3):
        try:
            return await hammer(origin, method, path, body, total)
        except httpx.ReadError:
            if attempt == 2:
                raise
        except httpx.HTTPError as exc:
            raise RuntimeError(f"{label}: {exc!r}") from exc
    raise AssertionError("unreachable")


async def run(admin_url: str, total: int) -> None:
    name = f"mg_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    results: dict[str, tuple[float, float]] = {}
    try:
        await migrate(url, use_timescaledb=False)
        await load(url)
        with (
            serve_in_thread(_app(url, 0), lifespan="on") as uncached,
            serve_in_thread(_app(url, 300), lifespan="on") as cached,
        ):
            await _register(uncached)
            await _register(cached)
            cases: dict[str, tuple[str, Request_]] = {
                "floor": (uncached, ("GET", "/floor", None)),
                "text": (uncached, ("POST", "/graphql", {"query": QUERY})),
                "apq POST": (uncached, apq_request(QUERY)),
                "apq GET": (uncached, apq_request(QUERY, method="GET")),
                "apq GET+cache": (cached, apq_request(QUERY, method="GET")),
            }
            for _ in range(2):  # two rounds, alternating, to even out machine noise
                for label, (origin, (method, path, body)) in cases.items():
                    rps, p50 = await _hammer(label, origin, method, path, body, total)
                    if label not in results or rps > results[label][0]:
                        results[label] = (rps, p50)
    finally:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    floor_rps = results["floor"][0]
    print(f"1-bar query, 32 connections, {total} requests each (best of 2 rounds):")
    for label, (rps, p50) in results.items():
        print(f"  {label:14} {rps:7.0f} r/s   p50 {p50:6.2f} ms   vs floor {rps / floor_rps:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--requests", type=int, default=3200)
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(run(args.database_url, args.requests))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", temporary=True)
        try:
            asyncio.run(run(server.admin_url, args.requests))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
