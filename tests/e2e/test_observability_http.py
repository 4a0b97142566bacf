"""Probes, `/metrics`, the observability routes and the response cache over a real server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from domain.access import Scope
from gateway.app import create_app
from gateway.settings import Settings
from storage import api_keys
from storage.bars_write import upsert_bars
from storage.features import RollupBackend
from tests.e2e.test_gateway_http import FETCH, aapl_days, stock_days
from tests.fakes.garbled_redis import garbled_redis
from tests.fakes.polygon_server import FakePolygon
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.live_server import serve_in_thread
from tests.support.logs import records_when_logged

NAMED = 'query Closes { bars(ticker: "AAPL", timeframe: D1, limit: 2) { time close } }'


def settings(db: Database, **values: Any) -> Settings:
    defaults: dict[str, Any] = {"database_url": db.url, "timescaledb": "off", "db_pool_min_size": 1}
    return Settings(_env_file=None, **(defaults | values))  # type: ignore[call-arg]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def obs_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    async with cloned_database(server, templates) as database:
        await upsert_bars(database.pool, "1d", aapl_days(), database.backend)
        yield database


@pytest.fixture
def served(obs_db: Database) -> Iterator[str]:
    with serve_in_thread(create_app(settings(obs_db, anonymous_reads=True)), lifespan="on") as url:
        yield url


async def key(db: Database, *scopes: Scope) -> str:
    _, raw = await api_keys.create_key(db.pool, "observer", scopes or (Scope.READ,))
    return raw


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, parsed by prometheus-client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_the_requests_sent(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:
        for _ in range(3):
            assert (await client.post("/graphql", json={"query": NAMED})).status_code == 200
        for _ in range(2):
            assert (await client.get("/api/v1/observability/metrics")).status_code == 200
        assert (await client.get("/graphql", params={"query": "{ me { name } }"})).status_code
        assert (await client.get("/nowhere")).status_code == 404
        page = await client.get("/metrics")
    assert page.headers["content-type"].startswith("text/plain")
    got = samples(page.text)
    assert got[("marketgraph_requests_total", (("endpoint", "POST /graphql:Closes"),
                                               ("status", "200")))] == 3  # fmt: skip
    assert got[("marketgraph_requests_total", (("endpoint", "GET /api/v1/observability/metrics"),
                                               ("status", "200")))] == 2  # fmt: skip
    assert got[("marketgraph_requests_total", (("endpoint", "GET unmatched"),
                                               ("status", "404")))] == 1  # fmt: skip
    assert got[("marketgraph_request_duration_seconds_count",
                (("endpoint", "POST /graphql:Closes"),))] == 3  # fmt: skip
    assert got[("marketgraph_cache_lookups_total", (("result", "miss"),))] == 1
    assert got[("marketgraph_cache_lookups_total", (("result", "hit"),))] == 2
    assert got[("marketgraph_db_pool_max_connections", ())] == 20
    assert ("marketgraph_upstream_breaker_state", ()) in got


async def test_graphql_errors_in_a_200_answer_are_counted_by_their_code(served: str) -> None:
    """A GraphQL error travels in a 200 answer: the figures count it by its code all the same,
    for plain POSTs as for GETs."""
    bad_ticker = '{ bars(ticker: "", timeframe: D1) { close } }'
    admin_only = "{ apiKeys { name } }"
    async with httpx.AsyncClient(base_url=served) as client:
        for query in (bad_ticker, bad_ticker, admin_only):
            answer = await client.post("/graphql", json={"query": query})
            assert answer.status_code == 200 and answer.json()["errors"]
        assert (await client.get("/graphql", params={"query": bad_ticker})).status_code == 200
        figures = (await client.get("/api/v1/observability/metrics")).json()
    assert figures["error_summary"] == {"BAD_USER_INPUT": 3, "UNAUTHENTICATED": 1}


@pytest.mark.parametrize("cache_ttl", [30, 0], ids=["cached", "uncached"])
async def test_operation_names_are_a_bounded_label_set(obs_db: Database, cache_ttl: int) -> None:
    """Named from the response cache's plan, or (cache off) from the operation executed."""
    app = create_app(
        settings(
            obs_db, anonymous_reads=True, metrics_max_operations=2, cache_ttl_seconds=cache_ttl
        )
    )
    with serve_in_thread(app, lifespan="on") as url:
        async with httpx.AsyncClient(base_url=url) as client:
            for name in ("One", "Two", "Three", "Four"):
                await client.post("/graphql", json={"query": f"query {name} {{ __typename }}"})
            await client.post("/graphql", json={"query": "{ __typename }"})
            text = (await client.get("/metrics")).text
    endpoints = {
        s.labels["endpoint"]
        for f in text_string_to_metric_families(text)
        if f.name == "marketgraph_requests"
        for s in f.samples
        if "graphql" in s.labels.get("endpoint", "")
    }
    assert endpoints == {
        "POST /graphql:One", "POST /graphql:Two", "POST /graphql:other",
        "POST /graphql:anonymous",
    }  # fmt: skip


