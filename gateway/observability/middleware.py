"""Counting every HTTP request into the window and the metrics, once it is answered.

Not a middleware layer of its own: TraceMiddleware (gateway/logs.py), which binds the request's
facts and already sees its status and duration, calls `record_request` before it writes the
access line, so refusals by the middlewares inside it (401, 413, 429) are counted too and the
access line carries the endpoint recorded here.
"""

from __future__ import annotations

from starlette.types import Scope

from gateway.observability.facts import OperationNames, RequestFacts, endpoint_of, is_fault
from gateway.observability.metrics import Metrics
from gateway.observability.window import RequestWindow


def record_request(scope: Scope, status: int, seconds: float, facts: RequestFacts) -> None:
    """Record endpoint, status, duration and error code (collaborators from `app.state`:
    `metrics`, `request_window`, `operation_names`); the endpoint is kept in `facts`."""
    state = scope["app"].state
    names: OperationNames = state.operation_names
    endpoint = facts.endpoint = endpoint_of(scope, facts, names)
    code = facts.code(status)
    fault = is_fault(code, status)
    metrics: Metrics = state.metrics
    window: RequestWindow = state.request_window
    metrics.observe_request(endpoint, status, seconds, code and code.value, fault)
    window.record(endpoint, status, seconds * 1000, code and code.value, fault)
