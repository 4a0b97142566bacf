"""Access lines are written once per turn of the event loop, none lost, each to its stream."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest

from gateway.line_batch import LineBatch


class CountingStream(io.StringIO):
    """A stream that counts its writes (each is a system call on a real stderr)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("broken pipe")


class NotingHandler(logging.StreamHandler[io.StringIO]):
    """Keeps what `handleError` was told instead of printing it."""

    def __init__(self, stream: io.StringIO) -> None:
        super().__init__(stream)
        self.errors: list[logging.LogRecord] = []

    def handleError(self, record: logging.LogRecord) -> None:
        self.errors.append(record)


async def test_lines_of_one_turn_are_written_together_when_the_turn_ends() -> None:
    stream = CountingStream()
    handler = logging.StreamHandler(stream)
    batch = LineBatch()
    for n in range(3):
        batch.add(handler, f"line {n}")
    assert stream.getvalue() == ""  # not yet: the turn goes on
    await asyncio.sleep(0)
    assert stream.getvalue() == "line 0\nline 1\nline 2\n"
    assert stream.writes == 1


async def test_a_later_turn_gets_a_write_of_its_own() -> None:
    stream = CountingStream()
    handler = logging.StreamHandler(stream)
    batch = LineBatch()
    batch.add(handler, "first")
    await asyncio.sleep(0)
    batch.add(handler, "second")
    await asyncio.sleep(0)
    assert stream.getvalue() == "first\nsecond\n" and stream.writes == 2


async def test_a_handler_changed_within_the_turn_keeps_each_line_on_its_own_stream() -> None:
    old, new = io.StringIO(), io.StringIO()
    batch = LineBatch()
    batch.add(logging.StreamHandler(old), "before")
    batch.add(logging.StreamHandler(new), "after")
    assert old.getvalue() == "before\n"  # written as soon as the handler changed
    await asyncio.sleep(0)
    assert (old.getvalue(), new.getvalue()) == ("before\n", "after\n")


def test_without_a_running_loop_a_line_is_written_at_once() -> None:
    stream = io.StringIO()
    LineBatch().add(logging.StreamHandler(stream), "now")
    assert stream.getvalue() == "now\n"


async def test_a_broken_stream_reports_the_lost_lines_and_raises_nothing() -> None:
    handler = NotingHandler(BrokenStream())
    batch = LineBatch()
    batch.add(handler, "a")
    batch.add(handler, "b")
    await asyncio.sleep(0)
    (error,) = handler.errors
    assert error.getMessage() == "2 access lines lost"
    batch.add(handler, "c")  # the batch goes on after a failure
    await asyncio.sleep(0)
    assert [e.getMessage() for e in handler.errors][-1] == "1 access lines lost"


@pytest.mark.parametrize("terminator", ["\n", "\r\n"])
async def test_lines_end_with_the_handler_s_terminator(terminator: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.terminator = terminator
    batch = LineBatch()
    batch.add(handler, "x")
    batch.add(handler, "y")
    await asyncio.sleep(0)
    assert stream.getvalue() == f"x{terminator}y{terminator}"
