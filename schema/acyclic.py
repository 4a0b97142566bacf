"""An executor that leaves no cyclic garbage behind it.

graphql-core's executor refers to itself: its resolver helpers (`async_helpers`) are bound
methods of the executor. Each request's executor, its context and loaders, every FieldDetails
and collected error were then freed only by the cycle collector, which ran every few dozen
requests and took a tenth of a small request's CPU, with the occasional full collection in the
latency tail. Once the response is built (and no incremental delivery still needs the
executor), the helpers are dropped, so reference counting frees all of it at once.
"""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class AcyclicExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, releasing its reference to itself with its response."""

    def build_response(self, data: dict[str, Any] | None) -> Any:
        response = super().build_response(data)
        if isinstance(response, ExecutionResult):  # nothing left to deliver incrementally
            self.release()
        return response

    def release(self) -> None:
        """Drop the executor's helpers (bound to itself): after its last resolver ran."""
        self.__dict__.pop("async_helpers", None)
