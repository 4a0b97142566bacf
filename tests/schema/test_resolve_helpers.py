"""The `async_helpers` compiled runs hand to resolvers behave as graphql-core's executor's."""

from __future__ import annotations

import asyncio

from schema.compiled import resolve_helpers


async def test_tracked_work_left_behind_still_runs_to_its_end() -> None:
    helpers = resolve_helpers()
    finished: list[str] = []

    async def side_effect(name: str) -> None:
        await asyncio.sleep(0.01)
        finished.append(name)

    helpers.track([side_effect("coroutine"), asyncio.ensure_future(side_effect("task")), 3])
    for _ in range(100):
        if len(finished) == 2:
            break
        await asyncio.sleep(0.01)
    assert sorted(finished) == ["coroutine", "task"]


async def test_gather_gives_every_result_in_order() -> None:
    async def value(n: int) -> int:
        await asyncio.sleep(0.001 * (3 - n))
        return n

    assert await resolve_helpers().gather([value(n) for n in range(3)]) == [0, 1, 2]
