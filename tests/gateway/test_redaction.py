"""Log redaction stays linear and bounded whatever a client sends, and still hides secrets.

A request carries client-chosen text into the logs (path, query string, X-Forwarded-For); the
redaction patterns run on the event loop, so one super-linear pattern lets a single keyless
request stall every other request. The ceiling below is generous (the work takes
milliseconds); a quadratic pattern misses it by orders of magnitude on these inputs.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.logs import JsonFormatter, TraceMiddleware
from gateway.observability.facts import RequestFacts
from gateway.redaction import (
    MAX_CHARS,
    MAX_EXCEPTION_CHARS,
    REDACTED,
    TRUNCATED,
    RedactingFilter,
    _patterns,
    _scrub,
    redact,
)
from tests.support.asgi import asgi_get

MB = 1_000_000
CEILING_SECONDS = 2.0
KEY = "mg_Zq9XkW3vT7pLr2YsN8bHc4JdF6gMa1QeU5oIy0tRx_w"  # shaped like a real key
ADVERSARIAL = {
    "letters": "a" * MB,
    "letters and digits": "a1" * (MB // 2),
    "schemes": "a://" * (MB // 4),
    "scheme, user, colon": "a://b:" * (MB // 6),
    "one scheme, many colons": "a://" + "b:c" * (MB // 3),
    "unterminated password": "a://:" + "b" * MB,
    "key prefixes": "mg_" * (MB // 3),
    "short keys": ("mg_" + "a" * 10 + "!") * (MB // 14),
    "named parameters": "apikey=" * (MB // 7),
    "name then spaces": "apikey=" + " " * MB,
    "password then spaces": "password:" + " " * MB,
    "names without values": ("password" + " " * 100) * (MB // 108),
    "bearer then spaces": "password: bearer" + " " * MB,
    "bearers": "bearer " * (MB // 7),
    "quoted header names": "x-api-key'," * (MB // 11),
    "colons": ":" * MB,
    "slashes": "/" * MB,
}


@contextlib.contextmanager
def ceiling(seconds: float = CEILING_SECONDS) -> Iterator[None]:
    """Fail (interrupting a runaway regex: `re` checks for signals) after `seconds`."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"more than {seconds} s: redaction is not linear in its input")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


LONG_S = "\u017f"  # the long s: case-insensitively an s
PIECES = st.sampled_from([
    "mg_", KEY, "://", "u:p@h", "Bearer ", "bEaReR x", "Authorization: ", "X-API-Key=",
    "api_key=", "apiKey=", "API-KEY:", "password=", "PASSWD:", f"pa{LONG_S * 2}word=",
    "\u212a", LONG_S, "'", '"', ", b'", "=", ":", " ", "&", "a", "Z", "9", "é", "%3A%2F%2F",
])  # fmt: skip


@given(text=st.lists(PIECES, max_size=12).map("".join))
def test_text_no_pattern_can_match_is_told_apart_without_running_them(text: str) -> None:
    """The literal search that spares most text the patterns never spares one they change
    (non-ASCII look-alikes included: the long s matches `s` case-insensitively)."""
    assert _scrub(text) == _patterns(text)


@pytest.mark.parametrize(
    "text",
    [KEY, "https://u:secret@host", "Bearer abc.def", "Authorization=abc", "apikey=abc",
     "API_KEY=abc", "x-api-key: abc", "Api-Key:abc", "password=abc", "PASSWD: abc"],
)  # fmt: skip
def test_each_pattern_still_redacts_its_secret(text: str) -> None:
    """One secret per literal the search looks for (each is the only one in its text)."""
    assert _scrub(text) == _patterns(text) != text


def test_a_look_alike_password_name_is_still_redacted() -> None:
    name = f"pa{LONG_S * 2}word"
    assert _scrub(f"{name}=hunter2") == f"{name}={REDACTED}"
    assert _scrub("symbol=AAPL&limit=1") == "symbol=AAPL&limit=1"


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_every_pattern_is_linear_on_a_megabyte(text: str) -> None:
    """The patterns alone, with no length bound to hide behind."""
    with ceiling():
        cleaned = redact(text, limit=len(text) + 10 * MB)
    assert KEY not in cleaned


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_long_text_is_cut_and_a_key_past_the_cut_never_shows(text: str) -> None:
    with ceiling():
        cleaned = redact(f"{text} {KEY} {text}")
    assert len(cleaned) <= MAX_CHARS and cleaned.endswith(TRUNCATED)
    assert KEY[3:11] not in cleaned
    assert redact(cleaned) == cleaned  # several handlers' filters see the same record


SECRETS = {
    "key": (f"{KEY} end", KEY[3:]),
    "url password": ("postgresql://mg:S3cretPassw0rdXYZ@db:5432/x", "S3cretPassw0rdXYZ"),
    "apiKey parameter": ("/v2/aggs?apiKey=QUERYSECRET123456&x=1", "QUERYSECRET123456"),
    "bearer token": ("Authorization: Bearer TOKENSECRET98765", "TOKENSECRET98765"),
}


