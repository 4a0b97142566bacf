"""Hypothesis properties whose checks are coroutines on the test's own event loop.

Hypothesis runs a property synchronously, yet the checks need the loop the database fixtures
live on: the property runs in a worker thread and hands each check to that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from hypothesis import example, given, settings
from hypothesis import strategies as st

T = TypeVar("T")


async def check_each_drawn(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Coroutine[Any, Any, None]],
    *,
    always: Sequence[T] = (),
    **options: Any,
) -> None:
    """Run `check` on values drawn from `strategy`, and on each of `always` every time, with
    Hypothesis `settings(**options)`; a failing check fails (and shrinks) as any property."""
    loop = asyncio.get_running_loop()

    @settings(**options)
    @given(strategy)
    def property_(value: T) -> None:
        asyncio.run_coroutine_threadsafe(check(value), loop).result(timeout=60)

    for value in always:
        property_ = example(value)(property_)
    await asyncio.to_thread(property_)
