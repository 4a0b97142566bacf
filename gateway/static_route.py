"""Routes that serve files known when the app is built, and the URLs they answer with a file.

A browser loading the dashboard or GraphiQL fetches a page and about ten scripts and styles.
Counted against the keyless address rate (120 a minute by default), a few page loads from one
address (an office behind one NAT) spent the budget its GraphQL requests needed. The access
layer leaves these exact URLs uncounted, as it does the health probes; a path that answers 404
under the same prefix is still counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from starlette.routing import BaseRoute, Route


class StaticRoute(Route):
    """A `Route` that also lists every URL it answers with a file (`files`)."""

    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, files: Iterable[str], **kwargs: Any
    ) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.files = frozenset(files)


def static_files(routes: Iterable[BaseRoute]) -> frozenset[str]:
    """Every URL the static routes among `routes` answer with a file."""
    return frozenset(url for r in routes if isinstance(r, StaticRoute) for url in r.files)