@pytest.mark.parametrize(("text", "secret"), SECRETS.values(), ids=SECRETS.keys())
def test_a_secret_split_by_the_cut_is_redacted(text: str, secret: str) -> None:
    """Wherever the cut falls in the secret, no four characters of it remain."""
    for shift in range(len(text) + 2):
        padding = "x" * (MAX_CHARS - len(TRUNCATED) - len(REDACTED) - shift) + " "
        cleaned = redact(padding + text + " " + "y" * MAX_CHARS)
        assert len(cleaned) <= MAX_CHARS
        pieces = {secret[i : i + 4] for i in range(len(secret) - 3)}
        assert not any(piece in cleaned for piece in pieces), (shift, cleaned[-60:])


def test_redaction_that_lengthens_text_is_cut_too() -> None:
    many = "apiKey=a&" * (MAX_CHARS // 9)  # each "a" becomes "[REDACTED]"
    cleaned = redact(many)
    assert len(cleaned) <= MAX_CHARS and cleaned.endswith(TRUNCATED)
    assert "apiKey=a" not in cleaned and redact(cleaned) == cleaned


def _long_record() -> logging.LogRecord:
    try:
        raise ValueError("a" * MB + f" {KEY}")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.makeLogRecord(
        {
            "name": "marketgraph.test",
            "levelname": "ERROR",
            "levelno": logging.ERROR,
            "msg": "upstream said %s for %r",
            "args": ("b" * MB + f" {KEY}", {"q": "c" * MB}),
            "exc_info": exc_info,
            "stack_info": "d" * MB + f" {KEY}",
            "path": "/" + "e" * MB + f"?apiKey={KEY[3:]}",
            "client": "f" * MB,
            "headers": {"user-agent": "g" * MB + KEY, "h" * MB + KEY: "value"},
            "rows": ["i" * MB] * 1000,
            "body": b"j" * MB + KEY.encode(),
        }
    )


def test_every_field_of_a_log_line_is_bounded_and_keeps_keys_out() -> None:
    record = _long_record()
    with ceiling():
        assert RedactingFilter().filter(record)
        line = JsonFormatter().format(record)
    entry = orjson.loads(line)
    assert KEY[3:11] not in line
    assert len(entry["message"]) <= MAX_CHARS
    assert len(entry["exception"]) <= MAX_EXCEPTION_CHARS
    for name in ("path", "client", "body"):
        assert len(entry[name]) <= MAX_CHARS and entry[name].endswith(TRUNCATED), name
    assert all(len(k) <= MAX_CHARS and len(v) <= MAX_CHARS for k, v in entry["headers"].items())
    assert len(entry["rows"]) <= 101 and entry["rows"][-1] == TRUNCATED
    assert len(line) < MAX_EXCEPTION_CHARS + 320 * MAX_CHARS  # not megabytes


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def test_access_line_fields_are_bounded_and_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = TraceMiddleware(Starlette(routes=[Route("/{rest:path}", _hello)]))
    caplog.set_level(logging.INFO, logger="marketgraph.access")
    with ceiling():
        sent = await asgi_get(app, "/" + "p" * MB, "q=" + "a" * MB + f"&apiKey={KEY}", "k" * MB)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"hello"
    (line,) = [r for r in caplog.records if r.name == "marketgraph.access"]
    fields = {name: line.__dict__[name] for name in ("path", "query")}
    for name, value in fields.items():
        assert len(value) <= MAX_CHARS and value.endswith(TRUNCATED), name
    assert fields["path"].startswith("/ppp")
    assert line.__dict__["client"] == "unknown"  # not an address: never logged as one
    assert KEY[3:11] not in str(line.__dict__)


async def test_access_line_redacts_a_short_query(caplog: pytest.LogCaptureFixture) -> None:
    app = TraceMiddleware(Starlette(routes=[Route("/", _hello)]))
    caplog.set_level(logging.INFO, logger="marketgraph.access")
    await asgi_get(app, "/", f"apiKey={KEY}&x=1", "127.0.0.1")
    (line,) = [r for r in caplog.records if r.name == "marketgraph.access"]
    assert line.__dict__["query"] == f"apiKey={REDACTED}&x=1"
    assert line.__dict__["client"] == "127.0.0.1"


async def test_access_line_redacts_what_the_request_recorded_and_the_method(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The access line is redacted where it is made (the filter lets it pass as it is): an
    operation name that is a key, as the endpoint, is redacted like everything else."""

    def record(scope: Any, status: int, seconds: float, facts: RequestFacts) -> None:
        facts.endpoint = f"GET /graphql:{KEY}"

    app = TraceMiddleware(Starlette(routes=[Route("/{rest:path}", _hello)]), record=record)
    caplog.set_level(logging.INFO, logger="marketgraph.access")
    await asgi_get(app, f"/{KEY}", "", "127.0.0.1")
    (line,) = [r for r in caplog.records if r.name == "marketgraph.access"]
    assert line.__dict__["endpoint"] == f"GET /graphql:mg_{REDACTED}"
    assert line.__dict__["path"] == f"/mg_{REDACTED}"
    assert KEY[3:11] not in JsonFormatter().format(line)


def test_ordinary_records_are_still_redacted_by_the_filter() -> None:
    record = logging.makeLogRecord({"msg": "key %s", "args": (KEY,), "extra_field": KEY})
    assert RedactingFilter().filter(record)
    assert KEY[3:11] not in record.getMessage() + str(record.__dict__["extra_field"])
