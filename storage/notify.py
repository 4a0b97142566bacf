"""Announcing written bars: `pg_notify` from the write path, read back by every listener.

A notification names what changed, never the rows: the base timeframe, the stage (which
timeframes already show the write), and per ticker the runs of consecutive bars written, as
`[first, last]` epoch microseconds. A run holds only bars the write inserted or changed (its
bars are one base step apart), so a reader re-reading a run gets exactly those bars. The
writer's transaction id leads the payload, so a reader can tell whether a snapshot it read
already saw the write (`Snapshot.sees`).

PostgreSQL refuses payloads of 8000 bytes or more: a large write is split over several
notifications, all sent by one statement in the writer's transaction, so they are delivered
together at commit, or not at all.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from domain.time_range import UNIX_EPOCH
from domain.timeframes import Timeframe, nominal_width
from storage.pool import Conn

log = logging.getLogger(__name__)

CHANNEL = "marketgraph_bars"
MAX_PAYLOAD_BYTES = 7999  # PostgreSQL: "payload string too long" at 8000
_XID_ROOM = 21  # the transaction id (at most 20 digits) and a space, prefixed in SQL
_NOTIFY = "SELECT pg_notify($1, pg_current_xact_id()::text || ' ' || p) FROM unnest($2::text[]) p"

Run = tuple[datetime, datetime]


class Stage(enum.StrEnum):
    """Which timeframes show the write when its notification is delivered."""

    ALL = "all"  # base bars and every rollup (portable rollups refresh in the transaction)
    BASE = "base"  # base bars only: continuous aggregates refresh after the commit
    ROLLUPS = "rollups"  # the continuous aggregates, once refreshed


@dataclass(frozen=True, slots=True)
class BarsWritten:
    """One notification, decoded."""

    xid: int
    timeframe: Timeframe
    stage: Stage
    runs: dict[str, list[Run]]


def _micros(t: datetime) -> int:
    return (t - UNIX_EPOCH) // timedelta(microseconds=1)


def _from_micros(value: int) -> datetime:
    return UNIX_EPOCH + timedelta(microseconds=value)


def written_runs(
    symbols: Sequence[str], times: Sequence[datetime], step: timedelta
) -> dict[str, list[Run]]:
    """Per ticker, the written times as runs of bars exactly `step` apart."""
    runs: dict[str, list[Run]] = {}
    for symbol, t in sorted(zip(symbols, times, strict=True)):
        own = runs.setdefault(symbol, [])
        if own and t - own[-1][1] == step:
            own[-1] = (own[-1][0], t)
        else:
            own.append((t, t))
    return runs


def encode(timeframe: Timeframe, stage: Stage, runs: dict[str, list[Run]]) -> list[str]:
    """The payloads (without the transaction id SQL prefixes), each under the size limit."""
    budget = MAX_PAYLOAD_BYTES - _XID_ROOM
    head = {"tf": timeframe.value, "stage": stage.value}
    payloads: list[str] = []
    batch: dict[str, list[list[int]]] = {}
    size = len(orjson.dumps({**head, "runs": {}}))
    for symbol, symbol_runs in runs.items():
        for first, last in symbol_runs:
            item = [_micros(first), _micros(last)]
            # a ticker already in the batch costs one more pair; a new one its key as well
            cost = len(orjson.dumps(item)) + 1 + (0 if symbol in batch else len(symbol) + 5)
            if size + cost > budget and batch:
                payloads.append(orjson.dumps({**head, "runs": batch}).decode())
                batch, size = {}, len(orjson.dumps({**head, "runs": {}}))
                cost = len(orjson.dumps(item)) + len(symbol) + 6
            batch.setdefault(symbol, []).append(item)
            size += cost
    if batch:
        payloads.append(orjson.dumps({**head, "runs": batch}).decode())
    return payloads


async def notify_written(
    conn: Conn,
    timeframe: Timeframe,
    symbols: Sequence[str],
    times: Sequence[datetime],
    stage: Stage,
) -> int:
    """Inside the writer's transaction: announce the written bars; returns notifications sent."""
    if not times:
        return 0
    payloads = encode(timeframe, stage, written_runs(symbols, times, nominal_width(timeframe)))
    await conn.execute(_NOTIFY, CHANNEL, payloads)
    return len(payloads)


def decode(payload: str) -> BarsWritten | None:
    """A notification's content; None (and a warning) for one this version cannot read."""
    try:
        xid, _, body = payload.partition(" ")
        data = orjson.loads(body)
        return BarsWritten(
            int(xid),
            Timeframe(data["tf"]),
            Stage(data["stage"]),
            {
                symbol: [(_from_micros(a), _from_micros(b)) for a, b in pairs]
                for symbol, pairs in data["runs"].items()
            },
        )
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable bars notification ignored", extra={"bytes": len(payload)})
        return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A `pg_current_snapshot()`: which transactions a read saw."""

    xmin: int
    xmax: int
    in_progress: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def sees(self, xid: int) -> bool:
        """Whether a read under this snapshot saw the (committed) transaction `xid`."""
        return xid < self.xmin or (xid < self.xmax and xid not in self.in_progress)
