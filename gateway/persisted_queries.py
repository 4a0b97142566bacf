"""Persisted queries: Automatic Persisted Queries as Apollo clients send them, and an allow-list.

A client sends `extensions.persistedQuery = {"version": 1, "sha256Hash": <hex>}`:
- without `query`: the document registered under that hash runs; an unknown hash is answered
  with the GraphQL error `PersistedQueryNotFound` (`PERSISTED_QUERY_NOT_FOUND`), on which
  Apollo clients resend the hash with the document;
- with `query`: the hash must be the document's SHA-256 (else `PERSISTED_QUERY_HASH_MISMATCH`);
  once the document ran without a parse or validation error it is registered (LRU, at most
  PERSISTED_QUERIES_MAX_ENTRIES, documents up to MAX_REGISTERED_CHARS).

The hash is resolved before anything else looks at the request (the response cache included),
so a hash never gets an answer its document would not.

Allow-list mode (PERSISTED_QUERIES_ONLY): only the documents of the manifest run, by hash or
by their exact text (or the same text formatted differently); keys with the `admin` scope are
exempt, so operators keep ad-hoc access. Registration serves only exempt callers then.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from graphql import GraphQLError, parse, print_ast

from domain.access import Principal, Scope
from domain.errors import (
    InvalidInput,
    PersistedQueryHashMismatch,
    PersistedQueryNotAllowed,
    PersistedQueryNotFound,
    ServiceError,
)

VERSION = 1
MAX_REGISTERED_CHARS = 20_000
"""Longer documents run but are not kept: the store's memory stays bounded by entries times this."""
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"  # what Apollo clients look for
NOT_FOUND_CACHE_CONTROL = "private, no-cache, must-revalidate"
HASH_DIGITS = 64


def sha256_hex(document: str) -> str:
    """The hash Apollo clients send: SHA-256 of the document's UTF-8 text, lowercase hex."""
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Resolved:
    """The document to run, and the hash to register it under once it ran (or None)."""

    query: str | None
    register: str | None = None


class PersistedQueries:
    """The registered documents (LRU) and the manifest's; `resolve` is the one entry point."""

    def __init__(
        self, max_entries: int, manifest: Mapping[str, str] | None = None, *, only: bool = False
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        if only and not manifest:
            raise ValueError("allow-list mode needs a manifest with at least one document")
        self.only = only
        self._registered: LRUCache[str, str] = LRUCache(max_entries)
        self._listed: dict[str, str] = {}
        for key, document in (manifest or {}).items():
            self._listed[key] = self._listed[sha256_hex(document)] = document
        self._texts = set(self._listed.values())
        self._normalised = {n for n in map(_normalised, self._texts) if n is not None}

    def __len__(self) -> int:
        """How many documents are registered (the manifest's not counted)."""
        return len(self._registered)

    def resolve(
        self, query: str | None, extensions: Mapping[str, Any] | None, principal: Principal | None
    ) -> Resolved:
        """The document a request runs, or the ServiceError that refuses it."""
        exempt = not self.only or (principal is not None and principal.has(Scope.ADMIN))
        wanted = requested_hash(extensions)
        if wanted is None:
            if query is not None and not exempt and not self.listed(query):
                raise PersistedQueryNotAllowed(_NOT_LISTED)
            return Resolved(query)
        if query is None:
            found = self._listed.get(wanted)
            if found is None and exempt:
                found = self._registered.get(wanted)
            if found is None:
                raise PersistedQueryNotFound(NOT_FOUND_MESSAGE)
            return Resolved(found)
        if self._listed.get(wanted) == query:
            return Resolved(query)
        if sha256_hex(query) != wanted:
            raise PersistedQueryHashMismatch(
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query"
            )
        if exempt:
            return Resolved(query, wanted if len(query) <= MAX_REGISTERED_CHARS else None)
        if self.listed(query):
            return Resolved(query)
        raise PersistedQueryNotAllowed(_NOT_LISTED)

    def register(self, sha256_hash: str, document: str) -> None:
        """Keep `document` under its hash (call once it ran without a document error)."""
        self._registered[sha256_hash] = document

    def listed(self, query: str) -> bool:
        """Whether `query` is a manifest document, as sent or formatted differently."""
        return query in self._texts or _normalised(query) in self._normalised


_NOT_LISTED = "only persisted queries of the allow-list run here (PERSISTED_QUERIES_ONLY)"


def requested_hash(extensions: Mapping[str, Any] | None) -> str | None:
    """`extensions.persistedQuery.sha256Hash` (lowercased), None without `persistedQuery`."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise InvalidInput("extensions.persistedQuery must be an object")
    if persisted.get("version") != VERSION:
        raise InvalidInput(f"unsupported persisted query version: only {VERSION} is supported")
    wanted = persisted.get("sha256Hash")
    if not isinstance(wanted, str) or len(wanted) != HASH_DIGITS or not _hexadecimal(wanted):
        raise InvalidInput("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits")
    return wanted.lower()


def _hexadecimal(text: str) -> bool:
    """Whether `text` is hex digits only: `bytes.fromhex` reads two per byte and skips
    whitespace between bytes, so only digits alone give `len(text) // 2` bytes (a third of
    a regular expression's time, on every request that sends a hash)."""
    try:
        return len(bytes.fromhex(text)) * 2 == len(text)
    except ValueError:
        return False


def as_graphql_error(error: ServiceError) -> GraphQLError:
    """A refusal as a GraphQL error of a result (where Apollo clients look for it)."""
    return GraphQLError(error.message, extensions={"code": error.code.value, **error.extensions})


def _normalised(document: str) -> str | None:
    try:
        return print_ast(parse(document, no_location=True))
    except GraphQLError:
        return None
