"""The access line written straight to the JSON handler is the line the stock way writes.

With the logging `configure_logging` sets up (one JSON stream handler on the root), the access
line skips LogRecord and python-json-logger; anything else on the way (a capture handler, a
filter) gets the record the stock way. Either way a reader of stderr sees the same line.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import time
from collections.abc import Iterator

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message

from gateway.logs import OWN_LOGGERS, JsonFormatter, TraceMiddleware, configure_logging
from gateway.redaction import REDACTED, RedactedRecord
from tests.support.asgi import asgi_get, logging_restored

KEY = "mg_Zq9XkW3vT7pLr2YsN8bHc4JdF6gMa1QeU5oIy0tRx_w"  # shaped like a real key


class FlushCounting(io.StringIO):
    """stderr that says how much of what was written had been flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = 0

    def flush(self) -> None:
        self.flushed = len(self.getvalue())


class Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise ValueError("I/O operation on closed file")


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    names = ("", *OWN_LOGGERS, "marketgraph.access", "uvicorn", "uvicorn.error", "uvicorn.access")
    with logging_restored(names):
        yield


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def _get(path: str, query: str) -> list[Message]:
    app = TraceMiddleware(Starlette(routes=[Route("/{rest:path}", _hello)]))
    return await asgi_get(app, path, query, "127.0.0.1", [(b"x-trace-id", b"trace-0123456789")])


def _configured(monkeypatch: pytest.MonkeyPatch, stderr: io.StringIO) -> None:
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging("info", "json")


async def test_the_direct_line_is_the_line_the_stock_way_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    direct = FlushCounting()
    _configured(monkeypatch, direct)
    await _get(f"/a/{KEY}", f"apiKey={KEY}&x=1")
    await asyncio.sleep(0)  # one turn of the loop: the batched line is written

    stock = io.StringIO()
    _configured(monkeypatch, stock)
    seen: list[logging.LogRecord] = []

    def noting(record: logging.LogRecord) -> bool:  # a filter of the logger's own
        seen.append(record)
        return True

    logging.getLogger("marketgraph.access").addFilter(noting)
    await _get(f"/a/{KEY}", f"apiKey={KEY}&x=1")
    assert seen, "the second request went the stock way"

    (line,) = [orjson.loads(x) for x in direct.getvalue().splitlines()]
    (expected,) = [orjson.loads(x) for x in stock.getvalue().splitlines()]
    assert list(line) == list(expected)  # the same fields in the same order
    assert abs(_seconds(line["time"]) - _seconds(expected["time"])) < 5
    assert isinstance(line["duration_ms"], float)
    line["time"] = expected["time"] = line["duration_ms"] = expected["duration_ms"] = ""
    assert line == expected
    assert line["path"] == f"/a/mg_{REDACTED}" and line["query"] == f"apiKey={REDACTED}&x=1"
    assert line["trace_id"] == "trace-0123456789" and line["status"] == 200
    assert direct.flushed == len(direct.getvalue())  # on its way within the turn


def _seconds(stamp: str) -> float:
    return time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))


@pytest.mark.parametrize("nanos", [1_733_000_000_123_456_789, 1_733_000_001_987_000_000])
def test_the_direct_time_is_the_formatter_s(monkeypatch: pytest.MonkeyPatch, nanos: int) -> None:
    formatter = JsonFormatter()
    formatter.info_line("x", "y", {})  # another second remembered first
    monkeypatch.setattr(time, "time_ns", lambda: nanos)
    record = RedactedRecord("x", logging.INFO, __file__, 0, "y", (), None)
    record.created, record.msecs = nanos / 1e9, (nanos // 1_000_000) % 1000
    assert orjson.loads(formatter.info_line("x", "y", {}))["time"] == formatter.formatTime(record)


async def test_a_capture_handler_still_gets_the_record(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stderr = io.StringIO()
    _configured(monkeypatch, stderr)
    logging.getLogger().addHandler(caplog.handler)
    await _get("/b", "")
    assert [r.__dict__["path"] for r in caplog.records if r.name == "marketgraph.access"] == ["/b"]
    assert orjson.loads(stderr.getvalue())["path"] == "/b"


async def test_a_broken_stream_costs_the_request_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    _configured(monkeypatch, Broken())
    monkeypatch.setattr(logging, "raiseExceptions", False)
    sent = await _get("/c", "")
    await asyncio.sleep(0)  # the write fails here, after the response
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"hello"


@pytest.mark.parametrize(
    ("seconds", "written"),
    [(0.0123456, 12.35), (0.0123449, 12.34), (1.5, 1500.0), (0.000004, 0.0), (0.000006, 0.01)],
)
async def test_the_duration_is_written_in_milliseconds_to_two_places(
    monkeypatch: pytest.MonkeyPatch, seconds: float, written: float
) -> None:
    stderr = io.StringIO()
    _configured(monkeypatch, stderr)
    readings = iter([100.0, 100.0 + seconds])
    monkeypatch.setattr("gateway.logs.time.perf_counter", lambda: next(readings))
    await _get("/timed", "")
    monkeypatch.undo()  # the loop's own clock reads on
    await asyncio.sleep(0)
    (line,) = [orjson.loads(x) for x in stderr.getvalue().splitlines()]
    assert line["duration_ms"] == written


async def test_a_filter_of_another_kind_on_the_handler_still_judges_the_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = io.StringIO()
    _configured(monkeypatch, stderr)
    judged: list[str] = []

    def dropping_timed(record: logging.LogRecord) -> bool:  # e.g. one that drops probes
        judged.append(record.getMessage())
        return getattr(record, "path", None) != "/timed"

    (handler,) = logging.getLogger().handlers
    handler.addFilter(dropping_timed)
    await _get("/timed", "")
    await _get("/kept", "")
    await asyncio.sleep(0)
    assert judged == ["request", "request"]
    assert [orjson.loads(x)["path"] for x in stderr.getvalue().splitlines()] == ["/kept"]
