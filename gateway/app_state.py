"""The app's state with its values held as plain attributes.

Starlette's `State` keeps its values in a dict reached through `__getattr__`, so each read
of, say, `app.state.metrics` first fails the normal attribute lookup: CPython formats an
`AttributeError` message, then calls the Python `__getattr__` (1.5 µs a read against 0.1 µs
for an attribute). A small GraphQL request made eight such reads (the services, the
persisted queries, the settings, the rate limiter, the metrics, the window...).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import State


class AttributeState(State):
    """Starlette's `State` (the same dict, the same item access and errors) whose values are
    also instance attributes, so reading one is a plain attribute read."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        super().__init__(state)
        for key, value in self._state.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, key: Any, value: Any) -> None:
        self._state[key] = value
        object.__setattr__(self, key, value)

    def __delattr__(self, key: Any) -> None:
        del self._state[key]
        object.__delattr__(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.__setattr__(key, value)

    def __delitem__(self, key: str) -> None:
        self.__delattr__(key)
