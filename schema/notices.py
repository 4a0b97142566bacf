"""Response extensions with what a client should know about an answer (e.g. fetch-on-miss off)."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension

from resolvers.context import RequestContext


class Notices(SchemaExtension):
    """`extensions.fetchOnMiss`: `disabled` on every response when no upstream is configured,
    `notPermitted` when this request would have fetched but the key lacks the `fetch` scope."""

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if not isinstance(context, RequestContext):
            return {}
        notice = context.fetch.notice
        return {} if notice is None else {"fetchOnMiss": notice.value}
