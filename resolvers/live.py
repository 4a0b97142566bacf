"""Live bars: a subscriber's stream, first the replay it asked for, then every change.

`live_bars` validates and registers with the hub before anything is read, so nothing written
after that moment can be missed; the replay (`since`) is read next, with its snapshot, and a
live update of a write that snapshot already saw skips the bars the replay sent: no gap, no
duplicate. The first message is the replay (empty without `since`): from then on the stream
is live.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from domain.access import Scope
from domain.errors import InvalidInput, ServiceError, Unavailable
from domain.timeframes import Timeframe
from resolvers import validation
from resolvers.context import RequestContext
from resolvers.live_hub import Dropped, LiveSubscription, Update
from storage.bars_live import fetch_since
from storage.notify import Snapshot

Message = list[asyncpg.Record] | Update | ServiceError
"""What the stream yields: bars (an `Update` shared with the subscribers of the same tickers,
or a list of this subscriber's own), or an error to report without ending the stream."""


async def live_bars(
    context: RequestContext, tickers: list[str], timeframe: Timeframe, since: datetime | None
) -> AsyncIterator[Message]:
    """Subscribe now (access, validation and the per-key limit are checked here, before the
    first message); the returned stream unsubscribes when closed."""
    context.require(Scope.READ)
    hub = context.services.live
    if hub is None:
        raise Unavailable("live updates are not running in this process")
    unique = validation.tickers(tickers)
    validation.time_range(since, None)
    key = context.principal.key_id if context.principal else None
    subscription = hub.subscribe(key, unique, timeframe, context.disconnect)
    subscription.shareable = since is None
    context.live = subscription
    return _stream(context, subscription, unique, since)


async def _stream(
    context: RequestContext,
    subscription: LiveSubscription,
    tickers: list[str],
    since: datetime | None,
) -> AsyncIterator[Message]:
    with subscription:
        replayed: Snapshot | None = None
        if since is None:
            yield []
        else:
            try:
                replayed, rows = await _replay(context, subscription, tickers, since)
            except ServiceError as exc:
                yield exc
                return
            yield rows
        while True:
            item = await subscription.next()
            if isinstance(item, Dropped):
                return  # the connection is being closed with the reason
            if isinstance(item, ServiceError):
                yield item
                continue
            if replayed is None or since is None or not replayed.sees(item.xid):
                yield item
                continue
            rows = [row for row in item.rows if row["time"] < since]  # the replay had the rest
            if rows:
                yield rows


async def _replay(
    context: RequestContext, subscription: LiveSubscription, tickers: list[str], since: datetime
) -> tuple[Snapshot, list[asyncpg.Record]]:
    """Stored bars from `since` on: at most MAX_BARS_PER_RESPONSE shared among the tickers."""
    share = max(1, context.services.max_bars_per_response // len(tickers))
    snapshot, rows = await fetch_since(
        context.services.pool, tickers, subscription.timeframe, since, share + 1
    )
    counts = Counter(row["symbol"] for row in rows)
    if counts and max(counts.values()) > share:
        raise InvalidInput(
            f"the replay from `since` is limited to {share} bars per ticker"
            " (MAX_BARS_PER_RESPONSE shared among the tickers); choose a later `since`"
        )
    return snapshot, rows
