"""Pure ASGI middleware counting every HTTP request into the window and the metrics.

It sits just inside TraceMiddleware (which binds the request's facts), so refusals by the
middlewares after it (401, 413, 429) are counted too.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.observability.facts import OperationNames, current_facts, endpoint_of, is_fault
from gateway.observability.metrics import Metrics
from gateway.observability.window import RequestWindow
from gateway.response_status import ResponseStatus


class ObservabilityMiddleware:
    """Record endpoint, status, duration and error code of each request (collaborators from
    `app.state`: `metrics`, `request_window`, `operation_names`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response = ResponseStatus(send)
        try:
            await self.app(scope, receive, response.send)
        finally:
            seconds = time.perf_counter() - started
            state = scope["app"].state
            names: OperationNames = state.operation_names
            facts = current_facts.get()
            endpoint = endpoint_of(scope, facts, names)
            status = response.code
            code = facts.code(status) if facts is not None else None
            if facts is not None:
                facts.endpoint = endpoint
            fault = is_fault(code, status)
            metrics: Metrics = state.metrics
            window: RequestWindow = state.request_window
            metrics.observe_request(endpoint, status, seconds, code and code.value, fault)
            window.record(endpoint, status, seconds * 1000, code and code.value, fault)
