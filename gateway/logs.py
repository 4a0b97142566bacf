"""JSON log lines carrying the request's trace id.

The trace id lives in a ContextVar (per task, so concurrent requests never mix them up); the
middleware sets it from an incoming `X-Trace-Id`/`traceparent` header or a fresh random one,
and returns it in `X-Trace-Id` so a client can quote it in a bug report. The middleware also
writes the one access line per request (uvicorn's own access log is off), its client-given
fields redacted and cut to a bounded length whether or not a RedactingFilter is installed.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.client_address import client_address
from gateway.redaction import install_redaction, redact

trace_id_var: ContextVar[str | None] = ContextVar("marketgraph_trace_id", default=None)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-(?P<trace>[0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]{8,64}$")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace_id and any `extra`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None) or trace_id_var.get(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_text:  # already formatted (and redacted by gateway/redaction.py)
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info") -> None:
    """Send every logger's records to stderr as JSON lines (UTC timestamps)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # TraceMiddleware writes the one access line per request: uvicorn checks `hasHandlers()`
    # on its access logger, so without a path to a handler it writes none of its own
    logging.getLogger("uvicorn.access").propagate = False
    install_redaction()  # keys, Authorization values and apiKey= never reach the output


def incoming_trace_id(headers: dict[str, str]) -> str:
    """Reuse a caller's trace id when it is well-formed, else make one."""
    match = _TRACEPARENT.match(headers.get("traceparent", ""))
    if match:
        return match["trace"]
    given = headers.get("x-trace-id", "")
    return given if _SAFE_ID.match(given) else secrets.token_hex(16)


class TraceMiddleware:
    """Pure ASGI: bind a trace id for the request, echo it back, log one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("marketgraph.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        trace_id = incoming_trace_id(headers)
        token = trace_id_var.set(trace_id)
        scope.setdefault("state", {})["trace_id"] = trace_id
        status = 500
        started = time.perf_counter()

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-trace-id", trace_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            self.log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": redact(scope["path"]),
                    "query": redact(scope["query_string"].decode("latin-1")),
                    "client": client_address(scope),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            trace_id_var.reset(token)
