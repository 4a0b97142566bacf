"""Keep secrets out of logs: API keys, Authorization values, `apiKey=` and URL passwords.

`RedactingFilter` rewrites each record it sees (message with its arguments, `extra` fields,
exception text) before any handler formats it. Logger filters do not see records propagated
from child loggers, so `install_redaction()` puts the filter on the root logger's *handlers*
(and on the root logger itself); call it after handlers are configured.

Log inputs come from clients (paths, query strings, headers), so every string is cut to a
bounded length before the patterns run, and every pattern is linear in its input: it starts
only at a literal (`://`, `mg_`, a credential name), its repetitions are possessive (`*+`,
`++`: never given back, so a failed match costs one scan) and no two of them can match the
same characters. A cut that splits a secret redacts the part that is left.
"""

from __future__ import annotations

import logging
import re
from itertools import islice
from typing import Any

REDACTED = "[REDACTED]"
TRUNCATED = "…[truncated]"
"""Ends a string that was cut; `_NAMED` knows it, so it is never taken for a value."""
MAX_CHARS = 2000
"""Longest string a log field keeps (messages, `extra` values, the access line's fields)."""
MAX_EXCEPTION_CHARS = 16_000
"""Longest traceback or stack text kept: long enough for a real one."""
MAX_ITEMS = 100
"""Most items of one container a log field keeps."""
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_MAX_DEPTH = 6
# marketgraph keys (`mg_` + 43 url-safe characters); shorter `mg_` names are table names etc.
_API_KEY = re.compile(r"mg_[A-Za-z0-9_\-]{16,}+")
# name: value / name=value / 'name': 'value' / (b'name', b'value'), optionally "Bearer value"
_NAMED = re.compile(
    r"(?P<name>authorization|x-api-key|api[_-]?key|password|passwd)"
    r"(?P<sep>['\"]?\s*+[:=]\s*+(?:b?['\"])?|['\"]?,\s*+b?['\"])"
    r"(?!(?:(?:bearer|basic|token)\s++)?(?:\[REDACTED\]|…\[truncated\]))"  # nothing to hide
    r"(?P<scheme>(?:bearer|basic|token)\s++)?"
    r"(?P<value>[^\s'\",;&}\])]++)",
    re.IGNORECASE,
)
# a bearer token wherever it appears, e.g. quoted in an exception message
_BEARER = re.compile(
    r"\b(?P<scheme>bearer\s++)(?!\[REDACTED\])[A-Za-z0-9._~+/=\-]++", re.IGNORECASE
)
# scheme://user:password@host, anchored on `://` (the scheme does not matter): a pattern that
# began with the scheme would retry at every letter of a long run of letters (quadratic)
_URL_PASSWORD = re.compile(r"(?P<head>://[^:/@\s]*+:)[^@\s/]++@")
# what a cut can leave at the end of a string: a key or URL password without its end
_CUT_KEY = re.compile(r"mg_[A-Za-z0-9_\-]{0,15}+\Z")
_CUT_URL_PASSWORD = re.compile(r"(?P<head>://[^:/@\s]*+:)[^@\s/]*+\Z")
# field names whose whole value is secret: `api_key`, `polygon_api_key`, `X-API-Key`, ...
_SENSITIVE_NAME = re.compile(r"(?:authorization|api[_-]?key|password|passwd)\Z", re.IGNORECASE)


def redact(text: str, limit: int = MAX_CHARS) -> str:
    """`text` with every API key, credential and URL password replaced, cut to `limit`
    characters (ending in TRUNCATED) when longer."""
    room = limit - len(TRUNCATED)
    if len(text) <= limit:
        cleaned = _scrub(text)
        if len(cleaned) <= limit:
            return cleaned
    else:
        cleaned = _scrub(_cut(text, room))
    return _cut(cleaned, room) + TRUNCATED  # redaction can lengthen ("=x" -> "=[REDACTED]")