async def test_probes(portable_db: Database, server: Server) -> None:
    app = create_app(settings(portable_db))
    name = portable_db.name
    with serve_in_thread(app, lifespan="on") as url:
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/livez")).json() == {"status": "alive"}
            assert (await client.get("/readyz")).json() == {"status": "ready", "database": "ok"}
            forget = "DELETE FROM schema_migrations WHERE filename = '0005_api_keys.sql'"
            await portable_db.pool.execute(forget)
            pending = await client.get("/readyz")
            assert pending.status_code == 503
            assert pending.json()["pending_migrations"] == ["0005_api_keys.sql"]
            admin = await server.admin()
            try:  # the database goes away: no new connections, the open ones cut
                await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    name,
                )
                assert (await client.get("/livez")).status_code == 200
                down = await client.get("/readyz")
                assert (down.status_code, down.json()["database"]) == (503, "unreachable")
                assert (await client.get("/health")).status_code == 503
            finally:
                await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
                await admin.close()


async def test_observability_routes_need_read_unless_reads_are_anonymous(
    obs_db: Database,
) -> None:
    reader = await key(obs_db, Scope.READ)
    with serve_in_thread(create_app(settings(obs_db)), lifespan="on") as url:
        async with httpx.AsyncClient(base_url=url) as client:
            refused = await client.get("/api/v1/performance/cache")
            assert (refused.status_code, refused.json()["code"]) == (401, "UNAUTHENTICATED")
            headers = {"X-API-Key": reader}
            for path in ("/api/v1/performance/cache", "/api/v1/performance/cache-stats"):
                body = (await client.get(path, headers=headers)).json()
                assert set(body["cache"]) >= {"size", "max_size", "hits", "misses",
                                              "hit_rate_pct", "default_ttl_seconds"}  # fmt: skip
            for limit, status in (("0", 400), ("1001", 400), ("x", 422)):
                bad = await client.get(f"/api/v1/observability/alerts?limit={limit}",
                                       headers=headers)  # fmt: skip
                assert (bad.status_code, bad.json()["code"]) == (status, "BAD_USER_INPUT")
            for limit in ("1", "1000"):
                ok = await client.get(f"/api/v1/observability/alerts?limit={limit}",
                                      headers=headers)  # fmt: skip
                assert ok.json()["count"] == 0
            summary = (await client.get("/api/v1/performance/summary", headers=headers)).json()
            assert set(summary) == {"timestamp", "cache", "performance", "bottlenecks",
                                    "recommendations"}  # fmt: skip
            assert summary["performance"]["window_hours"] == 24


