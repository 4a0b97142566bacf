"""Who may read stored data and who may make the gateway fetch from upstream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resolvers.errors import FORBIDDEN, UNAUTHENTICATED, coded
from storage.api_keys import Scope

if TYPE_CHECKING:
    from resolvers.context import Context

FETCH_DISABLED = "disabled"
FETCH_NOT_PERMITTED = "notPermitted"


def require(context: Context, scope: Scope) -> None:
    """Raise UNAUTHENTICATED/FORBIDDEN unless the caller holds `scope`.

    Reads of stored data are open to anonymous callers when ANONYMOUS_READS is on; fetching
    and administration always need a key.
    """
    principal = context.principal
    if principal is None:
        if scope is Scope.READ and context.services.anonymous_reads:
            return
        raise coded("an API key is required (X-API-Key or Authorization: Bearer)", UNAUTHENTICATED)
    if not principal.has(scope):
        raise coded(f"this API key lacks the {scope.value!r} scope", FORBIDDEN)


def may_fetch(context: Context) -> bool:
    """Whether this request may trigger upstream fetches (and says why not in a notice).

    Response extension `fetchOnMiss`: `disabled` (no upstream configured; the Notices extension
    adds it to every response) or `notPermitted` (the key lacks the `fetch` scope), so an
    empty answer is never a silent one.
    """
    if not context.services.fetch_on_miss:
        return False
    if context.principal is None or not context.principal.has(Scope.FETCH):
        context.notices["fetchOnMiss"] = FETCH_NOT_PERMITTED
        return False
    return True
