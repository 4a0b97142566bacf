"""Loading many keys for a batch resolver (resolvers/bars.py `_load_each`): one loader batch,
each key's own outcome, and nothing read for a request that was cancelled first."""

from __future__ import annotations

import asyncio

import pytest

from resolvers.bars import _load_each
from resolvers.batch_loader import BatchLoader


def tens(calls: list[list[int]]) -> BatchLoader[int, int]:
    async def load(keys: list[int]) -> list[int | Exception]:
        calls.append(list(keys))
        return [LookupError(f"no {k}") if k == 2 else k * 10 for k in keys]

    return BatchLoader(load)


async def test_every_key_comes_from_one_batch_with_its_own_outcome() -> None:
    calls: list[list[int]] = []
    refused = ValueError("refused before loading")
    keys: list[int | Exception] = [1, refused, 2, 3]
    outcomes = await _load_each(tens(calls), keys)
    assert calls == [[1, 2, 3]]
    assert outcomes[0] == 10 and outcomes[1] is refused and outcomes[3] == 30
    assert isinstance(outcomes[2], LookupError) and str(outcomes[2]) == "no 2"


async def test_a_failed_batch_is_each_keys_outcome() -> None:
    async def broken(keys: list[int]) -> list[int]:
        raise ConnectionError("database gone")

    outcomes = await _load_each(BatchLoader(broken), [1, 2])
    assert [type(o) for o in outcomes] == [ConnectionError, ConnectionError]


async def test_a_cancelled_load_cancels_every_key_and_reads_nothing() -> None:
    calls: list[list[int]] = []
    loader = tens(calls)
    task = asyncio.create_task(_load_each(loader, [1, 2, 3]))
    await asyncio.sleep(0)  # the keys are asked for; the batch is due on the next turn
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.01)  # the batch's turn
    assert calls == []  # the loader skipped the batch: no waiter was left
    refetched = await _load_each(loader, [3])  # a cancelled key is not a cached answer
    assert refetched == [30] and calls == [[3]]