async def test_get_answers_carry_validators_and_a_matching_etag_is_304(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:
        first = await client.get("/graphql", params={"query": NAMED})
        assert first.headers["cache-control"] == "private, max-age=300"
        again = await client.get(
            "/graphql", params={"query": NAMED}, headers={"If-None-Match": first.headers["etag"]}
        )
        assert (again.status_code, again.content) == (304, b"")
        assert again.headers["etag"] == first.headers["etag"]
        post = await client.post("/graphql", json={"query": NAMED})
        assert "etag" not in post.headers
        private = await client.get("/graphql", params={"query": "{ me { name } }"})
        assert "etag" not in private.headers


async def test_the_access_line_says_who_asked_what_and_whether_the_cache_answered(
    obs_db: Database, served: str, caplog: pytest.LogCaptureFixture
) -> None:
    reader = await key(obs_db, Scope.READ)
    caplog.set_level(logging.INFO, logger="marketgraph.access")
    async with httpx.AsyncClient(base_url=served, headers={"X-API-Key": reader}) as client:
        for _ in range(2):
            await client.post("/graphql", json={"query": NAMED.replace("limit: 2", "limit: 3")})
    logged = await records_when_logged(caplog, lambda r: r.name == "marketgraph.access", 2)
    lines = logged[-2:]
    key_id = (await api_keys.list_keys(obs_db.pool))[-1].id
    assert [(r.principal_id, r.endpoint, r.cache, r.upstream_calls) for r in lines] == [  # type: ignore[attr-defined]
        (key_id, "POST /graphql:Closes", "miss", 0),
        (key_id, "POST /graphql:Closes", "hit", 0),
    ]


async def test_bars_stored_by_fetch_on_miss_invalidate_cached_answers(
    obs_db: Database, fake_polygon: FakePolygon, caplog: pytest.LogCaptureFixture
) -> None:
    reader, fetcher = await key(obs_db, Scope.READ), await key(obs_db, Scope.FETCH)
    upstream = stock_days(fake_polygon, "GOOG", date(2024, 1, 2), date(2024, 1, 12))
    app = create_app(settings(obs_db, polygon_api_key=fake_polygon.api_key,
                              polygon_base_url=fake_polygon.url))  # fmt: skip
    caplog.set_level(logging.INFO, logger="marketgraph.access")

    async def bars(url: str, raw: str) -> list[Any]:
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": raw}) as client:
            body = (
                await client.post(
                    "/graphql", json={"query": FETCH, "variables": {"ticker": "GOOG"}}
                )
            ).json()
        return list(body["data"]["bars"])  # fmt: skip

    with serve_in_thread(app, lifespan="on") as url:
        assert await bars(url, reader) == []  # nothing stored; a reader may not fetch
        assert await bars(url, reader) == []  # ... and that answer is cached
        assert len(await bars(url, fetcher)) == len(upstream)  # fetched and stored
        assert len(await bars(url, reader)) == len(upstream)  # the cached [] was dropped
    fetched = [r for r in caplog.records if getattr(r, "upstream_calls", 0)]
    assert len(fetched) == 1 and fetched[0].cache == "miss"  # type: ignore[attr-defined]


async def test_a_zero_ttl_turns_the_cache_off(obs_db: Database) -> None:
    app = create_app(settings(obs_db, anonymous_reads=True, cache_ttl_seconds=0))
    with serve_in_thread(app, lifespan="on") as url:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(2):
                answer = await client.get("/graphql", params={"query": NAMED})
                assert "etag" not in answer.headers
            cache = (await client.get("/api/v1/performance/cache")).json()["cache"]
    assert (cache["hits"], cache["misses"], cache["max_size"]) == (0, 0, 0)


async def test_a_redis_that_answers_garbage_costs_no_probe_and_no_request_its_answer(
    obs_db: Database,
) -> None:
    """Redis only shares state: readiness reports it unreachable, requests fall back."""
    reader = await key(obs_db, Scope.READ)
    with garbled_redis() as redis_url:
        app = create_app(settings(obs_db, redis_url=redis_url))
        with serve_in_thread(app, lifespan="on") as url:
            async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": reader}) as client:
                ready = await client.get("/readyz")
                answers = [await client.post("/graphql", json={"query": NAMED}) for _ in range(2)]
    assert (ready.status_code, ready.json()) == (
        200, {"status": "ready", "database": "ok", "redis": "unreachable"}
    )  # fmt: skip
    assert [a.status_code for a in answers] == [200, 200]
    assert [len(a.json()["data"]["bars"]) for a in answers] == [2, 2]