_TRIGGERS = ("mg_", "://", "bearer", "authorization", "apikey", "api_key", "api-key", "passw")
"""A literal each pattern starts with or must contain, lowercased: ASCII text holding none of
them cannot match any pattern (x-api-key contains api-key; password and passwd, passw)."""


def _scrub(text: str) -> str:
    """`text` with every secret the patterns find redacted. Most log text (a query string, a
    path, an address) holds none: for ASCII text, a search for the literals the patterns need
    rules that out at a tenth of the patterns' cost (a 159-character query string: 7 µs). Text
    beyond ASCII always meets the patterns, whose case-insensitive matching also takes
    non-ASCII letters (the Kelvin sign for k, the long s for s)."""
    if text.isascii():
        lowered = text.lower()
        for trigger in _TRIGGERS:  # (a loop: `any` over a generator costs twice as much)
            if trigger in lowered:
                break
        else:
            return text
    return _patterns(text)


def _patterns(text: str) -> str:
    text = _NAMED.sub(lambda m: f"{m['name']}{m['sep']}{m['scheme'] or ''}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m['scheme']}{REDACTED}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}@", text)
    return _API_KEY.sub("mg_" + REDACTED, text)


def _cut(text: str, room: int) -> str:
    """At most `room` characters of `text`; a key or URL password split by the cut is
    redacted (what follows a credential name is redacted by `_NAMED` whatever its length)."""
    if len(text) <= room:
        return text
    kept = text[: max(room - len(REDACTED), 0)]
    start = kept.rfind("[", -len(REDACTED))
    if start >= 0 and REDACTED.startswith(kept[start:]):  # a cut "[REDAC": make it whole
        return kept[:start] + REDACTED
    kept = _CUT_URL_PASSWORD.sub(lambda m: m["head"] + REDACTED, kept)
    return _CUT_KEY.sub("mg_" + REDACTED, kept)


def redact_value(value: Any, depth: int = 0) -> Any:
    """A copy of `value` safe to log: strings redacted and bounded, containers walked (at most
    MAX_ITEMS items each), objects by `str`."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes | bytearray):
        return redact(bytes(value[: MAX_CHARS * 4]).decode("utf-8", "replace"))
    if depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        return {
            (redact(k) if isinstance(k, str) else k): REDACTED
            if isinstance(k, str) and _SENSITIVE_NAME.search(k[-MAX_CHARS:])
            else redact_value(v, depth + 1)
            for k, v in islice(value.items(), MAX_ITEMS)
        } | ({TRUNCATED: len(value) - MAX_ITEMS} if len(value) > MAX_ITEMS else {})
    if isinstance(value, tuple | list | set | frozenset):
        items = [redact_value(v, depth + 1) for v in islice(value, MAX_ITEMS)]
        items += [TRUNCATED] if len(value) > MAX_ITEMS else []
        return tuple(items) if isinstance(value, tuple) else items
    text = str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


class RedactedRecord(logging.LogRecord):
    """A record whose maker redacted its message and every field it added (with `redact`,
    as the filter would): RedactingFilter passes it as it is. Made by the access line, whose
    fields are few and known, so the filter's walk over every record field is not paid on
    every request."""


class RedactingFilter(logging.Filter):
    """Rewrites records in place so that no handler can format a secret; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if type(record) is RedactedRecord:
            return True
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
                REDACTED if _SENSITIVE_NAME.search(name[-MAX_CHARS:]) else redact_value(value)
            )
        self._redact_exception(record)
        return True

    @staticmethod
    def _redact_exception(record: logging.LogRecord) -> None:
        if record.stack_info:
            record.stack_info = redact(record.stack_info, MAX_EXCEPTION_CHARS)
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            cleaned = redact(text, MAX_EXCEPTION_CHARS)
            record.exc_text = cleaned
            if cleaned != text:  # formatters re-render exc_info; only exc_text is clean now
                record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, MAX_EXCEPTION_CHARS)


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
