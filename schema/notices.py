"""Response extensions with what a client should know about an answer (e.g. fetch-on-miss off)."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension

from resolvers.access import FETCH_DISABLED


class Notices(SchemaExtension):
    """Merge the resolvers' notes into `extensions`; `fetchOnMiss: disabled` when it is off.

    So an empty answer is never a silent one: a client can tell "no data stored" apart from
    "the gateway would have fetched it, but fetching is off".
    """

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        notices = dict(getattr(context, "notices", None) or {})
        services = getattr(context, "services", None)
        if services is not None and not services.fetch_on_miss:
            notices.setdefault("fetchOnMiss", FETCH_DISABLED)
        return notices
