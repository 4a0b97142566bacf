"""Async client for the few Polygon.io REST endpoints the store reads through.

Every HTTP attempt waits for the rate limiter (cheaper than earning a 429), transient failures
(429, 5xx, timeouts, connection errors) are retried with capped exponential backoff and full
jitter, and each public call runs under a circuit breaker so an outage fails fast instead of
stacking timeouts. The API key travels only in the `Authorization` header and is scrubbed from
anything logged or raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import date
from functools import partial
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar
from urllib.parse import quote

import httpx

from domain.circuit import Admission
from domain.clocks import Monotonic
from domain.errors import (
    InvalidInput,
    UpstreamConfigError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from domain.token_bucket import TokenBucket
from upstream.circuit_breaker import BreakerState, CircuitBreaker
from upstream.wire import (
    PolygonBar,
    as_ms,
    json_object,
    json_status,
    parse_bar,
    parse_retry_after,
    range_bound,
    scrub,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Observer = Callable[[str, float], None]


class Pacer(Protocol):
    """Waits until the next upstream request may go (a local `TokenBucket`, or a budget
    shared by every process)."""

    async def acquire(self) -> None: ...


class SharedCircuit(Protocol):
    """The breaker's state as every process sees it (the gateway's Redis one): `admit` before
    each call, which may make it the fleet's one trial after an open period."""

    async def admit(self, lease_seconds: float) -> Admission: ...
    async def opened(self, seconds: float) -> None: ...
    async def released(self) -> None: ...
    async def closed(self) -> None: ...


"""Told each HTTP attempt's outcome (`ok`, `rate_limited`, `http_5xx`, `http_4xx`, `timeout`,
`connection`, `redirect`, `error`) and its duration in seconds: metrics and alerts listen here."""

TIMESPANS = frozenset({"second", "minute", "hour", "day", "week", "month", "quarter", "year"})
_SUCCESS = frozenset({"OK", "DELAYED"})
_TICKER = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_\-]{0,63}")
_CHECK_KEY = "check POLYGON_API_KEY"
PAGE_LIMIT = 50_000
"""Bars asked for per aggregates page (Polygon's maximum)."""


class _RequestRejected(UpstreamUnavailable):
    """Upstream answered and refused the request (a 4xx): not an outage; the breaker ignores it."""


def _is_outage(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamUnavailable) and not isinstance(exc, _RequestRejected)


