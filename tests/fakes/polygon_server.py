"""A fake Polygon.io: a real HTTP server on 127.0.0.1 serving bars from memory.

It speaks the documented aggregates format (`results` of `{v, vw, o, c, h, l, t, n}`, `status`,
`next_url` with a cursor and an `apiKey` parameter like the real one) plus minimal ticker
reference endpoints, and can be told to misbehave (429s, 500s, slowness, 401, malformed JSON,
`next_url` loops, failing from page K, `DELAYED`, no `results`) or to hold every request until
the test lets it go (to count the requests in flight at once). It records every request so
tests can assert what the client sent.

Simplification: `from`/`to` given as dates are UTC calendar days (Polygon uses the exchange day
for stocks); both bounds are inclusive; millisecond timestamps are accepted too.

Use the `fake_polygon` fixture (register with `pytest_plugins = ["tests.fakes.polygon_server"]`).
One server runs per session (`fake_polygon_server`); `fake_polygon` clears it around each test.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

RawBar = dict[str, Any]
_DAY_MS = 86_400_000
_RATE_LIMIT_MESSAGE = (
    "You've exceeded the maximum requests per minute, please wait or upgrade your "
    "subscription to continue. https://polygon.io/pricing"
)


@dataclass
class Behaviour:
    """How the fake misbehaves; change with `FakePolygon.behave(**fields)`."""

    rate_limit: int = 0  # answer 429 to this many requests
    retry_after: str | None = None  # Retry-After header on those 429s (None = no header)
    server_error: int = 0  # answer 500 to this many requests (after any 429s)
    delay: float = 0.0  # seconds to wait before answering
    slow_times: int | None = None  # only the next N requests are slow (None = all)
    hold: threading.Event | None = None  # requests are recorded, then answered once it is set
    unauthorized: bool = False  # answer 401 to everything
    malformed_json: bool = False  # aggregates answer 200 with a truncated JSON body
    not_found: bool = False  # aggregates answer 404 {"status": "NOT_FOUND"}
    next_url_loop: bool = False  # every page's next_url points back at the same page
    next_url_base: str | None = None  # origin used in next_url (default: the fake itself)
    fail_from_page: int | None = None  # pages >= K (1-based) answer 500, forever
    status: str = "OK"  # aggregates `status` (e.g. "DELAYED", "ERROR")
    omit_results: bool = False  # aggregates leave out `results`
    page_size: int = 50_000  # bars per page (Polygon's `limit` caps it too)
    raw_results: Any = None  # if set, served verbatim as `results` (for malformed bars)
    ignore_range: bool = False  # serve every stored bar, whatever from/to asked for


@dataclass(frozen=True)
class RecordedCall:
    """One request as the fake received it (header names lower-cased)."""

    method: str
    path: str
    query: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)  # when it arrived (this process's clock)


@dataclass
class _State:
    behaviour: Behaviour = field(default_factory=Behaviour)
    calls: list[RecordedCall] = field(default_factory=list)
    bars: dict[tuple[str, int, str], list[RawBar]] = field(default_factory=dict)
    tickers: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakePolygon:
    """The fake server: `start()`, fill with `add_bars`/`add_ticker`, steer with `behave`."""

    def __init__(self, api_key: str = "fake-polygon-key-Zq8s3cr3t") -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._state = _State()
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # says TCP, and without it keep-alive requests stall ~40 ms on delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self._app(),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake Polygon server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    # -- test API ------------------------------------------------------------------------------

    def add_bars(
        self, ticker: str, bars: Iterable[RawBar], multiplier: int = 1, timespan: str = "day"
    ) -> None:
        """Store raw Polygon bars (dicts with t, o, h, l, c, v and optional vw, n)."""
        with self._lock:
            key = (ticker, multiplier, timespan)
            merged = {bar["t"]: dict(bar) for bar in self._state.bars.get(key, [])}
            merged.update({bar["t"]: dict(bar) for bar in bars})
            self._state.bars[key] = [merged[t] for t in sorted(merged)]

    def add_ticker(self, details: Mapping[str, Any]) -> None:
        """Store reference data; needs at least `ticker`; `name`, `market`, `active` help search."""
        with self._lock:
            self._state.tickers[str(details["ticker"])] = dict(details)

    def behave(self, **changes: Any) -> Behaviour:
        """Change some `Behaviour` fields (unknown names raise TypeError)."""
        with self._lock:
            self._state.behaviour = dataclasses.replace(self._state.behaviour, **changes)
            return dataclasses.replace(self._state.behaviour)

    def reset(self) -> None:
        """Back to good behaviour and an empty call log; stored bars and tickers stay."""
        with self._lock:
            self._state.behaviour = Behaviour()
            self._state.calls = []

    def clear(self) -> None:
        """Everything back to empty, as at start."""
        with self._lock:
            self._state = _State()

    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._state.calls)

    def count(self, path_prefix: str = "") -> int:
        """Requests received whose path starts with `path_prefix` (all when empty)."""
        return sum(call.path.startswith(path_prefix) for call in self.calls)

    # -- the app -------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(
                    "/v2/aggs/ticker/{ticker}/range/{multiplier:int}/{timespan}/{start}/{end}",
                    self._aggregates,
                ),
                Route("/v3/reference/tickers/{ticker}", self._ticker_details),
                Route("/v3/reference/tickers", self._search_tickers),
                Route("/{path:path}", self._unknown),
            ]
        )

    async def _preamble(self, request: Request) -> Response | None:
        """Record the call, then apply the misbehaviours shared by every endpoint."""
        call = RecordedCall(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            params=parse_qs(request.url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        with self._lock:
            self._state.calls.append(call)
            b = self._state.behaviour
            delay = b.delay if b.slow_times is None or b.slow_times > 0 else 0.0
            hold = b.hold
            if b.slow_times:
                b.slow_times -= 1
            outcome: Response | None = None
            if b.unauthorized or self._token(request) != self.api_key:
                outcome = _error(401, "ERROR", "Unknown API Key")
            elif b.rate_limit > 0:
                b.rate_limit -= 1
                outcome = _error(429, "ERROR", _RATE_LIMIT_MESSAGE)
                if b.retry_after is not None:
                    outcome.headers["Retry-After"] = b.retry_after
            elif b.server_error > 0:
                b.server_error -= 1
                outcome = _error(500, "ERROR", "Internal Server Error")
        while hold is not None and not hold.is_set():  # noqa: ASYNC110 (set from the test's thread)
            await asyncio.sleep(0.005)
        if delay:
            await asyncio.sleep(delay)
        return outcome

    async def _unknown(self, request: Request) -> Response:
        """Any other path: recorded, then a plain-text 404 like a router's, not Polygon JSON."""
        early = await self._preamble(request)
        return early or Response("404 page not found", status_code=404, media_type="text/plain")

    def _token(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ")
        return request.query_params.get("apiKey")

    async def _aggregates(self, request: Request) -> Response:
        early = await self._preamble(request)
        if early is not None:
            return early
        p = request.path_params
        with self._lock:
            b = dataclasses.replace(self._state.behaviour)
            stored = list(self._state.bars.get((p["ticker"], p["multiplier"], p["timespan"]), []))
        if b.not_found:
            return _error(404, "NOT_FOUND", "Data not found.")
        try:
            low, high = _bound_ms(p["start"], end=False), _bound_ms(p["end"], end=True)
        except ValueError:
            return _error(400, "ERROR", "Could not parse the time parameter.")
        cursor = request.query_params.get("cursor")
        query = _decode_cursor(cursor) if cursor else dict(request.query_params)
        query.pop("apiKey", None)
        rows = [bar for bar in stored if b.ignore_range or low <= bar["t"] <= high]
        if query.get("sort") == "desc":
            rows.reverse()
        page_size = max(1, min(b.page_size, int(query.get("limit", 5000))))
        offset = int(query.get("offset", 0))
        page_number = offset // page_size + 1
        if b.fail_from_page is not None and page_number >= b.fail_from_page:
            return _error(500, "ERROR", "Internal Server Error")
        if b.malformed_json:
            return Response('{"ticker": "X", "results": [{"o": 1', media_type="application/json")
        page = rows[offset : offset + page_size]
        body: dict[str, Any] = {
            "ticker": p["ticker"],
            "queryCount": len(page),
            "resultsCount": len(page),
            "adjusted": query.get("adjusted", "true") == "true",
            "results": page,
            "status": b.status,
            "request_id": uuid.uuid4().hex,
            "count": len(page),
        }
        if b.status == "ERROR":
            body["error"] = "fake upstream error"
        if b.raw_results is not None:
            body["results"] = b.raw_results
        if b.omit_results:
            del body["results"]
            body["resultsCount"] = body["count"] = 0
        next_offset = offset if b.next_url_loop else offset + page_size
        if b.next_url_loop or next_offset < len(rows):
            next_query = {
                "cursor": _encode_cursor({**query, "offset": next_offset}),
                "apiKey": self._token(request) or "",
            }
            origin = b.next_url_base or self.url
            body["next_url"] = f"{origin}{request.url.path}?{urlencode(next_query)}"
        return JSONResponse(body)

    async def _ticker_details(self, request: Request) -> Response:
        early = await self._preamble(request)
        if early is not None:
            return early
        with self._lock:
            details = self._state.tickers.get(request.path_params["ticker"])
        if details is None:
            return _error(404, "NOT_FOUND", "Ticker not found.")
        return JSONResponse({"request_id": uuid.uuid4().hex, "results": details, "status": "OK"})

    async def _search_tickers(self, request: Request) -> Response:
        early = await self._preamble(request)
        if early is not None:
            return early
        q = request.query_params
        search = q.get("search", "").lower()
        with self._lock:
            tickers = [dict(t) for t in self._state.tickers.values()]
        found = [
            t
            for t in tickers
            if (search in str(t["ticker"]).lower() or search in str(t.get("name", "")).lower())
            and (not q.get("market") or t.get("market") == q.get("market"))
            and (q.get("active") != "true" or t.get("active", True))
        ][: int(q.get("limit", 100))]
        return JSONResponse(
            {
                "results": found,
                "status": "OK",
                "request_id": uuid.uuid4().hex,
                "count": len(found),
            }
        )


def _error(status_code: int, status: str, message: str) -> Response:
    key = "message" if status == "NOT_FOUND" else "error"
    return JSONResponse(
        {"status": status, "request_id": uuid.uuid4().hex, key: message}, status_code=status_code
    )


def _bound_ms(value: str, *, end: bool) -> int:
    """A from/to path segment as Unix ms; a date `to` covers its whole UTC day."""
    if value.isdigit():
        return int(value)
    day = date.fromisoformat(value)
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    return start + _DAY_MS - 1 if end else start


def _encode_cursor(query: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(dict(query)).encode()).decode()


def _decode_cursor(cursor: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    return decoded


def make_bars(
    start: datetime,
    count: int,
    step: timedelta = timedelta(days=1),
    *,
    seed: int = 0,
    price: float = 100.0,
    optional_fields: bool = True,
) -> list[RawBar]:
    """Deterministic raw Polygon bars: a seeded random walk, fractional volumes included.

    `start` must be UTC-aware; bar i starts at `start + i * step`. With `optional_fields` off
    the bars lack `vw` and `n`, as some Polygon bars do.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    rng = random.Random(seed)
    bars: list[RawBar] = []
    close = price
    for i in range(count):
        open_ = close
        close = round(max(0.01, open_ * (1 + rng.uniform(-0.02, 0.02))), 4)
        high = round(max(open_, close) * (1 + rng.uniform(0, 0.01)), 4)
        low = round(min(open_, close) * (1 - rng.uniform(0, 0.01)), 4)
        bar: RawBar = {
            "t": int((start + i * step).timestamp() * 1000),
            "o": open_,
            "h": high,
            "l": low,
            "c": close,
            "v": round(rng.uniform(1_000, 1_000_000), 3) if i % 3 == 0 else rng.randint(1, 10**6),
        }
        if optional_fields:
            bar["vw"] = round((open_ + high + low + close) / 4, 4)
            bar["n"] = rng.randint(1, 5_000)
        bars.append(bar)
    return bars


@pytest.fixture(scope="session")
def fake_polygon_server() -> Iterator[FakePolygon]:
    """One fake Polygon for the whole session (starting uvicorn per test is wasted time)."""
    fake = FakePolygon()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_polygon(fake_polygon_server: FakePolygon) -> Iterator[FakePolygon]:
    """The session's fake Polygon, emptied and well-behaved for this test."""
    fake_polygon_server.clear()
    yield fake_polygon_server
    fake_polygon_server.clear()
