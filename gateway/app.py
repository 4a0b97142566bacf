"""`create_app(settings)`: the one place the gateway is assembled.

Long-lived objects (database pool, Polygon client, read-through store, authenticator, usage
recorder) are made in the lifespan and kept on `app.state`; nothing lives at module level, so
tests can build as many independent apps as they like.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from importlib.metadata import version

import asyncpg
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route, WebSocketRoute

from coordination.circuit import SharedCircuit
from coordination.link import RedisLink, running_link
from coordination.responses import SharedResponses
from coordination.windows import SharedWindows
from gateway.access_stack import access_middleware
from gateway.app_state import AttributeState
from gateway.authentication import Authenticator
from gateway.body_limit import BodyLimitMiddleware
from gateway.compression import GzipWhenAccepted
from gateway.cors import CorsMiddleware
from gateway.dashboard import dashboard_routes
from gateway.database import open_database, read_replicas
from gateway.graphiql import VENDOR_ASSETS, find_assets_dir, graphiql_asset_routes
from gateway.graphql_view import make_graphql_app
from gateway.key_cache import KeyCache
from gateway.live import running_live
from gateway.logs import TraceMiddleware, configure_logging
from gateway.observability import assembly as observability
from gateway.observability.metrics import Metrics
from gateway.observability.middleware import record_request
from gateway.persisted_manifest import ManifestError, load_manifest
from gateway.persisted_queries import PersistedQueries
from gateway.policies import policy_runner
from gateway.rate_limit import KeyRateLimiter
from gateway.rest import make_rest_app
from gateway.rest.docs import DOCS_ASSETS
from gateway.rest.errors import on_http_error
from gateway.rest.lane import RestLane
from gateway.route_lane import RouteLane, SideLane
from gateway.scheduler import backfill_scheduler
from gateway.settings import Settings
from gateway.static_route import static_files
from gateway.upstream_pacing import SharedPacer
from resolvers.context import Services
from resolvers.fetch_budget import FetchLimits
from resolvers.read_through import ReadThrough
from schema import build_schema
from storage.usage import UsageRecorder
from upstream.polygon import Observer, PolygonClient

log = logging.getLogger(__name__)
PACKAGE_VERSION = version("marketgraph")
PUBLIC_PATHS = ("/health", *observability.PROBE_PATHS)
BROWSER_ASSETS = VENDOR_ASSETS + DOCS_ASSETS  # GraphiQL, Swagger UI, ReDoc
YOUNG_COLLECTION_THRESHOLD = 7000
"""Allocations between young-generation collections (CPython's default: 700). Requests in
flight together hold a few thousand objects, so at 700 the collector ran every ~5 requests
and moved them all to the older generations, whose collections followed: about a tenth of a
small request's CPU (1-bar queries, 32 connections). At 7,000: 0.06 -> 0.005 ms a request."""


def young_collections_every(allocations: int) -> None:
    """Set the young generation's threshold, keeping the older generations' own."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(allocations, middle, oldest)


def polygon_client(
    settings: Settings,
    observer: Observer | None = None,
    pool: asyncpg.Pool | None = None,
    link: RedisLink | None = None,
) -> PolygonClient | None:
    """The Polygon client; with a `pool`, its request budget is shared through the database,
    with a Redis `link` its open circuit too."""
    if not settings.polygon_api_key:
        log.warning("POLYGON_API_KEY is not set: fetch-on-miss is off, answers come from the store")
        return None
    return PolygonClient(
        settings.polygon_api_key,
        base_url=settings.polygon_base_url,
        requests_per_minute=settings.polygon_requests_per_minute,
        observer=observer,
        pacer=(
            SharedPacer(pool, settings.polygon_requests_per_minute)
            if pool is not None and settings.polygon_requests_per_minute > 0
            else None
        ),
        shared_circuit=SharedCircuit(link) if link is not None else None,
    )


@contextlib.asynccontextmanager
async def redis_link(settings: Settings, metrics: Metrics) -> AsyncIterator[RedisLink | None]:
    """The Redis link with its probe (None without REDIS_URL); `marketgraph_redis_up` follows it."""
    if not settings.redis_url:
        yield None
        return
    link = RedisLink(
        settings.redis_url,
        key_prefix=settings.redis_key_prefix,
        timeout_seconds=settings.redis_timeout_seconds,
        on_change=lambda up: metrics.redis_up.set(1 if up else 0),
    )
    metrics.redis_up.set(1)
    async with running_link(link):
        yield link


def shared_responses(settings: Settings, link: RedisLink | None) -> SharedResponses | None:
    """The response cache's entries in Redis (None without Redis or with the cache off)."""
    if link is None or settings.cache_ttl_seconds <= 0:
        return None
    return SharedResponses(
        link, settings.cache_ttl_seconds, settings.cache_max_entries, settings.cache_max_entry_bytes
    )


def fetch_limits(settings: Settings) -> FetchLimits:
    return FetchLimits(
        max_symbols=settings.fetch_max_symbols,
        max_bars_per_symbol=settings.fetch_max_bars_per_symbol,
        max_upstream_calls=settings.fetch_max_upstream_calls,
    )


def persisted_queries(settings: Settings) -> PersistedQueries:
    """The APQ store and the allow-list; a manifest that cannot be read stops start-up, its
    error naming the setting (the manifest's own errors name the file, as the
    `persisted-queries` commands take it as an argument)."""
    path = settings.persisted_queries_file
    try:
        manifest = load_manifest(path) if path else None
    except ManifestError as exc:
        raise ManifestError(f"PERSISTED_QUERIES_FILE: {exc}") from exc
    return PersistedQueries(
        settings.persisted_queries_max_entries, manifest, only=settings.persisted_queries_only
    )


def _methods(routes: list[BaseRoute]) -> list[str]:
    """Every method some route accepts: CORS allows those and nothing else."""
    return sorted({m for r in routes if isinstance(r, Route) for m in r.methods or ()})


def _middleware(
    settings: Settings, routes: list[BaseRoute], busiest: Route, side: SideLane
) -> list[Middleware]:
    """Outermost first: trace ids, the access line and the metrics cover everything (401/413/429
    too), and so do CORS headers; innermost, the `busiest` route skips Starlette's router. Few
    layers: each costs every request a frame and often a `send` wrapper."""
    origins = settings.cors_origins
    return [
        Middleware(TraceMiddleware, record=record_request),  # access line, metrics, window
        Middleware(
            CorsMiddleware,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=_methods(routes),
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Trace-Id"],
            expose_headers=["X-Trace-Id", "Retry-After", "RateLimit", "RateLimit-Policy"],
        ),
        Middleware(
            BodyLimitMiddleware,
            max_bytes=settings.max_request_body_bytes,
            read_timeout=settings.body_timeout_seconds,
        ),
        # the health probes, and files: a page load's assets must not spend an address's rate
        *access_middleware(exempt_paths=(*PUBLIC_PATHS, *static_files(routes))),
        Middleware(GzipWhenAccepted, minimum_size=1024, compresslevel=1),
        Middleware(RouteLane, route=busiest, side=side),
    ]


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app; the database is opened when the app starts, not here."""
    settings = settings or Settings()
    assets_dir = find_assets_dir(settings.graphiql_assets_dir, assets=BROWSER_ASSETS)
    graphql = make_graphql_app(
        build_schema(
            introspection=settings.introspection, plans=settings.operation_plan_cache_size
        ),
        assets_dir,
        allowed_origins=settings.cors_origins,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Each resource is registered for closing as soon as it is open, so whatever fails at
        # start-up closes what came before it and the original error propagates.
        async with contextlib.AsyncExitStack() as opened:
            database = await open_database(settings)
            opened.push_async_callback(database.close)
            app.state.replicas = replicas = await opened.enter_async_context(
                read_replicas(settings, database.pool)
            )
            link = await opened.enter_async_context(redis_link(settings, app.state.metrics))
            app.state.redis_link = link
            app.state.response_cache.share(shared_responses(settings, link))
            client = polygon_client(settings, app.state.upstream_calls, database.pool, link)
            if client is not None:
                opened.push_async_callback(client.aclose)
            read_through = ReadThrough(
                database.pool,
                database.backend,
                client,
                limits=fetch_limits(settings),
                on_stored=app.state.response_cache.invalidate,
            )
            opened.push_async_callback(read_through.aclose)
            recorder = UsageRecorder(
                database.pool, audit_retention_days=settings.audit_retention_days
            )
            app.state.database = database
            windows = SharedWindows(link) if link is not None else None
            app.state.authenticator = Authenticator(
                database.pool,
                cache=KeyCache(
                    settings.key_cache_ttl_seconds,
                    negative_ttl_seconds=settings.key_negative_cache_seconds,
                ),
                failed_attempts_per_minute=settings.failed_auth_per_minute,
                windows=windows,
            )
            app.state.rate_limiter = KeyRateLimiter(
                settings.default_rate_limit_per_minute,
                anonymous_per_minute=settings.anonymous_rate_limit_per_minute,
                windows=windows,
            )
            app.state.usage_recorder = recorder
            live, app.state.live_listener = await opened.enter_async_context(
                running_live(settings, database, app.state.response_cache)
            )
            app.state.live = live
            app.state.services = Services(
                pool=database.pool,
                backend=database.backend,
                read_through=read_through,
                max_bars_per_response=settings.max_bars_per_response,
                anonymous_reads=settings.reads_without_key(),
                forget_key=app.state.authenticator.forget,
                live=live,
                replicas=replicas,
                on_replica_fallback=app.state.metrics.replica_fallbacks.inc,
                bar_chunks=database.chunk_interval,
            )
            await opened.enter_async_context(recorder.running(settings.usage_flush_seconds))
            app.state.scheduler = backfill_scheduler(settings, app.state.services)
            await opened.enter_async_context(app.state.scheduler.running_while())
            app.state.policies = policy_runner(settings, database.pool, database.backend)
            await opened.enter_async_context(app.state.policies.running_while())
            await opened.enter_async_context(
                observability.running(app, settings, database.pool, client)
            )
            # start-up objects are long-lived: keep the collector from rescanning them on
            # every bulk request (it cost ~18 ms per 10,000-bar answer)
            gc.freeze()
            young_collections_every(YOUNG_COLLECTION_THRESHOLD)
            yield

    rest = make_rest_app(assets_dir, version=PACKAGE_VERSION)
    graphql_route = Route("/graphql", graphql, methods=["GET", "POST"])
    routes: list[BaseRoute] = [
        graphql_route,
        WebSocketRoute("/graphql", graphql),
        *graphiql_asset_routes(assets_dir, assets=BROWSER_ASSETS),
        *observability.routes(),
        *dashboard_routes(settings.dashboard_dir, settings.graphiql_assets_dir),
    ]
    # CORS allows what any route accepts, the REST routes' PUT/DELETE included
    middleware = _middleware(settings, [*routes, *rest.routes], graphql_route, RestLane())
    # a wrong method on /graphql or /dashboard: a JSON 405 with `Allow`, as on the REST routes
    errors = {HTTPException: on_http_error}
    app = Starlette(
        routes=routes, middleware=middleware, lifespan=lifespan, exception_handlers=errors
    )
    app.state = AttributeState()  # read on every request: plain attributes, not __getattr__
    app.state.settings = settings
    app.state.persisted_queries = persisted_queries(settings)
    # Every other path: /, /health, /api/v1/*, /openapi.json, /docs, /redoc, and JSON 404s
    app.router.default = rest
    rest.state = app.state  # REST handlers use what the lifespan builds
    observability.install(app, settings)
    return app


def serve_app() -> Starlette:
    """The factory `marketgraph serve` gives uvicorn: each worker process logs JSON lines."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
