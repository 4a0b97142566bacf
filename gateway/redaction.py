"""Keep secrets out of logs: API keys, Authorization values, `apiKey=` and URL passwords.

`RedactingFilter` rewrites each record it sees (message with its arguments, `extra` fields,
exception text) before any handler formats it. Logger filters do not see records propagated
from child loggers, so `install_redaction()` puts the filter on the root logger's *handlers*
(and on the root logger itself); call it after handlers are configured.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[REDACTED]"
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_MAX_DEPTH = 6
# marketgraph keys (`mg_` + 43 url-safe characters); shorter `mg_` names are table names etc.
_API_KEY = re.compile(r"mg_[A-Za-z0-9_\-]{16,}")
# name: value / name=value / 'name': 'value' / (b'name', b'value'), optionally "Bearer value"
_NAMED = re.compile(
    r"(?P<name>authorization|x-api-key|api[_-]?key|password|passwd)"
    r"(?P<sep>['\"]?\s*[:=]\s*(?:b?['\"])?|['\"]?,\s*b?['\"])"
    r"(?!(?:(?:bearer|basic|token)\s+)?\[REDACTED\])"  # already redacted: leave it be
    r"(?P<scheme>(?:bearer|basic|token)\s+)?"
    r"(?P<value>[^\s'\",;&}\])]+)",
    re.IGNORECASE,
)
# a bearer token wherever it appears, e.g. quoted in an exception message
_BEARER = re.compile(r"\b(?P<scheme>bearer\s+)(?!\[REDACTED\])[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
# scheme://user:password@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE)
# field names whose whole value is secret: `api_key`, `polygon_api_key`, `X-API-Key`, ...
_SENSITIVE_NAME = re.compile(r"(?:authorization|api[_-]?key|password|passwd)$", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with every API key, credential header/parameter and URL password replaced."""
    text = _NAMED.sub(lambda m: f"{m['name']}{m['sep']}{m['scheme'] or ''}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m['scheme']}{REDACTED}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}@", text)
    return _API_KEY.sub("mg_" + REDACTED, text)


def redact_value(value: Any, depth: int = 0) -> Any:
    """A copy of `value` safe to log: strings redacted, containers walked, objects by `str`."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    if depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and _SENSITIVE_NAME.search(k)
            else redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, tuple):
        return tuple(redact_value(v, depth + 1) for v in value)
    if isinstance(value, list | set | frozenset):
        return [redact_value(v, depth + 1) for v in value]
    text = str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


class RedactingFilter(logging.Filter):
    """Rewrites records in place so that no handler can format a secret; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: still never echo its arguments verbatim
            record.msg = redact(str(record.msg))
            record.args = tuple(redact(repr(a)) for a in _args(record))
        else:
            record.msg = redact(message)
            record.args = ()
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD:
                continue
            record.__dict__[name] = (
                REDACTED if _SENSITIVE_NAME.search(name) else redact_value(value)
            )
        self._redact_exception(record)
        return True

    @staticmethod
    def _redact_exception(record: logging.LogRecord) -> None:
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            cleaned = redact(text)
            record.exc_text = cleaned
            if cleaned != text:  # formatters re-render exc_info; only exc_text is clean now
                record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)


def _args(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    if args is None:
        return ()
    return tuple(args.values()) if isinstance(args, dict) else tuple(args)


def install_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Attach one RedactingFilter to `logger` (default: root) and each of its handlers."""
    logger = logger or logging.getLogger()
    existing = [f for f in logger.filters if isinstance(f, RedactingFilter)]
    redactor = existing[0] if existing else RedactingFilter()
    for target in (logger, *logger.handlers):
        if redactor not in target.filters:
            target.addFilter(redactor)
    return redactor
