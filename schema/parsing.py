"""Parsing with a shared cache, whose syntax errors still reach the client with a code."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache


class CodedParserCache(ParserCache):
    """Strawberry's ParserCache parses in its hook, outside Strawberry's error handling: a syntax
    error (or the token limit) then escapes the operation hooks and leaves with no code. Here a
    document that does not parse is left to Strawberry's own parse, which reports the same error
    as a normal result (and so ErrorCodes gives it BAD_USER_INPUT). Only failures parse twice.

    The token limit is a parse option, so the parse cache (keyed by text and options) holds
    only documents within it.
    """

    def __init__(self, *, maxsize: int, max_tokens: int) -> None:
        super().__init__(maxsize=maxsize)
        self._max_tokens = max_tokens

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self._max_tokens
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            context.graphql_document = None
        yield
