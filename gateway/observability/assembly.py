"""How the app gets its observability: objects on `app.state`, routes, the lifespan part."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from gateway.observability import stats
from gateway.observability.alert_email import EmailAlerts
from gateway.observability.alert_rules import Rules, Watched, checking
from gateway.observability.alerts import AlertCenter, Handler, log_alert
from gateway.observability.facts import OperationNames
from gateway.observability.metrics import Metrics, mark_process_dead, metrics_endpoint
from gateway.observability.upstream_calls import UpstreamCalls
from gateway.observability.window import RequestWindow
from gateway.probes import livez, readyz
from gateway.response_cache import ResponseCache
from gateway.settings import Settings
from upstream.polygon import PolygonClient

PROBE_PATHS = ("/livez", "/readyz", "/metrics")
PING_SECONDS = 2.0


def install(app: Starlette, settings: Settings) -> None:
    """Per-app metrics, window, cache and alert centre on `app.state`."""
    state = app.state
    state.metrics = metrics = Metrics()
    state.request_window = RequestWindow()
    state.operation_names = OperationNames(settings.metrics_max_operations)
    state.thresholds = stats.Thresholds(settings.alert_error_rate_pct, settings.alert_p95_ms)
    state.upstream_calls = UpstreamCalls(metrics)
    state.response_cache = ResponseCache(
        settings.cache_ttl_seconds,
        settings.cache_max_entries,
        on_lookup=lambda result: metrics.cache_lookups.labels(result).inc(),
        on_evict=metrics.cache_evictions.inc,
    )
    state.alerts = AlertCenter(
        _handlers(settings),
        dedupe_seconds=settings.alert_dedupe_seconds,
        max_per_hour=settings.alert_max_per_hour,
    )


def _handlers(settings: Settings) -> list[Handler]:
    handlers: list[Handler] = [log_alert]
    if settings.smtp_host and settings.alert_email_to:
        handlers.append(
            EmailAlerts(
                settings.smtp_host,
                settings.smtp_port,
                settings.alert_email_from,
                settings.alert_email_to,
                username=settings.smtp_username,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
            )
        )
    return handlers


def routes() -> list[BaseRoute]:
    return [
        Route("/livez", livez, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]


@contextlib.asynccontextmanager
async def running(
    app: Starlette, settings: Settings, pool: asyncpg.Pool, client: PolygonClient | None
) -> AsyncIterator[None]:
    """While the app runs: gauges refreshed on demand, alert checks in the background."""
    state = app.state
    metrics: Metrics = state.metrics

    def breaker_state() -> str | None:
        return None if client is None else client.breaker.state.value

    async def refresh_gauges() -> None:
        metrics.set_pool(pool.get_size(), pool.get_idle_size(), pool.get_max_size())
        metrics.set_breaker(breaker_state() or "closed")
        metrics.cache_entries.set(len(state.response_cache))
        shared = await state.response_cache.shared_entries()
        if shared is not None:  # kept at its last value while Redis cannot say
            metrics.cache_shared_entries.set(shared)
        if getattr(state, "replicas", None) is not None:
            metrics.set_replicas(state.replicas)

    async def database_ok() -> bool:
        try:
            await asyncio.wait_for(pool.fetchval("SELECT 1"), PING_SECONDS)
        except Exception:  # any failure to answer counts as unreachable
            return False
        return True

    async def check_and_refresh() -> bool:
        await refresh_gauges()
        return await database_ok()

    state.refresh_gauges = refresh_gauges
    rules = Rules(state.thresholds, settings.alert_upstream_failures)
    watched = Watched(state.request_window, state.upstream_calls, check_and_refresh, breaker_state)
    try:
        async with checking(rules, watched, state.alerts, settings.alert_interval_seconds):
            yield
    finally:
        mark_process_dead()
