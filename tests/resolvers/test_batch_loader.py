"""The batch loader: keys of one turn in one batch, each key's own outcome, kept for the request,
and nothing read for callers that went away first."""

from __future__ import annotations

import asyncio

import pytest

from resolvers.batch_loader import BatchLoader, sole_caller


class Tens:
    """A batch function that remembers its calls: k -> 10k, 2 -> an error of its own."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.gate: asyncio.Event | None = None  # set: batches wait for it

    async def __call__(self, keys: list[int]) -> list[int | Exception]:
        self.calls.append(list(keys))
        if self.gate is not None:
            await self.gate.wait()
        return [LookupError(f"no {k}") if k == 2 else k * 10 for k in keys]


async def test_keys_asked_for_in_one_turn_share_one_batch() -> None:
    tens = Tens()
    loader = BatchLoader(tens)
    one, many = await asyncio.gather(loader.load(1), loader.outcomes([3, 4, 1]))
    assert one == 10 and many == [30, 40, 10]
    assert tens.calls == [[1, 3, 4]]  # each key once


@pytest.mark.parametrize("sole", [False, True])
async def test_the_sole_caller_loads_at_once_and_others_after_a_turn(sole: bool) -> None:
    """A call in the `sole_caller` task loads without giving the loop a turn (nothing could
    join it); any other call first lets the callbacks already due run, whose keys would."""
    tens = Tens()
    loader = BatchLoader(tens)
    turned: list[int] = []
    asyncio.get_running_loop().call_soon(lambda: turned.append(len(tens.calls)))
    token = sole_caller.set(asyncio.current_task() if sole else None)
    try:
        assert await loader.load(3) == 30
    finally:
        sole_caller.reset(token)
    assert turned == ([] if sole else [0])  # loaded before the turn came / after it, unloaded


async def test_tasks_the_sole_caller_starts_still_share_one_batch() -> None:
    """They inherit `sole_caller` but are not that task: their keys wait a turn for each
    other, as a resolver that gathers its loads needs."""
    tens = Tens()
    loader = BatchLoader(tens)
    token = sole_caller.set(asyncio.current_task())
    try:
        three, four, many = await asyncio.gather(
            loader.load(3), loader.load(4), loader.outcomes([1, 2])
        )
    finally:
        sole_caller.reset(token)
    assert (three, four, many[0]) == (30, 40, 10)
    assert tens.calls == [[3, 4, 1, 2]]


async def test_single_loads_join_the_batch_of_their_turn() -> None:
    tens = Tens()
    loader = BatchLoader(tens)
    found = await asyncio.gather(loader.load(3), loader.load(4), loader.load(3), loader.load(1))
    assert list(found) == [30, 40, 30, 10]
    assert tens.calls == [[3, 4, 1]]


async def test_an_error_is_its_key_s_outcome_only() -> None:
    loader = BatchLoader(Tens())
    outcomes = await loader.outcomes([1, 2, 3])
    assert outcomes[0] == 10 and outcomes[2] == 30
    assert isinstance(outcomes[1], LookupError) and str(outcomes[1]) == "no 2"
    with pytest.raises(LookupError, match="no 2"):
        await loader.load(2)
    with pytest.raises(LookupError, match="no 2"):
        await loader.load_many([1, 2])
    assert await loader.load_many([3, 1]) == [30, 10]


async def test_a_key_s_outcome_is_kept_for_the_request() -> None:
    tens = Tens()
    loader = BatchLoader(tens)
    first = await loader.outcomes([1, 2])
    again = await loader.outcomes([2, 1, 5])
    assert again[0] is first[1]  # the same error, not a second load
    assert again[1:] == [10, 50]
    assert tens.calls == [[1, 2], [5]]  # only the new key is loaded


async def test_a_failed_batch_is_every_key_s_outcome() -> None:
    async def broken(keys: list[int]) -> list[int | Exception]:
        raise ConnectionError("database gone")

    outcomes = await BatchLoader(broken).outcomes([1, 2])
    assert [type(o) for o in outcomes] == [ConnectionError, ConnectionError]


async def test_a_batch_function_answering_the_wrong_number_of_values_fails_the_batch() -> None:
    async def short(keys: list[int]) -> list[int | Exception]:
        return [1]

    outcomes = await BatchLoader(short).outcomes([1, 2])
    assert all(isinstance(o, ValueError) and "1 values for 2 keys" in str(o) for o in outcomes)


async def test_keys_already_loading_are_waited_for_beside_a_new_batch() -> None:
    tens = Tens()
    tens.gate = asyncio.Event()
    loader = BatchLoader(tens)
    first = asyncio.create_task(loader.outcomes([1, 3]))
    await asyncio.sleep(0.01)  # the first batch runs, held at the gate
    second = asyncio.create_task(loader.outcomes([3, 4]))  # 3 is loading; 4 is new
    await asyncio.sleep(0.01)
    again = asyncio.create_task(loader.load(3))  # loading: waited for, not loaded again
    await asyncio.sleep(0.01)
    assert tens.calls == [[1, 3], [4]]
    tens.gate.set()
    assert await first == [10, 30] and await second == [30, 40] and await again == 30


async def test_a_batch_nobody_waits_for_any_more_is_skipped_and_forgotten() -> None:
    tens = Tens()
    loader = BatchLoader(tens)
    task = asyncio.create_task(loader.outcomes([1, 2, 3]))
    await asyncio.sleep(0)  # the keys are asked for; the batch is due on the next turn
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.01)  # the batch's turn
    assert tens.calls == []
    assert await loader.outcomes([3]) == [30] and tens.calls == [[3]]


async def test_a_batch_still_wanted_by_one_caller_runs() -> None:
    tens = Tens()
    loader = BatchLoader(tens)
    leaving = asyncio.create_task(loader.outcomes([1]))
    staying = asyncio.create_task(loader.outcomes([1, 3]))
    await asyncio.sleep(0)
    leaving.cancel()
    assert await staying == [10, 30] and tens.calls == [[1, 3]]


async def test_a_batch_of_one_caller_is_loaded_in_that_caller_s_task() -> None:
    tens = Tens()
    tens.gate = asyncio.Event()
    loader = BatchLoader(tens)
    before = asyncio.all_tasks()
    waiting = asyncio.create_task(loader.outcomes([1, 3]))
    await asyncio.sleep(0.01)  # the batch is loading, held at the gate
    assert tens.calls == [[1, 3]]
    assert asyncio.all_tasks() - before == {waiting}  # no task of its own
    tens.gate.set()
    assert await waiting == [10, 30]


async def test_a_caller_cancelled_while_its_batch_loads_leaves_the_others_their_keys() -> None:
    tens = Tens()
    tens.gate = asyncio.Event()
    loader = BatchLoader(tens)
    leading = asyncio.create_task(loader.outcomes([1]))
    await asyncio.sleep(0.01)  # its batch is loading, held at the gate
    waiting = asyncio.create_task(loader.outcomes([1]))  # waits for that batch
    await asyncio.sleep(0.01)
    leading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leading
    tens.gate.set()
    assert await asyncio.wait_for(waiting, 5) == [10]
    assert tens.calls == [[1], [1]]  # loaded again: the cancelled load kept nothing


async def test_a_caller_cancelled_while_its_batch_loads_alone_keeps_nothing() -> None:
    tens = Tens()
    tens.gate = asyncio.Event()
    loader = BatchLoader(tens)
    leading = asyncio.create_task(loader.outcomes([1]))
    await asyncio.sleep(0.01)
    leading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leading
    assert [t for t in asyncio.all_tasks() if "BatchLoader" in repr(t.get_coro())] == []
    tens.gate.set()
    assert await loader.outcomes([1]) == [10] and tens.calls == [[1], [1]]


async def test_a_batch_cancelled_while_it_runs_cancels_its_waiters_and_keeps_nothing() -> None:
    tens = Tens()
    tens.gate = asyncio.Event()
    loader = BatchLoader(tens)
    leading = asyncio.create_task(loader.outcomes([1]))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(loader.outcomes([1]))
    await asyncio.sleep(0.01)
    leading.cancel()  # the batch goes to a task of its own, for the caller still waiting
    await asyncio.sleep(0.01)
    running = [t for t in asyncio.all_tasks() if "BatchLoader._run" in repr(t.get_coro())]
    (batch,) = running
    batch.cancel()  # as at shutdown
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)
    tens.gate.set()
    assert await loader.outcomes([1]) == [10] and tens.calls == [[1], [1], [1]]
