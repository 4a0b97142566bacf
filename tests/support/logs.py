"""Waiting for log records a server in another thread writes after its response has left."""

import asyncio
import logging
from collections.abc import Callable

import pytest

PATIENCE_SECONDS = 15  # generous: a loaded 2-core machine may take seconds to log


async def records_when_logged(
    caplog: pytest.LogCaptureFixture,
    wanted: Callable[[logging.LogRecord], bool],
    count: int,
) -> list[logging.LogRecord]:
    """The matching records once at least `count` are there (the access line follows the
    response, so a client can read its answer before the server has logged it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_SECONDS
    while True:
        found = [r for r in caplog.records if wanted(r)]
        if len(found) >= count or loop.time() > deadline:
            return found
        await asyncio.sleep(0.02)
