"""Whether one request may fetch from upstream, and what to tell the client when it may not."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from datetime import datetime

from domain.errors import ServiceError
from domain.timeframes import Timeframe
from resolvers.fetch_budget import FetchBudget
from resolvers.read_through import ReadThrough


class FetchNotice(enum.StrEnum):
    """Response extension `fetchOnMiss`: why an answer came from the store alone."""

    DISABLED = "disabled"  # no upstream configured (every response says so)
    NOT_PERMITTED = "notPermitted"  # the key lacks the `fetch` scope


class FetchGate:
    """Fetch-on-miss for one request: runs it when allowed, remembers when it was refused.

    So an empty answer is never a silent one: a client can tell "no data stored" apart from
    "the gateway would have fetched it, but fetching is off or not permitted". Every fetch of
    the request draws on one `FetchBudget` (symbols, upstream calls).
    """

    __slots__ = ("_allowed", "_on_stored", "_read_through", "budget", "refused")

    def __init__(
        self,
        read_through: ReadThrough | None,
        *,
        allowed: bool,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        """`on_stored()` runs when a fetch stored bars (or this request waited for one)."""
        self._read_through = read_through
        self._allowed = allowed
        self._on_stored = on_stored
        self.refused = False
        self.budget = FetchBudget(read_through.limits) if read_through is not None else None

    @property
    def notice(self) -> FetchNotice | None:
        if self._read_through is None:
            return FetchNotice.DISABLED
        return FetchNotice.NOT_PERMITTED if self.refused else None

    async def ensure(
        self,
        symbols: Sequence[str],
        timeframe: Timeframe,
        start: datetime | None,
        end: datetime | None,
    ) -> dict[str, ServiceError]:
        """Fetch what the store lacks of a bounded range first; the per-symbol failures."""
        if start is None or end is None or self._read_through is None:
            return {}
        if not self._allowed:
            self.refused = True
            return {}
        ensured = await self._read_through.ensure(
            symbols, timeframe, start, end, budget=self.budget
        )
        if ensured.fetched_ranges and self._on_stored is not None:
            self._on_stored()
        return dict(ensured.errors)
