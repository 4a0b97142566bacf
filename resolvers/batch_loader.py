"""A per-request batch loader that waits on one future per call, not one per key, and runs a
batch in the task of the call that opened it.

Keys asked for in one turn of the event loop are loaded by one call of the batch function
(on the next turn), and each key's outcome is kept for the rest of the request, as with
Strawberry's DataLoader. That DataLoader makes a future per key, each with a done callback
that the event loop runs on its own turn: for `symbols(tickers: [50 tickers])` with
`latestBar` and `aggregate`, 100 futures and 100 callbacks. Here a call for many keys
(`outcomes`) waits on one future, so the 50-symbol request costs what a few keys cost.

The call that opens a batch (its leader) gives the loop one turn, in which other calls add
their keys, then runs the batch itself: no task, no future and no callback for the leader.
A separate task for every batch cost a 1-bar query 47,000 of its 880,000 instructions
(callgrind), most requests being one batch of one caller. A task runs a batch only when its
leader is cancelled while other calls still wait for it (`_hand_over`): they get what they
would have had, and a cancelled caller never cancels the others.

The turn is skipped when no other call can join: in the task `sole_caller` names, set by code
that knows nothing else of the request runs beside it (a compiled operation awaiting its
only root field). Tasks that task starts inherit the name but are not it, so the loads of a
resolver that gathers still share one batch. The turn was 18,000 of a 1-bar query's 778,000
instructions (in-process, one request at a time, callgrind).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Callable, Generator, Hashable, Iterable, Sequence
from contextvars import ContextVar
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
LoadFn = Callable[[list[K]], Awaitable[Sequence[V | Exception]]]
sole_caller: ContextVar[asyncio.Task[object] | None] = ContextVar(
    "marketgraph_sole_caller", default=None
)
"""The task whose batches load at once: no other call could join them in a turn (see above)."""


class _Batch(Generic[K]):
    """Keys loaded by one call of the batch function, and the calls waiting for them."""

    __slots__ = ("keys", "task", "waiters")

    def __init__(self) -> None:
        self.keys: list[K] = []
        self.waiters: list[asyncio.Future[None]] = []  # of the calls besides the leader
        self.task: asyncio.Task[None] | None = None  # only when handed over

    def wanted(self) -> bool:
        """Whether a call besides the leader still waits for it."""
        return not all(waiter.cancelled() for waiter in self.waiters)


class BatchLoader(Generic[K, V]):
    """Loads keys through `load_fn` (keys in, one value or exception per key out, in order).

    A batch whose leader was cancelled before it ran, and whose every other caller went
    too, is skipped, and its keys are not remembered: asked for again, they are loaded again.
    """

    def __init__(self, load_fn: LoadFn[K, V]) -> None:
        self._load_fn = load_fn
        self._settled: dict[K, V | Exception] = {}
        self._loading: dict[K, _Batch[K]] = {}
        self._next: _Batch[K] | None = None

    async def outcomes(self, keys: Iterable[K]) -> list[V | Exception]:
        """Each key's value, or the exception that is its outcome (batch failures too)."""
        keys = list(keys)
        led: _Batch[K] | None = None
        others: list[_Batch[K]] = []
        for key in keys:
            if key in self._settled:
                continue
            batch = self._loading.get(key)
            if batch is None:
                batch = self._next
                if batch is None:
                    batch = led = self._open(key)
                else:
                    batch.keys.append(key)
                    self._loading[key] = batch
            if batch is not led and batch not in others:
                others.append(batch)
        if led is not None:
            # wanted before this call waits: its waiters are registered first
            waiters = _waiters(others)
            await self._lead(led, waiters)
            if waiters:
                await _wait_for(waiters)
        elif others:
            await _wait_for(_waiters(others))
        return [self._settled[key] for key in keys]

    async def load(self, key: K) -> V:
        """The key's value; its exception raised."""
        settled = self._settled
        if key not in settled:
            if self._next is None and key not in self._loading:  # most loads: lead a batch
                await self._lead(self._open(key), ())
            else:
                await self.outcomes((key,))
        outcome = settled[key]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def load_many(self, keys: Iterable[K]) -> list[V]:
        """The keys' values; the first exception among them raised."""
        found = await self.outcomes(keys)
        for outcome in found:
            if isinstance(outcome, Exception):
                raise outcome
        return found  # type: ignore[return-value]  # no exception is left in it

    def _open(self, key: K) -> _Batch[K]:
        """A new batch of `key`, which the keys asked for in this turn join; its caller
        leads it."""
        batch: _Batch[K] = _Batch()
        batch.keys.append(key)
        self._loading[key] = self._next = batch
        return batch

    async def _lead(self, batch: _Batch[K], waiters: Sequence[asyncio.Future[None]]) -> None:
        """Run `batch` in this call's task after one turn of the loop (when keys asked for in
        that turn have joined it; at once for the `sole_caller`); cancelled first, hand it
        over to whoever still wants it."""
        try:
            sole = sole_caller.get()  # the task asked for only when one is named
            if sole is None or sole is not asyncio.current_task():
                await _one_turn()
            if self._next is batch:
                self._next = None
            await self._load(batch)
        except BaseException:  # cancelled: this call wants nothing any more
            for waiter in waiters:
                waiter.cancel()
            if self._loading.get(batch.keys[0]) is batch:  # not loaded (nor forgotten)
                self._hand_over(batch)
            raise

    def _hand_over(self, batch: _Batch[K]) -> None:
        """A batch its leader left unrun: run by a task of its own for the calls still
        waiting for it, or forgotten when none is (its keys are then loaded when next asked)."""
        if self._next is batch:
            self._next = None
        if not batch.wanted():
            self._forget(batch)
            return
        batch.task = asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: _Batch[K]) -> None:
        """A handed-over batch, loaded unless every call waiting for it has gone by then."""
        if not batch.wanted():
            self._forget(batch)
            return
        try:
            await self._load(batch)
        except BaseException:  # cancelled: nothing is known about these keys
            self._forget(batch)
            for waiter in batch.waiters:
                waiter.cancel()
            raise

    async def _load(self, batch: _Batch[K]) -> None:
        """The batch function called once for the batch's keys; their outcomes kept and the
        calls waiting for them woken. Cancelled while loading, it keeps nothing."""
        try:
            values: list[V | Exception] = list(await self._load_fn(batch.keys))
            if len(values) != len(batch.keys):
                raise ValueError(f"{len(values)} values for {len(batch.keys)} keys")
        except Exception as error:
            values = [error] * len(batch.keys)
        for key, value in zip(batch.keys, values, strict=True):
            self._settled[key] = value
            del self._loading[key]
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _forget(self, batch: _Batch[K]) -> None:
        for key in batch.keys:
            del self._loading[key]


@types.coroutine
def _one_turn() -> Generator[None, None, None]:
    """What `asyncio.sleep(0)` does (the task is resumed on the loop's next turn), without
    the coroutine around it."""
    yield


def _waiters(batches: list[_Batch[K]]) -> list[asyncio.Future[None]]:
    """One future per batch, registered with it: from now on the batch is wanted."""
    if not batches:
        return []
    loop = asyncio.get_running_loop()
    waiters = [loop.create_future() for _ in batches]
    for batch, waiter in zip(batches, waiters, strict=True):
        batch.waiters.append(waiter)
    return waiters


async def _wait_for(waiters: list[asyncio.Future[None]]) -> None:
    """Wait until each batch has run; every waiter was registered before the first wait, so
    no batch sees itself unwanted while this call is still to wait for it."""
    try:
        for waiter in waiters:
            await waiter
    except BaseException:  # cancelled: this call wants none of them any more
        for waiter in waiters:
            waiter.cancel()
        raise
