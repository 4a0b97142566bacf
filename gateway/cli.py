"""The `marketgraph` command: serve, migrate, demo (and backfill, keys, healthcheck).

Every subcommand finds its database the way the server does: DATABASE_URL, or the embedded
PostgreSQL under the user data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError
from pydantic_settings import SettingsError

from gateway import cli_backfill, cli_healthcheck, cli_keys, cli_persisted
from gateway.app import create_app
from gateway.cli_summary import program_name, startup_summary
from gateway.database import open_database, resolve_database_url
from gateway.http_protocol import HeadDeadlineHttpToolsProtocol
from gateway.logs import configure_logging
from gateway.misconfigured import Misconfigured
from gateway.observability.metrics import MULTIPROC_ENV
from gateway.settings import Settings, invalid_settings
from gateway.worker_supervisor import run_workers
from storage.demo import load_demo
from storage.migrations import migrate
from storage.opening import CannotOpenDatabase
from storage.pool import connect

WORKER_HEALTHCHECK_SECONDS = 60
APP = "gateway.app:serve_app"


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # what would stop every worker is said once, in one line, before binding: a setting naming
    # files that are not there (the app is built here once, 20 ms, its warnings left to the
    # build that serves), a database that cannot be opened
    logging.disable(logging.ERROR)
    try:
        create_app(settings)
    finally:
        logging.disable(logging.NOTSET)
    if settings.database_url:
        asyncio.run(_can_open(settings.database_url))
    workers = args.workers or settings.workers
    with shared_metrics_dir(workers):
        _run_uvicorn(args, settings, workers)
    return 0


async def _can_open(url: str) -> None:
    """Raise CannotOpenDatabase, saying why, unless a connection to `url` opens."""
    conn = await connect(url)
    await conn.close()


@contextlib.contextmanager
def shared_metrics_dir(workers: int) -> Iterator[None]:
    """Give several workers one PROMETHEUS_MULTIPROC_DIR (set before they start): a fresh
    temporary one, or the operator's, emptied of a previous run's files."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield
        return
    if workers < 2:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="marketgraph-metrics-") as directory:
        os.environ[MULTIPROC_ENV] = directory
        try:
            yield
        finally:
            os.environ.pop(MULTIPROC_ENV, None)


def _run_uvicorn(args: argparse.Namespace, settings: Settings, workers: int) -> None:
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    # Each worker builds its own Settings from the environment: it must see the address
    # actually bound, since whether reads need a key depends on it (ANONYMOUS_READS=auto).
    os.environ["HOST"] = host
    bound = settings.model_copy(update={"host": host, "port": port})
    print(startup_summary(bound, program_name()), flush=True)
    options: dict[str, Any] = dict(
        factory=True,
        host=host,
        port=port,
        log_config=None,
        access_log=False,  # TraceMiddleware writes the one access line per request
        server_header=False,  # no `server: uvicorn`: which software answers is nobody's business
        # X-Forwarded-* only from the proxies configured (uvicorn would trust 127.0.0.1)
        proxy_headers=bool(settings.forwarded_allow_ips.strip()),
        forwarded_allow_ips=settings.forwarded_allow_ips.strip() or None,
        http=HeadDeadlineHttpToolsProtocol,  # a slow request head is cut off
        timeout_keep_alive=settings.header_timeout_seconds,
        limit_concurrency=settings.max_concurrency or None,
        # a worker has this long to start (imports, migrations) and to answer the supervisor's
        # pings: with uvicorn's 5 s a loaded machine killed and restarted workers forever
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    if workers > 1:  # supervised as uvicorn does, but a worker's exit ends a pending ping
        run_workers(uvicorn.Config(APP, workers=workers, **options))
    else:
        uvicorn.run(APP, **options)


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    url, embedded = resolve_database_url(settings)
    try:
        report = asyncio.run(migrate(url, use_timescaledb=settings.timescaledb == "auto"))
    finally:
        if embedded is not None:
            embedded.stop()
    applied = ", ".join(report.applied) or "nothing (already up to date)"
    print(f"applied: {applied}")
    print(f"rollup backend: {report.rollup_backend.value}")
    print(f"timescaledb: {report.features.license or 'absent'}")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> str:
        database = await open_database(settings)
        try:
            report = await load_demo(database.pool, database.backend)
        finally:
            await database.close()
        return (
            f"demo data stored: {report.symbols} symbols, {report.daily_bars} daily bars"
            f" (2023-01-02 to 2024-12-31), {report.minute_bars} minute bars"
            " (2024-12-23 to 2024-12-31)"
        )

    print(asyncio.run(run()))
    print(f"next: `{program_name()} serve`, then open GraphiQL and the dashboard it lists")
    return 0


def _migrated_database_url() -> str:
    """The database URL, schema brought up to date (the embedded server stops at exit)."""
    settings = Settings()
    url, _embedded = resolve_database_url(settings)
    asyncio.run(migrate(url, use_timescaledb=settings.timescaledb == "auto"))
    return url


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketgraph", description="GraphQL gateway over a store of OHLCV market data."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (GraphiQL at /graphql)")
    serve.add_argument("--host", help="address to bind (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: WORKERS or 1)")
    serve.set_defaults(handler=_serve)
    sub.add_parser("migrate", help="create or update the database schema").set_defaults(
        handler=_migrate
    )
    sub.add_parser(
        "demo", help="store deterministic demo bars (no Polygon key needed)"
    ).set_defaults(handler=_demo)
    cli_keys.register(sub, _migrated_database_url)
    cli_backfill.register(sub)
    cli_healthcheck.register(sub)
    cli_persisted.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `marketgraph` console script. A setting that is not valid or names
    files that are not there (exit 2), or a database that cannot be opened (exit 1), is said
    in a line on stderr, not a traceback."""
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        for line in invalid_settings(exc):
            print(f"error: {line}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, settings))
    except CannotOpenDatabase as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Misconfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
