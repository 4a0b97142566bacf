"""The response cache: answers to read queries kept for a while (TTL + LRU, cachetools).

A key is the normalised document (printed from its AST, so spacing and comments do not
matter), the operation name, the variables (sorted JSON) and what the caller may see — its
scopes, or `anonymous` — so callers that see different data never share an answer. Only
queries whose root fields all read market data are kept (never `me`, key administration,
introspection or a mutation), and only answers without errors.

Each entry is tagged with the tickers its root fields name (literal or variables); a root field
that names none (a search) tags the entry `*`. `invalidate(ticker)` drops the entries of that
ticker and the `*` ones when bars for it are stored. A miss runs once however many identical
requests arrive meanwhile (single flight); an answer computed while an invalidation happened
is returned but not kept.

With `share(SharedResponses)` (REDIS_URL set) entries live in Redis for every worker and
instance, and invalidation replaces the tickers' generation tokens there
(coordination/responses.py); this process then keeps no entries of its own, so no local copy
can outlive an invalidation made elsewhere. While Redis is unreachable the local TTL + LRU
cache answers (and is invalidated as always, by this process's writes and PostgreSQL NOTIFY);
invalidations Redis missed meanwhile make every shared entry unreachable once it is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cachetools import LRUCache, TTLCache
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    ValueNode,
    VariableNode,
    parse,
    print_ast,
)
from strawberry.types import ExecutionResult

from coordination.responses import SharedResponses
from domain.access import Principal
from domain.clocks import Monotonic

ALL = "*"
TICKER_ARGUMENTS = frozenset({"ticker", "tickers"})
MARKET_DATA_FIELDS = frozenset({"symbol", "symbols", "bars", "barSeries", "aggregates"})
"""The root fields whose answers depend only on stored bars and the caller's scopes."""
MAX_DOCUMENT_CHARS = 20_000
Run = Callable[[], Awaitable[ExecutionResult]]


@dataclass(frozen=True, slots=True)
class _Document:
    """What the cache needs from one (document, operation name): parsed once."""

    normalised: str
    operation: str | None  # the operation's own name
    literal_tickers: frozenset[str]
    variable_tickers: tuple[str, ...]  # variable names that hold tickers
    wildcard: bool  # a root field names no ticker


@dataclass(frozen=True, slots=True)
class Plan:
    """A cacheable request: its key and the tags its entry gets."""

    key: bytes
    tags: frozenset[str]
    operation: str | None


@dataclass(frozen=True, slots=True)
class _Entry:
    result: ExecutionResult
    tags: frozenset[str]


class _Entries(TTLCache[bytes, _Entry]):
    """TTLCache telling its owner what leaves it (expiry and eviction), to keep tags exact."""

    def __init__(self, owner: ResponseCache, maxsize: int, ttl: float, timer: Monotonic) -> None:
        super().__init__(maxsize, ttl, timer=timer)
        self._owner = owner

    def expire(self, time: float | None = None) -> list[tuple[bytes, _Entry]]:
        expired = list(super().expire(time))
        for key, entry in expired:
            self._owner._unindex(key, entry.tags)
        return expired

    def popitem(self) -> tuple[bytes, _Entry]:
        key, entry = super().popitem()
        self._owner._unindex(key, entry.tags)
        self._owner._evicted()
        return key, entry


