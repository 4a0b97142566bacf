"""A per-request batch loader that waits on one future per call, not one per key.

Keys asked for in one turn of the event loop are loaded by one call of the batch function
(on the next turn), and each key's outcome is kept for the rest of the request, as with
Strawberry's DataLoader. That DataLoader makes a future per key, each with a done callback
that the event loop runs on its own turn: for `symbols(tickers: [50 tickers])` with
`latestBar` and `aggregate`, 100 futures and 100 callbacks. Here a call for many keys
(`outcomes`) waits on one future, so the 50-symbol request costs what a few keys cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
LoadFn = Callable[[list[K]], Awaitable[Sequence[V | Exception]]]


class _Batch(Generic[K]):
    """Keys loaded by one call of the batch function, and the calls waiting for them."""

    __slots__ = ("keys", "task", "waiters")

    def __init__(self) -> None:
        self.keys: list[K] = []
        self.waiters: list[asyncio.Future[None]] = []
        self.task: asyncio.Task[None] | None = None


class BatchLoader(Generic[K, V]):
    """Loads keys through `load_fn` (keys in, one value or exception per key out, in order).

    A batch whose every waiter was cancelled before it ran is skipped, and its keys are
    not remembered: asked for again, they are loaded again.
    """

    def __init__(self, load_fn: LoadFn[K, V]) -> None:
        self._load_fn = load_fn
        self._settled: dict[K, V | Exception] = {}
        self._loading: dict[K, _Batch[K]] = {}
        self._next: _Batch[K] | None = None

    async def outcomes(self, keys: Iterable[K]) -> list[V | Exception]:
        """Each key's value, or the exception that is its outcome (batch failures too)."""
        keys = list(keys)
        batches: list[_Batch[K]] = []
        for key in keys:
            if key in self._settled:
                continue
            batch = self._loading.get(key)
            if batch is None:
                batch = self._next or self._schedule()
                batch.keys.append(key)
                self._loading[key] = batch
            if batch not in batches:
                batches.append(batch)
        if batches:
            await _wait_for(batches)
        return [self._settled[key] for key in keys]

    async def load(self, key: K) -> V:
        """The key's value; its exception raised."""
        (outcome,) = await self.outcomes((key,))
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

    def _schedule(self) -> _Batch[K]:
        batch: _Batch[K] = _Batch()
        self._next = batch
        asyncio.get_running_loop().call_soon(self._start, batch)
        return batch

    def _start(self, batch: _Batch[K]) -> None:
        self._next = None
        if all(waiter.cancelled() for waiter in batch.waiters):
            self._forget(batch)
            return
        batch.task = asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: _Batch[K]) -> None:
        try:
            values: list[V | Exception] = list(await self._load_fn(batch.keys))
            if len(values) != len(batch.keys):
                raise ValueError(f"{len(values)} values for {len(batch.keys)} keys")
        except Exception as error:
            values = [error] * len(batch.keys)
        except BaseException:  # cancelled: nothing is known about these keys
            self._forget(batch)
            for waiter in batch.waiters:
                waiter.cancel()
            raise
        for key, value in zip(batch.keys, values, strict=True):
            self._settled[key] = value
            del self._loading[key]
        for waiter in batch.waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _forget(self, batch: _Batch[K]) -> None:
        for key in batch.keys:
            del self._loading[key]


async def _wait_for(batches: list[_Batch[K]]) -> None:
    """Wait until each batch has run; every waiter is registered before the first wait, so
    no batch sees itself unwanted while this call is still to wait for it."""
    loop = asyncio.get_running_loop()
    waiters = [loop.create_future() for _ in batches]
    for batch, waiter in zip(batches, waiters, strict=True):
        batch.waiters.append(waiter)
    try:
        for waiter in waiters:
            await waiter
    except BaseException:  # cancelled: this call wants none of them any more
        for waiter in waiters:
            waiter.cancel()
        raise
