"""`marketgraph keys ...`: create, list, revoke, restore and delete API keys from a shell.

The raw key is printed once, by `create`; nothing can show it again. Registered into the main
parser by gateway/cli.py, which supplies how to find the database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from domain.access import Scope
from domain.errors import ServiceError
from domain.records import ApiKeyRecord
from resolvers.keys import issue_key
from storage import api_keys
from storage.opening import CannotOpenDatabase
from storage.pool import connect

Handler = Callable[..., int]


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    resolve_database_url: Callable[[], str],
) -> None:
    """Add the `keys` command group; each handler is called as `handler(args, ...) -> int`."""
    keys = subparsers.add_parser("keys", help="manage API keys")
    sub = keys.add_subparsers(dest="keys_command", required=True)

    create = sub.add_parser("create", help="issue a key (printed once)")
    create.add_argument("name", help="what the key is for (1-100 characters)")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        choices=[s.value for s in Scope],
        help="repeat for several; default: read (admin implies fetch, fetch implies read)",
    )
    create.add_argument("--expires", type=_parse_time, help="ISO date or time (UTC if no zone)")
    create.add_argument(
        "--rate-limit", type=float, help="requests per minute (default: the server's)"
    )
    create.set_defaults(handler=_command(resolve_database_url, _create))

    sub.add_parser("list", help="list keys (never the keys themselves)").set_defaults(
        handler=_command(resolve_database_url, _list)
    )
    for name, action, text in (
        ("revoke", _revoke, "deactivate a key (reversible)"),
        ("restore", _restore, "reactivate a revoked key"),
        ("delete", _delete, "delete a key for good"),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("id", type=int, help="the key's id (see `keys list`)")
        parser.set_defaults(handler=_command(resolve_database_url, action))


Action = Callable[[asyncpg.Connection, argparse.Namespace], Awaitable[str]]


def _command(resolve_database_url: Callable[[], str], action: Action) -> Handler:
    def handler(args: argparse.Namespace, *_: object) -> int:
        try:
            print(asyncio.run(_run(resolve_database_url(), action, args)))
        except (ServiceError, CannotOpenDatabase) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except asyncpg.UndefinedTableError:
            print("error: no api_keys table: run `marketgraph migrate` first", file=sys.stderr)
            return 1
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"error: database: {exc}", file=sys.stderr)
            return 1
        return 0

    return handler


async def _run(url: str, action: Action, args: argparse.Namespace) -> str:
    conn = await connect(url)
    try:
        return await action(conn, args)
    finally:
        await conn.close()


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _create(conn: asyncpg.Connection, args: argparse.Namespace) -> str:
    record, raw = await issue_key(
        conn, args.name, args.scopes or [Scope.READ], args.expires, args.rate_limit
    )
    return (
        f"created key {record.id} ({record.name}), scopes: {_scopes(record)}\n"
        f"{raw}\n"
        "Store it now: it is not kept and cannot be shown again."
    )


async def _list(conn: asyncpg.Connection, args: argparse.Namespace) -> str:
    records = await api_keys.list_keys(conn)
    if not records:
        return "no keys (create one with `marketgraph keys create NAME`)"
    now = datetime.now(UTC)
    header = ("ID", "NAME", "KEY", "SCOPES", "STATUS", "CREATED", "LAST USED", "REQUESTS", "RATE")
    rows = [header, *(_row(r, now) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def _row(record: ApiKeyRecord, now: datetime) -> tuple[str, ...]:
    status = "active" if record.active else "revoked"
    if record.expired(now):
        status = "expired"
    elif record.expires_at:
        status += f" (expires {_time(record.expires_at)})"
    rate = f"{record.rate_limit_per_minute:g}/min" if record.rate_limit_per_minute else "default"
    return (
        str(record.id),
        record.name,
        record.key_preview,
        _scopes(record),
        status,
        _time(record.created_at),
        _time(record.last_used) if record.last_used else "never",
        str(record.request_count),
        rate,
    )


async def _revoke(conn: asyncpg.Connection, args: argparse.Namespace) -> str:
    record = await api_keys.set_active(conn, args.id, False)
    return f"revoked key {record.id} ({record.name}); servers refuse it within the key cache TTL"


async def _restore(conn: asyncpg.Connection, args: argparse.Namespace) -> str:
    record = await api_keys.set_active(conn, args.id, True)
    return f"restored key {record.id} ({record.name})"


async def _delete(conn: asyncpg.Connection, args: argparse.Namespace) -> str:
    await api_keys.delete_key(conn, args.id)
    return f"deleted key {args.id}"


def _scopes(record: ApiKeyRecord) -> str:
    return ",".join(sorted(record.scopes))


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