class ResponseCache:
    """TTL + LRU cache of GraphQL answers; `ttl_seconds` 0 turns it off (`enabled` False).

    `on_lookup(result)` ("hit", "miss", "shared") and `on_evict()` feed the metrics.
    """

    def __init__(
        self,
        ttl_seconds: float = 300.0,
        max_entries: int = 1000,
        *,
        clock: Monotonic | None = None,
        on_lookup: Callable[[str], None] | None = None,
        on_evict: Callable[[], None] | None = None,
    ) -> None:
        if ttl_seconds < 0 or max_entries < 1:
            raise ValueError("ttl_seconds must be >= 0 and max_entries >= 1")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries = _Entries(self, max_entries, ttl_seconds or 1, clock or time.monotonic)
        self._documents: LRUCache[tuple[str, str | None], _Document | None] = LRUCache(256)
        self._tags: dict[str, set[bytes]] = {}
        self._flights: dict[bytes, asyncio.Future[ExecutionResult]] = {}
        self._generation = 0
        self._on_lookup = on_lookup or (lambda _: None)
        self._on_evict = on_evict or (lambda: None)
        self.hits = self.misses = self.evictions = 0
        self._shared: SharedResponses | None = None
        self._background: set[asyncio.Task[None]] = set()

    def share(self, shared: SharedResponses | None) -> None:
        """Keep entries in Redis from now on (None: in this process only)."""
        self._shared = shared

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0

    def __len__(self) -> int:
        self._entries.expire()
        return len(self._entries)

    # -- planning -----------------------------------------------------------------------------

    def plan(
        self,
        query: str | None,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        principal: Principal | None,
    ) -> Plan | None:
        """The key and tags of a cacheable request, or None (not a read query, or off)."""
        if not self.enabled or not query or len(query) > MAX_DOCUMENT_CHARS:
            return None
        doc_key = (query, operation_name)
        if doc_key in self._documents:
            document = self._documents[doc_key]
        else:
            document = self._documents[doc_key] = _inspect(query, operation_name)
        if document is None:
            return None
        values = dict(variables or {})
        tags = set(document.literal_tickers)
        for name in document.variable_tickers:
            value = values.get(name)
            tags.update([value] if isinstance(value, str) else _strings(value))
        if document.wildcard:
            tags.add(ALL)
        try:
            encoded_variables = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        seen = "anonymous" if principal is None else ",".join(sorted(principal.scopes))
        digest = hashlib.blake2b(digest_size=20)
        for part in (document.normalised, operation_name or "", encoded_variables, seen):
            digest.update(part.encode() if isinstance(part, str) else part)
            digest.update(b"\x00")
        return Plan(digest.digest(), frozenset(tags), document.operation)

    # -- answering ----------------------------------------------------------------------------

    async def answer(self, plan: Plan, run: Run) -> tuple[ExecutionResult, str]:
        """The cached answer ("hit"), one in flight ("shared"), or `run()`'s ("miss")."""
        found = None if self._shared is None else await self._shared.lookup(plan.key, plan.tags)
        if found is not None and found.value is not None:
            return self._counted(_decoded(found.value), "hit")
        entry = None if found is not None else self._entries.get(plan.key)
        if entry is not None:
            return self._counted(entry.result, "hit")
        flight = self._flights.get(plan.key)
        if flight is not None:
            return self._counted(await asyncio.shield(flight), "shared")
        generation = self._generation
        task = asyncio.ensure_future(run())
        self._flights[plan.key] = task
        task.add_done_callback(lambda done: self._landed(plan.key, done))
        result = await asyncio.shield(task)
        if result.errors:
            pass
        elif found is not None and self._shared is not None:
            encoded = _encoded(result)
            if encoded is not None:
                await self._shared.store(found.key, encoded)
        elif generation == self._generation:
            self._store(plan, result)
        return self._counted(result, "miss")

    def _counted(self, result: ExecutionResult, outcome: str) -> tuple[ExecutionResult, str]:
        if outcome == "miss":
            self.misses += 1
        else:
            self.hits += 1
        self._on_lookup(outcome)
        return result, outcome

    def _landed(self, key: bytes, task: asyncio.Future[ExecutionResult]) -> None:
        self._flights.pop(key, None)
        if not task.cancelled():
            task.exception()  # its waiters got it; mark it retrieved even if none are left

    def _store(self, plan: Plan, result: ExecutionResult) -> None:
        self._entries[plan.key] = _Entry(result, plan.tags)
        for tag in plan.tags:
            self._tags.setdefault(tag, set()).add(plan.key)

    # -- invalidation ---------------------------------------------------------------------------

    def invalidate(self, ticker: str) -> int:
        """Drop entries naming `ticker` and those naming no ticker; returns how many."""
        self._generation += 1
        if self._shared is not None:
            self._in_background(self._shared.invalidate([ticker, ALL]))
        keys = self._tags.pop(ticker, set()) | self._tags.pop(ALL, set())
        dropped = 0
        for key in keys:
            entry = self._entries.pop(key, None)
            if entry is not None:
                dropped += 1
                self._unindex(key, entry.tags)
        return dropped

    def clear(self) -> None:
        self._generation += 1
        if self._shared is not None:
            self._in_background(self._shared.flush())
        self._entries.clear()
        self._tags.clear()

    def _unindex(self, key: bytes, tags: frozenset[str]) -> None:
        for tag in tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Callers of `invalidate` are synchronous: Redis hears of it a moment later."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settled(self) -> None:
        """Until Redis has heard of every invalidation made so far."""
        while self._background:
            await asyncio.gather(*self._background)

    def _evicted(self) -> None:
        self.evictions += 1
        self._on_evict()

    async def shared_entries(self) -> int | None:
        """Entries in Redis (all workers'); None without Redis or while it cannot say."""
        return None if self._shared is None else await self._shared.count()

    def stats(self) -> dict[str, Any]:
        """`cache` of `/performance/cache`: this worker's figures."""
        asked = self.hits + self.misses
        return {
            "size": len(self),
            "max_size": self.max_entries if self.enabled else 0,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate_pct": round(100.0 * self.hits / asked, 2) if asked else 0.0,
            "evictions": self.evictions,
            "default_ttl_seconds": self.ttl_seconds,
        }


def _encoded(result: ExecutionResult) -> bytes | None:
    try:
        return orjson.dumps({"data": result.data, "extensions": result.extensions})
    except TypeError:
        return None  # not plain JSON: not shared


def _decoded(value: bytes) -> ExecutionResult:
    stored = orjson.loads(value)
    return ExecutionResult(data=stored["data"], errors=None, extensions=stored["extensions"])


def _inspect(query: str, operation_name: str | None) -> _Document | None:
    """None unless the chosen operation is a query whose root fields may be cached."""
    try:
        document = parse(query)
    except GraphQLError:
        return None  # the normal path reports the syntax error
    operation = _operation(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return None
    literal: set[str] = set()
    variables: list[str] = []
    wildcard = False
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            return None  # fragments at the root: not worth following
        if selection.name.value == "__typename":
            continue
        if selection.name.value not in MARKET_DATA_FIELDS:
            return None  # keys, usage, audit: change with every request, or per key
        named = [a for a in selection.arguments or () if a.name.value in TICKER_ARGUMENTS]
        wildcard |= not named
        for argument in named:
            _collect(argument.value, literal, variables)
    name = operation.name.value if operation.name else None
    return _Document(print_ast(document), name, frozenset(literal), tuple(variables), wildcard)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    matches = [o for o in operations if o.name is not None and o.name.value == name]
    return matches[0] if len(matches) == 1 else None


def _collect(value: ValueNode, literal: set[str], variables: list[str]) -> None:
    if isinstance(value, StringValueNode):
        literal.add(value.value)
    elif isinstance(value, VariableNode):
        variables.append(value.name.value)
    elif isinstance(value, ListValueNode):
        for item in value.values:
            _collect(item, literal, variables)


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