class PolygonClient:
    """Polygon REST client; use as `async with PolygonClient(...) as client:` or call `aclose()`.

    An empty `api_key` is allowed so the gateway can still serve stored data; every call then
    raises `UpstreamConfigError` without contacting Polygon. `requests_per_minute` of 0/None
    disables the limiter; `rate_limit_burst` is how many requests may go back to back (1 spaces
    them evenly, which no per-minute window can reject). A `pacer` replaces that local limiter
    (the gateway passes one shared by all its processes), and a `shared_circuit` makes an open
    breaker every process's. `clock`, `sleep` and `rng` exist for tests. The environment is
    never read (`trust_env=False`: no proxy variables either).
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.polygon.io",
        requests_per_minute: float | None = 5.0,
        rate_limit_burst: int = 1,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        max_retry_wait: float = 30.0,
        breaker_failure_threshold: int = 5,
        breaker_reset_timeout: float = 30.0,
        max_pages: int = 1000,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        observer: Observer | None = None,
        pacer: Pacer | None = None,
        shared_circuit: SharedCircuit | None = None,
    ) -> None:
        if max_retries < 0 or backoff_base < 0 or max_retry_wait < 0 or timeout <= 0:
            raise ValueError("max_retries, backoff_base, max_retry_wait >= 0 and timeout > 0")
        if max_pages < 1:
            raise ValueError("max_pages must be >= 1")
        self._base = httpx.URL(base_url.rstrip("/"))
        if self._base.scheme not in ("http", "https") or not self._base.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        self._has_key = bool(api_key)
        self._secret = api_key
        self._requests_per_minute = requests_per_minute or None
        self._limiter = (
            TokenBucket(
                self._requests_per_minute / 60.0, rate_limit_burst, clock=clock, sleep=sleep
            )
            if self._requests_per_minute
            else None
        )
        self._pacer: Pacer | None = pacer or self._limiter
        self._shared_circuit = shared_circuit
        self._breaker = CircuitBreaker(
            breaker_failure_threshold, breaker_reset_timeout, clock=clock
        )
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._max_retry_wait = max_retry_wait
        self._max_pages = max_pages
        self._sleep = sleep
        self._observer = observer
        self._rng = rng or random.Random()
        headers = {"Accept": "application/json", "User-Agent": "marketgraph"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
        )

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    @property
    def limiter(self) -> TokenBucket | None:
        return self._limiter

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return (
            f"PolygonClient(base_url={str(self._base)!r}, "
            f"requests_per_minute={self._requests_per_minute!r}, breaker={self._breaker!r})"
        )

    # -- public calls -------------------------------------------------------------------------

    async def aggregates(
        self, ticker: str, multiplier: int, timespan: str, start: date, end: date
    ) -> list[PolygonBar]:
        """Every page of `aggregate_pages` in one list (for small ranges: it holds them all)."""
        pages = self.aggregate_pages(ticker, multiplier, timespan, start, end)
        return [bar async for page in pages for bar in page]

    async def aggregate_pages(
        self,
        ticker: str,
        multiplier: int,
        timespan: str,
        start: date,
        end: date,
        *,
        before_request: Callable[[], None] | None = None,
    ) -> AsyncGenerator[list[PolygonBar]]:
        """Bars for `ticker` from `start` to `end` inclusive, oldest first, one page at a time.

        A consumer stores each page before the next is asked for, so memory holds one page
        (at most `PAGE_LIMIT` bars; a bigger page is refused as malformed). `before_request`
        is called before each page's request and may raise to stop (a per-request budget).
        `start`/`end` as dates go out as `YYYY-MM-DD`; aware datetimes go out as Unix ms (both
        forms Polygon accepts). A 404 means "no data" only when its JSON body says
        `"status": "NOT_FOUND"`; any other 404 (a wrong base URL, a proxy page) is an error, so a
        misconfiguration is never silently recorded as an empty range.
        """
        _check_ticker(ticker)
        if multiplier < 1:
            raise InvalidInput(f"multiplier must be >= 1, got {multiplier}")
        if timespan not in TIMESPANS:
            raise InvalidInput(f"timespan must be one of {sorted(TIMESPANS)}, got {timespan!r}")
        if as_ms(start) > as_ms(end):
            raise InvalidInput("start must not be after end")
        path = (
            f"/v2/aggs/ticker/{quote(ticker, safe=':.')}/range/{multiplier}/{timespan}/"
            f"{range_bound(start)}/{range_bound(end)}"
        )
        params = {"adjusted": "true", "sort": "asc", "limit": str(PAGE_LIMIT)}
        url: str = self._url(path)
        query: dict[str, str] | None = params
        seen = {str(httpx.URL(url, params=params))}
        for _ in range(self._max_pages):
            if before_request is not None:
                before_request()
            body = await self._guarded(partial(self._aggregates_page, url, query))
            if body is None:
                return
            yield _page_bars(body)
            next_url = body.get("next_url")
            if not next_url:
                return
            url, query = self._next_page(next_url), None
            if url in seen:
                raise UpstreamUnavailable(
                    f"Polygon pagination loop: next_url repeats {self._scrub(url)}"
                )
            seen.add(url)
        raise UpstreamUnavailable(f"Polygon aggregates exceeded {self._max_pages} pages")

    # -- internals ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return str(self._base) + path

    async def _guarded(self, fn: Callable[[], Awaitable[T]]) -> T:
        if not self._has_key:
            raise UpstreamConfigError(f"no Polygon API key configured; {_CHECK_KEY}")
        shared = self._shared_circuit
        if shared is None:
            return await self._breaker.call(fn, is_failure=_is_outage)
        trial = False
        if self._breaker.state is not BreakerState.OPEN:
            # the lease: a trial worker that dies holds the fleet back one reset timeout
            admission = await shared.admit(self._breaker.reset_timeout)
            if admission.wait > 0:
                raise UpstreamUnavailable(
                    f"upstream circuit open (opened by another worker); "
                    f"retry in {admission.wait:.1f}s"
                )
            trial = admission.trial
        before = self._breaker.state
        try:
            result = await self._breaker.call(fn, is_failure=_is_outage)
        except BaseException as exc:  # cancelled too: its trial is released
            opened = self._breaker.state is BreakerState.OPEN and before is not BreakerState.OPEN
            if opened or (trial and _is_outage(exc)):
                await shared.opened(self._breaker.retry_after() or self._breaker.reset_timeout)
            elif trial:  # proved nothing (a client error, cancelled): another call may try
                await shared.released()
            raise
        if trial or before is not BreakerState.CLOSED:
            await shared.closed()
        return result

    async def _aggregates_page(
        self, url: str, query: dict[str, str] | None
    ) -> dict[str, Any] | None:
        """One page's body; None for Polygon's "no data" 404."""
        response = await self._send(url, query)
        if response.status_code == 404 and json_status(response) == "NOT_FOUND":
            return None
        return self._success_body(response, "aggregates")

    def _next_page(self, next_url: object) -> str:
        """Absolute next-page URL without `apiKey`; refuses other origins (they'd get our key)."""
        if not isinstance(next_url, str):
            raise UpstreamUnavailable("malformed Polygon response: next_url not a string")
        try:
            url = self._base.join(next_url)
        except httpx.InvalidURL:
            raise UpstreamUnavailable("malformed Polygon next_url") from None
        base = self._base
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise UpstreamUnavailable(
                f"Polygon next_url points to another origin: {self._scrub(str(url))}"
            )
        return str(url.copy_remove_param("apiKey"))

    async def _send(self, url: str, params: Mapping[str, str] | None) -> httpx.Response:
        """GET with retries; returns 2xx and 404 responses, raises for everything else.

        401/403 raise `UpstreamConfigError` at once; other 4xx raise (unretried, not counted by
        the breaker). When 429s outlast the retries, `UpstreamRateLimited.retry_after` is the
        last `Retry-After` as sent (uncapped, so callers can pass it on) or None without one.
        """
        attempt = 0
        while True:
            if self._pacer is not None:
                await self._pacer.acquire()
            retry_after: float | None = None
            rate_limited = False
            sent = time.perf_counter()
            try:
                response = await self._http.get(url, params=params)
            except httpx.TimeoutException:
                self._observe("timeout", sent)
                problem = "timed out"
            except httpx.TransportError as exc:
                self._observe("connection", sent)
                problem = f"connection failed ({type(exc).__name__})"
            except httpx.HTTPError as exc:  # e.g. an undecodable body: retrying will not help
                self._observe("error", sent)
                raise UpstreamUnavailable(f"Polygon request failed ({type(exc).__name__})") from exc
            else:
                self._observe(_outcome(response.status_code), sent)
                status = response.status_code
                if status in (401, 403):
                    raise UpstreamConfigError(
                        f"Polygon refused our credentials (HTTP {status}); {_CHECK_KEY}"
                    )
                if status == 429:
                    rate_limited = True
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    problem = "rate limited (HTTP 429)"
                elif status >= 500:
                    problem = f"HTTP {status}"
                elif 300 <= status < 400:
                    raise UpstreamUnavailable(f"Polygon answered a redirect (HTTP {status})")
                elif status >= 400 and status != 404:
                    raise _RequestRejected(
                        f"Polygon rejected the request (HTTP {status}): {self._message(response)}"
                    )
                else:
                    return response
            where = self._scrub(str(httpx.URL(url).copy_with(query=None)))
            if attempt >= self._max_retries:
                tried = f"after {attempt + 1} attempt(s)"
                if rate_limited:
                    raise UpstreamRateLimited(
                        f"Polygon rate limit exceeded {tried}", retry_after=retry_after
                    )
                raise UpstreamUnavailable(f"Polygon unavailable: {problem} {tried} ({where})")
            delay = self._backoff(attempt, retry_after)
            logger.warning(
                "Polygon GET %s: %s; retry %d/%d in %.2fs",
                where,
                problem,
                attempt + 1,
                self._max_retries,
                delay,
            )
            await self._sleep(delay)
            attempt += 1

    def _observe(self, outcome: str, sent: float) -> None:
        if self._observer is not None:
            self._observer(outcome, time.perf_counter() - sent)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._max_retry_wait)
        cap = min(self._max_retry_wait, self._backoff_base * 2.0**attempt)
        return self._rng.uniform(0.0, cap)

    def _success_body(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code == 404:
            raise _RequestRejected(f"Polygon {what}: HTTP 404: {self._message(response)}")
        body = json_object(response, what)
        status = body.get("status")
        if status not in _SUCCESS:
            detail = body.get("error") or body.get("message") or "no message"
            raise UpstreamUnavailable(
                f"Polygon {what} returned status {self._scrub(str(status))}: "
                f"{self._scrub(str(detail))[:300]}"
            )
        return body

    def _message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            text = str(body.get("error") or body.get("message") or body.get("status") or "")
        else:
            text = response.text
        return self._scrub(text)[:300] or "no message"

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secret)


def _outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "http_5xx"
    if 300 <= status < 400:
        return "redirect"
    return "http_4xx" if status >= 400 and status != 404 else "ok"


def _page_bars(body: dict[str, Any]) -> list[PolygonBar]:
    results = body.get("results")
    if results is None:
        return []
    if not isinstance(results, list):
        raise UpstreamUnavailable("malformed Polygon aggregates: results not a list")
    if len(results) > PAGE_LIMIT:
        raise UpstreamUnavailable(
            f"malformed Polygon aggregates: {len(results)} bars on a page of at most {PAGE_LIMIT}"
        )
    return [parse_bar(raw) for raw in results]


def _check_ticker(ticker: str) -> None:
    """URL safety only (no `/`, `..`, `?`); `domain.tickers` decides what the store accepts."""
    if not _TICKER.fullmatch(ticker):
        raise InvalidInput(f"not a valid ticker: {ticker[:70]!r}")
