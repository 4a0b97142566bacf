"""Fan-out of written bars to live subscribers, in memory, from one notification feed.

The listener (storage/listener.py) hands every notification to `LiveHub.publish`; one task
(`run`) takes what has arrived, reads the written bars once per subscribed timeframe (rollups:
the updated buckets) and offers each subscriber the rows of its tickers. Each subscriber has a
bounded queue: one that falls `queue_size` updates behind is dropped (its `on_drop` is told why),
so a slow client costs no more memory than that.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Collection, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from domain.errors import RateLimited, ServiceError, Unavailable
from domain.timeframes import BASE_TIMEFRAMES, Timeframe, base_of, bucket_start
from storage.bars_live import fetch_ranges
from storage.notify import BarsWritten, Stage

log = logging.getLogger(__name__)

INTERRUPTED = (
    "live updates were interrupted (the database connection was lost) and resume now; "
    "bars written meanwhile may be missing: resubscribe with `since` to fill the gap"
)


@dataclass(frozen=True, slots=True, eq=False)
class Update:
    """Rows one write changed for the subscribers of some tickers (ordered by ticker, then time).

    Every subscriber with the same tickers and timeframe gets this same object, so what is
    rendered from it for one of them (schema/shared_events.py) is kept in `shared` and reused
    by the others; it lives as long as some subscriber still holds the update.
    """

    xid: int
    rows: tuple[asyncpg.Record, ...]
    shared: dict[Hashable, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[asyncpg.Record]:
        return iter(self.rows)


class Dropped(ServiceError):
    """The subscriber fell too far behind and was let go."""


Item = Update | ServiceError


@dataclass(eq=False)
class LiveSubscription:
    """One subscriber's interest and queue; a context manager that unsubscribes on exit."""

    hub: LiveHub
    key: Hashable
    tickers: frozenset[str]
    timeframe: Timeframe
    on_drop: Callable[[str], None]
    shareable: bool = True  # no replay to reconcile: every Update goes out as it is
    queue: asyncio.Queue[Item] = field(init=False)
    _returned: list[Item] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.hub.queue_size + 1)  # +1: room for the drop notice

    async def next(self) -> Item:
        if self._returned:
            return self._returned.pop()
        return await self.queue.get()

    def put_back(self, item: Item) -> None:
        """Undo the last `next`: a reader that looked at `item` leaves it to the stream."""
        self._returned.append(item)

    def __enter__(self) -> LiveSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.hub.unsubscribe(self)


def wants(timeframe: Timeframe, event: BarsWritten) -> bool:
    """Whether `event` is the notification after which `timeframe` shows the write."""
    if event.timeframe is not base_of(timeframe):
        return False
    final = Stage.BASE if timeframe in BASE_TIMEFRAMES else Stage.ROLLUPS
    return event.stage in (Stage.ALL, final)


def bucket_of(timeframe: Timeframe, t: datetime) -> datetime:
    """The stored start of the `timeframe` bar holding base time `t` (or a row's label)."""
    return t if timeframe in BASE_TIMEFRAMES else bucket_start(timeframe, t)


