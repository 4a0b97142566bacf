"""JSON log lines carrying the request's trace id.

The trace id lives in a ContextVar (per task, so concurrent requests never mix them up); the
middleware sets it from an incoming `X-Trace-Id`/`traceparent` header or a fresh random one,
and returns it in `X-Trace-Id` so a client can quote it in a bug report. The middleware also
writes the one access line per request (uvicorn's own access log is off), its client-given
fields redacted and cut to a bounded length whether or not a RedactingFilter is installed,
with what the request did: the caller's key id, the endpoint (route template or GraphQL
operation), whether the response cache answered, and how many upstream calls it made.
"""

from __future__ import annotations

import logging
import random
import re
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, cast

import orjson
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.client_address import client_address
from gateway.line_batch import LineBatch
from gateway.observability.facts import RequestFacts, current_facts
from gateway.redaction import RedactedRecord, RedactingFilter, install_redaction, redact
from gateway.scope_headers import scope_headers
from storage.embedded import CHATTY_LOGGERS

trace_id_var: ContextVar[str | None] = ContextVar("marketgraph_trace_id", default=None)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-(?P<trace>[0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]{8,64}$")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "exception"}
_DROPPED = frozenset({"color_message"})
"""Extras no line shows: uvicorn's `color_message` repeats the message, unformatted and with
terminal colour codes."""
_NOT_EXTRAS = _STANDARD | _DROPPED
_TRACE_HEADERS = frozenset({b"traceparent", b"x-trace-id"})
# what TraceMiddleware hands each answered request to (metrics: gateway/observability)
RequestRecorder = Callable[[Scope, int, float, RequestFacts], None]
REDACTED_VALUES = 1024
OWN_LOGGERS = ("marketgraph", "gateway", "schema", "resolvers", "storage", "upstream", "domain")


class JsonFormatter(OrjsonFormatter):
    """One JSON object per line (python-json-logger): time, level, logger, message, trace_id
    and any `extra`; the exception as `exception` (the text the RedactingFilter left)."""

    def __init__(self) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields=_RENAMED,
            json_default=str,
            reserved_attrs=[*RESERVED_ATTRS, *_DROPPED],  # never walked into the line
        )
        self.converter = time.gmtime
        self._second = -1  # the second `_stamp` spells: most lines share it with the last one
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + (
            f".{int(record.msecs):03d}Z"
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data["level"] = str(log_data.get("level", "")).lower()
        log_data["trace_id"] = log_data.get("trace_id") or trace_id_var.get()
        return log_data

    def info_line(self, logger: str, message: str, fields: dict[str, Any]) -> str:
        """The line `format` makes of an INFO record made now, without a `trace_id` field of
        its own and with `fields` as its `extra`, built directly: no LogRecord, none of
        python-json-logger's generic field walk (the access line, once per request)."""
        now = time.time_ns()
        second, nanos = divmod(now, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        line = {
            "time": f"{self._stamp}.{nanos // 1_000_000:03d}Z",
            "level": "info",
            "logger": logger,
            "message": message,
            **fields,
            "trace_id": trace_id_var.get(),
        }
        return orjson.dumps(line, default=str).decode()  # every key is a str: no option needed


class TextFormatter(logging.Formatter):
    """A readable line for a terminal: time, level, logger, message, then `key=value`s."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.gmtime(record.created))
        extras = {k: v for k, v in record.__dict__.items() if k not in _NOT_EXTRAS}
        trace = getattr(record, "trace_id", None) or trace_id_var.get()
        extras.pop("trace_id", None)
        pairs = " ".join(f"{k}={v}" for k, v in extras.items() if v not in (None, ""))
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line += f" {pairs}" if pairs else ""
        line += f" [{trace[:8]}]" if trace else ""
        if record.exc_text:  # already formatted (and redacted by gateway/redaction.py)
            line += "\n" + record.exc_text
        elif record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "info", log_format: str = "auto") -> None:
    """Send every logger's records to stderr: JSON lines, or readable text on a terminal
    (`log_format` auto|json|text). Our loggers log at `level`; other libraries' only warnings
    and worse unless `level` is debug (uvicorn's start and stop lines stay: they say where
    the server listens)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if writes_text(log_format) else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    debug = level.lower() == "debug"
    root.setLevel(level.upper() if debug else max(logging.WARNING, _level(level)))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level.upper())
    for name in CHATTY_LOGGERS:  # the embedded server's: set to warning when it starts
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.error").setLevel(level.upper())
    # TraceMiddleware writes the one access line per request: uvicorn checks `hasHandlers()`
    # on its access logger, so without a path to a handler it writes none of its own
    logging.getLogger("uvicorn.access").propagate = False
    install_redaction()  # keys, Authorization values and apiKey= never reach the output


def writes_text(log_format: str) -> bool:
    """Whether `configure_logging(level, log_format)` writes readable text rather than JSON."""
    return log_format == "text" or (log_format == "auto" and sys.stderr.isatty())


def _level(name: str) -> int:
    value = logging.getLevelName(name.upper())
    return value if isinstance(value, int) else logging.INFO


def incoming_trace_id(headers: dict[str, str]) -> str:
    """Reuse a caller's trace id when it is well-formed, else make one."""
    match = _TRACEPARENT.match(headers.get("traceparent", ""))
    if match:
        return match["trace"]
    given = headers.get("x-trace-id", "")
    if _SAFE_ID.match(given):
        return given
    # not a secret (it is sent back and logged): 128 random bits as OpenTelemetry makes them,
    # without a system call per request (secrets.token_hex was 1.3 % of a small request)
    return f"{random.getrandbits(128):032x}"


class TraceMiddleware:
    """Pure ASGI: bind a trace id for the request, echo it back, log one access line; with
    `record`, hand it the request's status, seconds and facts first (one layer does both:
    each layer costs every request a frame and a `send` wrapper)."""

    def __init__(self, app: ASGIApp, *, record: RequestRecorder | None = None) -> None:
        self.app = app
        self.log = logging.getLogger("marketgraph.access")
        self._record = record
        # the access line's recurring values (method, path, client, endpoint) redacted once
        self._redacted = lru_cache(maxsize=REDACTED_VALUES)(redact)
        self._lines = LineBatch()  # written once per turn of the event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = incoming_trace_id(scope_headers(scope, _TRACE_HEADERS))
        token = trace_id_var.set(trace_id)
        facts = RequestFacts()
        facts_token = current_facts.set(facts)
        scope.setdefault("state", {})["trace_id"] = trace_id
        trace_header = (b"x-trace-id", trace_id.encode())
        status = 500
        started = time.perf_counter()

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), trace_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            seconds = time.perf_counter() - started
            try:
                if self._record is not None:
                    self._record(scope, status, seconds, facts)
            finally:
                self._log(scope, status, seconds, facts)
                current_facts.reset(facts_token)
                trace_id_var.reset(token)

    def _log(self, scope: Scope, status: int, seconds: float, facts: RequestFacts) -> None:
        """The access line (its fields are not even gathered when it would not be written);
        every string in it redacted here, so the RedactingFilter lets it pass as it is.
        Batched straight to the JSON handler when nothing else would see the record."""
        if not self.log.isEnabledFor(logging.INFO):
            return
        query = scope["query_string"]
        fields = {
            "method": self._redacted(scope["method"]),
            "path": self._redacted(scope["path"]),
            "query": redact(query.decode("latin-1")) if query else "",
            "client": self._redacted(client_address(scope)),
            "status": status,
            # what round(ms, 2) gives, without its decimal-string path (0.65 µs against 0.15)
            "duration_ms": round(seconds * 100_000) / 100,
            "principal_id": getattr(getattr(scope.get("user"), "principal", None), "key_id", None),
            "endpoint": None if facts.endpoint is None else self._redacted(facts.endpoint),
            "cache": facts.cache,
            "upstream_calls": facts.upstream_calls,
        }
        handler = json_handler_alone(self.log)
        if handler is not None:
            formatter = cast(JsonFormatter, handler.formatter)
            try:
                line = formatter.info_line(self.log.name, "request", fields)
            except Exception:  # the stock way below writes it, or says why not (handleError)
                pass
            else:
                self._lines.add(handler, line)
                return
        record = RedactedRecord(self.log.name, logging.INFO, __file__, 0, "request", (), None)
        record.__dict__.update(fields)
        self.log.handle(record)


def json_handler_alone(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The handler an INFO RedactedRecord of `logger` would reach when it is the only one on
    the way up: a plain stream handler with our JSON formatter, at INFO or below, filtered by
    RedactingFilters only (which pass such a record as it is). Else None: anything else (a
    test's capture handler, a filter of the logger's own) gets the record the stock way."""
    if logger.disabled or logger.filters:
        return None
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if found is not None:
                return None
            found = handler
        current = current.parent if current.propagate else None
    if (
        type(found) is not logging.StreamHandler
        or type(found.formatter) is not JsonFormatter
        or found.level > logging.INFO
    ):
        return None
    for kept in found.filters:  # a loop, not any(): a generator per request is a third of this
        if type(kept) is not RedactingFilter:
            return None
    return found
