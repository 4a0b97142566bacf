"""The audit trail: each authenticated request recorded once it is answered (batched writes).

What was done is recorded, not just where: a handler names it in the request state under
`AUDIT_ENDPOINT` (the GraphQL view: `graphql:<operation name>`; REST: its route), else the
path is recorded.
"""

from __future__ import annotations

from starlette.types import Scope

from domain.access import Principal
from storage.usage import UsageRecorder

AUDIT_ENDPOINT = "audit_endpoint"


def audit(
    recorder: UsageRecorder, principal: Principal, scope: Scope, status: int, seconds: float
) -> None:
    """Record an answered request of `principal` (in memory: the recorder writes batches)."""
    state = scope.get("state", {})
    recorder.record(
        principal.key_id,
        endpoint=str(state.get(AUDIT_ENDPOINT) or scope["path"]),
        method=scope["method"],
        status_code=status,
        duration_ms=round(seconds * 1000, 3),
    )