class LiveHub:
    """Subscribers by timeframe; per-key limits; the reading and fan-out task."""

    def __init__(self, pool: asyncpg.Pool, *, queue_size: int, max_per_key: int) -> None:
        if queue_size < 1 or max_per_key < 1:
            raise ValueError("queue_size and max_per_key must be at least 1")
        self.pool = pool
        self.queue_size = queue_size
        self.max_per_key = max_per_key
        self._subscribers: dict[Timeframe, set[LiveSubscription]] = defaultdict(set)
        self._per_key: dict[Hashable, int] = defaultdict(int)
        self._inbound: asyncio.Queue[BarsWritten] = asyncio.Queue()
        self._pushed: dict[Timeframe, RecentRows] = defaultdict(RecentRows)
        self.dropped = 0  # subscribers let go for being slow, since start

    @property
    def subscribers(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def subscribe(
        self,
        key: Hashable,
        tickers: Collection[str],
        timeframe: Timeframe,
        on_drop: Callable[[str], None],
    ) -> LiveSubscription:
        """Register now (updates queue from here on); RateLimited over the key's limit."""
        if self._per_key[key] >= self.max_per_key:
            raise RateLimited(
                f"at most {self.max_per_key} concurrent subscriptions per API key"
                " (MAX_SUBSCRIPTIONS_PER_KEY)"
            )
        subscription = LiveSubscription(self, key, frozenset(tickers), timeframe, on_drop)
        self._per_key[key] += 1
        self._subscribers[timeframe].add(subscription)
        return subscription

    def unsubscribe(self, subscription: LiveSubscription) -> None:
        subscribers = self._subscribers[subscription.timeframe]
        if subscription in subscribers:
            subscribers.discard(subscription)
            self._per_key[subscription.key] -= 1
            if not self._per_key[subscription.key]:
                del self._per_key[subscription.key]

    def publish(self, event: BarsWritten) -> None:
        """From the listener: queue a notification for the fan-out task."""
        self._inbound.put_nowait(event)

    def interrupted(self) -> None:
        """From the listener: tell every subscriber the feed had a gap."""
        for subscribers in self._subscribers.values():
            for subscription in list(subscribers):
                self._offer(subscription, Unavailable(INTERRUPTED))

    def _offer(self, subscription: LiveSubscription, item: Item) -> None:
        if subscription.queue.qsize() < self.queue_size:
            subscription.queue.put_nowait(item)
            return
        reason = f"slow consumer: {self.queue_size} updates were not taken; reconnect"
        self.unsubscribe(subscription)
        self.dropped += 1
        log.info("live subscriber dropped", extra={"reason": reason})
        subscription.queue.put_nowait(Dropped(reason))
        subscription.on_drop(reason)

    async def run(self) -> None:
        """Fan out until cancelled: all notifications waiting are handled together."""
        while True:
            events = [await self._inbound.get()]
            while not self._inbound.empty():
                events.append(self._inbound.get_nowait())
            for timeframe in list(self._subscribers):
                try:
                    await self._fan_out(timeframe, [e for e in events if wants(timeframe, e)])
                except ServiceError as exc:  # e.g. UNAVAILABLE: the subscribers are told
                    for subscription in list(self._subscribers[timeframe]):
                        self._offer(subscription, exc)
                except Exception:  # a bug must not end every subscription of the process
                    log.exception("live fan-out failed", extra={"timeframe": timeframe.value})

    async def _fan_out(self, timeframe: Timeframe, events: Sequence[BarsWritten]) -> None:
        subscribers = list(self._subscribers[timeframe])
        wanted = set().union(*(s.tickers for s in subscribers))
        # per event, per ticker: the spans of stored bar starts the event changed
        spans = [
            {
                ticker: [(bucket_of(timeframe, a), bucket_of(timeframe, b)) for a, b in runs]
                for ticker, runs in event.runs.items()
                if ticker in wanted
            }
            for event in events
        ]
        if not any(spans):
            return
        rows = [
            row for row in await self._read(timeframe, spans) if self._pushed[timeframe].new(row)
        ]
        per_event: list[dict[str, list[asyncpg.Record]]] = [defaultdict(list) for _ in events]
        for row in rows:  # a bar rewritten by several events goes with the last of them
            start = bucket_of(timeframe, row["time"])
            for index in range(len(events) - 1, -1, -1):
                if _within(spans[index].get(row["symbol"], ()), start):
                    per_event[index][row["symbol"]].append(row)
                    break
        by_interest: dict[frozenset[str], list[LiveSubscription]] = defaultdict(list)
        for subscription in subscribers:
            by_interest[subscription.tickers].append(subscription)
        for interest, group in by_interest.items():  # one Update per interest, shared
            tickers = sorted(interest)
            for event, changed in zip(events, per_event, strict=True):
                mine = tuple(r for t in tickers for r in changed.get(t, ()))
                if mine:
                    update = Update(event.xid, mine)
                    for subscription in group:
                        self._offer(subscription, update)

    async def _read(
        self, timeframe: Timeframe, spans: Sequence[dict[str, list[tuple[datetime, datetime]]]]
    ) -> list[asyncpg.Record]:
        merged: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for event_spans in spans:
            for ticker, ticker_spans in event_spans.items():
                merged[ticker].extend(ticker_spans)
        symbols, lows, highs = [], [], []
        for ticker, ticker_spans in merged.items():
            for lo, hi in _merge(ticker_spans):
                symbols.append(ticker)
                lows.append(lo)
                highs.append(hi)
        _, rows = await fetch_ranges(self.pool, timeframe, symbols, lows, highs)
        return rows


class RecentRows:
    """The last version pushed of recently pushed bars, to push each version once.

    A read may already see a later write than the event it serves (under load, or a
    continuous aggregate answering in real time before its refresh): the later event then
    reads the same version again. Bounded: the oldest entries are forgotten first.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        self._capacity = capacity
        self._rows: OrderedDict[tuple[str, datetime], tuple[object, ...]] = OrderedDict()

    def new(self, row: asyncpg.Record) -> bool:
        """Whether `row` differs from the version last pushed (remembering it if so)."""
        key, version = (row["symbol"], row["time"]), tuple(row.values())
        if self._rows.get(key) == version:
            return False
        self._rows[key] = version
        self._rows.move_to_end(key)
        if len(self._rows) > self._capacity:
            self._rows.popitem(last=False)
        return True


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping closed spans joined (the read must not return a bar twice)."""
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _within(spans: Sequence[tuple[datetime, datetime]], t: datetime) -> bool:
    """Whether `t` lies in one of `spans`: sorted, and never nested (runs of one write)."""
    index = bisect.bisect_right(spans, t, key=lambda span: span[0]) - 1
    return index >= 0 and t <= spans[index][1]
