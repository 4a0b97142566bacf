"""PolygonClient against a fake Polygon over real HTTP: paging, retries, breaker, secrecy."""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.errors import (
    InvalidInput,
    UpstreamConfigError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from tests.fakes.polygon_server import FakePolygon, RawBar, make_bars
from tests.support.time import FakeTime
from upstream.circuit_breaker import BreakerState
from upstream.polygon import PolygonClient
from upstream.wire import PolygonBar, scrub

AGGS = "/v2/aggs/ticker/"
JAN_1 = datetime(2024, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def client_for(fake: FakePolygon, **overrides: Any) -> PolygonClient:
    options: dict[str, Any] = {
        "base_url": fake.url,
        "requests_per_minute": None,
        "timeout": 2.0,
        "max_retries": 3,
        "backoff_base": 0.001,
        "max_retry_wait": 0.01,
        "rng": random.Random(7),
    }
    options.update(overrides)
    return PolygonClient(options.pop("api_key", fake.api_key), **options)


def expected(raw: list[RawBar]) -> list[PolygonBar]:
    return [
        PolygonBar(
            time=EPOCH + timedelta(milliseconds=bar["t"]),
            open=bar["o"],
            high=bar["h"],
            low=bar["l"],
            close=bar["c"],
            volume=float(bar["v"]),
            vwap=bar.get("vw"),
            trades=bar.get("n"),
        )
        for bar in raw
    ]


def daily(fake: FakePolygon, count: int = 10, ticker: str = "AAPL") -> list[RawBar]:
    bars = make_bars(JAN_1, count)
    fake.add_bars(ticker, bars)
    return bars


async def fetch_days(client: PolygonClient, days: int = 10) -> list[PolygonBar]:
    return await client.aggregates("AAPL", 1, "day", date(2024, 1, 1), date(2024, 1, days))


# -- paging and the wire format ------------------------------------------------------------


async def test_pages_are_followed_and_together_equal_the_fakes_bars(
    fake_polygon: FakePolygon,
) -> None:
    raw = daily(fake_polygon, 25)
    fake_polygon.behave(page_size=10)

    async with client_for(fake_polygon) as client:
        bars = await fetch_days(client, 25)

    assert bars == expected(raw)
    assert fake_polygon.count(AGGS) == 3
    first, *rest = fake_polygon.calls
    assert first.path == "/v2/aggs/ticker/AAPL/range/1/day/2024-01-01/2024-01-25"
    assert first.params == {"adjusted": ["true"], "sort": ["asc"], "limit": ["50000"]}
    assert all("cursor" in call.params for call in rest)


async def test_key_goes_only_in_the_bearer_header_and_apikey_is_stripped_from_next_url(
    fake_polygon: FakePolygon,
) -> None:
    daily(fake_polygon, 5)
    fake_polygon.behave(page_size=2)

    async with client_for(fake_polygon) as client:
        assert len(await fetch_days(client, 5)) == 5

    calls = fake_polygon.calls
    assert len(calls) == 3
    for call in calls:
        assert call.headers["authorization"] == f"Bearer {fake_polygon.api_key}"
        assert "apikey" not in call.query.lower()
        assert fake_polygon.api_key not in call.query


async def test_range_bounds_are_inclusive_and_bars_carry_every_field(
    fake_polygon: FakePolygon,
) -> None:
    raw = daily(fake_polygon, 10)
    fake_polygon.add_bars("AAPL", make_bars(JAN_1, 3, timedelta(minutes=1), seed=3), 1, "minute")

    async with client_for(fake_polygon) as client:
        bars = await client.aggregates("AAPL", 1, "day", date(2024, 1, 3), date(2024, 1, 5))

    assert bars == expected(raw[2:5])
    assert bars[0].time == datetime(2024, 1, 3, tzinfo=UTC)
    assert bars[0].time.tzinfo is UTC
    assert any(not bar.volume.is_integer() for bar in expected(raw))  # fractional volumes survive


async def test_optional_vwap_and_trade_count_may_be_absent(fake_polygon: FakePolygon) -> None:
    fake_polygon.add_bars("X:BTCUSD", make_bars(JAN_1, 3, optional_fields=False))

    async with client_for(fake_polygon) as client:
        bars = await client.aggregates("X:BTCUSD", 1, "day", date(2024, 1, 1), date(2024, 1, 3))

    assert len(bars) == 3
    assert all(bar.vwap is None and bar.trades is None for bar in bars)


async def test_aware_datetimes_are_sent_as_unix_milliseconds(fake_polygon: FakePolygon) -> None:
    raw = make_bars(JAN_1, 10, timedelta(minutes=1))
    fake_polygon.add_bars("AAPL", raw, 1, "minute")
    start, end = JAN_1 + timedelta(minutes=2), JAN_1 + timedelta(minutes=4)

    async with client_for(fake_polygon) as client:
        bars = await client.aggregates("AAPL", 1, "minute", start, end)

    assert bars == expected(raw[2:5])
    assert fake_polygon.calls[0].path.endswith(f"/{raw[2]['t']}/{raw[4]['t']}")


async def test_delayed_status_is_success(fake_polygon: FakePolygon) -> None:
    raw = daily(fake_polygon, 3)
    fake_polygon.behave(status="DELAYED")

    async with client_for(fake_polygon) as client:
        assert await fetch_days(client, 3) == expected(raw)


async def test_missing_results_means_no_data(fake_polygon: FakePolygon) -> None:
    daily(fake_polygon, 3)
    fake_polygon.behave(omit_results=True)

    async with client_for(fake_polygon) as client:
        assert await fetch_days(client, 3) == []


async def test_a_404_saying_not_found_is_no_data(fake_polygon: FakePolygon) -> None:
    fake_polygon.behave(not_found=True)

    async with client_for(fake_polygon) as client:
        assert await fetch_days(client) == []
    assert fake_polygon.count() == 1


async def test_any_other_404_is_an_error_not_an_empty_range(fake_polygon: FakePolygon) -> None:
    async with client_for(fake_polygon, base_url=fake_polygon.url + "/wrong-prefix") as client:
        with pytest.raises(UpstreamUnavailable, match="404"):
            await fetch_days(client)
    assert fake_polygon.count() == 1
    assert client.breaker.consecutive_failures == 0  # a rejected request is not an outage


async def test_error_status_is_unavailable_with_the_upstream_message(
    fake_polygon: FakePolygon,
) -> None:
    fake_polygon.behave(status="ERROR")

    async with client_for(fake_polygon) as client:
        with pytest.raises(UpstreamUnavailable, match="fake upstream error"):
            await fetch_days(client)


async def test_malformed_json_is_unavailable(fake_polygon: FakePolygon) -> None:
    fake_polygon.behave(malformed_json=True)

    async with client_for(fake_polygon) as client:
        with pytest.raises(UpstreamUnavailable, match="not JSON"):
            await fetch_days(client)
    assert fake_polygon.count() == 1


@pytest.mark.parametrize(
    ("bar", "problem"),
    [
        ({"t": 0, "o": 1, "h": 1, "l": 1, "v": 1}, "'c' missing"),
        ({"t": 0, "o": 1, "h": 1, "l": 1, "c": "1", "v": 1}, "'c' not a number"),
        ({"t": 0.5, "o": 1, "h": 1, "l": 1, "c": 1, "v": 1}, "integers"),
        ({"t": 0, "o": 1, "h": 1, "l": 1, "c": 1, "v": 1, "n": 2.5}, "integers"),
        ({"t": 0, "o": True, "h": 1, "l": 1, "c": 1, "v": 1}, "'o' not a number"),
        ("not a bar", "not a JSON object"),
    ],
)
async def test_malformed_bars_are_unavailable(
    fake_polygon: FakePolygon, bar: object, problem: str
) -> None:
    fake_polygon.behave(raw_results=[bar])

    async with client_for(fake_polygon) as client:
        with pytest.raises(UpstreamUnavailable, match=problem):
            await fetch_days(client)
    assert fake_polygon.count() == 1


async def test_results_that_are_not_a_list_are_unavailable(fake_polygon: FakePolygon) -> None:
    fake_polygon.behave(raw_results={"t": 0})

    async with client_for(fake_polygon) as client:
        with pytest.raises(UpstreamUnavailable, match="results not a list"):
            await fetch_days(client)


async def test_a_next_url_loop_is_detected(fake_polygon: FakePolygon) -> None:
    daily(fake_polygon, 5)
    fake_polygon.behave(page_size=2, next_url_loop=True)

    async with client_for(fake_polygon) as client:
        with pytest.raises(UpstreamUnavailable, match="loop"):
            await fetch_days(client, 5)
    assert fake_polygon.count() == 2


async def test_a_next_url_on_another_origin_is_not_followed(fake_polygon: FakePolygon) -> None:
    daily(fake_polygon, 5)
    fake_polygon.behave(page_size=2, next_url_base="http://elsewhere.invalid")

    async with client_for(fake_polygon) as client:
        with pytest.raises(UpstreamUnavailable, match="another origin") as caught:
            await fetch_days(client, 5)
    assert fake_polygon.count() == 1
    assert fake_polygon.api_key not in str(caught.value)


# -- retries ---------------------------------------------------------------------------------


async def test_429_then_success(fake_polygon: FakePolygon) -> None:
    raw = daily(fake_polygon, 3)
    fake_polygon.behave(rate_limit=2)

    async with client_for(fake_polygon) as client:
        assert await fetch_days(client, 3) == expected(raw)
    assert fake_polygon.count() == 3


async def test_retry_after_is_honoured_but_capped(fake_polygon: FakePolygon) -> None:
    daily(fake_polygon, 3)
    time = FakeTime()
    fake_polygon.behave(rate_limit=2, retry_after="7")

    async with client_for(fake_polygon, sleep=time.sleep, max_retry_wait=5.0) as client:
        await fetch_days(client, 3)
    assert time.sleeps == [5.0, 5.0]

    fake_polygon.reset()
    fake_polygon.behave(rate_limit=1, retry_after="2")
    async with client_for(fake_polygon, sleep=time.sleep, max_retry_wait=5.0) as client:
        await fetch_days(client, 3)
    assert time.sleeps[-1] == 2.0


async def test_backoff_is_exponential_with_full_jitter_and_capped(
    fake_polygon: FakePolygon,
) -> None:
    time = FakeTime()
    fake_polygon.behave(server_error=100)

    async with client_for(
        fake_polygon, sleep=time.sleep, max_retries=6, backoff_base=1.0, max_retry_wait=8.0
    ) as client:
        with pytest.raises(UpstreamUnavailable):
            await fetch_days(client)

    caps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert len(time.sleeps) == 6
    assert all(0.0 <= slept <= cap for slept, cap in zip(time.sleeps, caps, strict=True))
    assert len(set(time.sleeps)) == 6  # jittered, not a fixed schedule


async def test_429_forever_is_rate_limited_with_retry_after(fake_polygon: FakePolygon) -> None:
    fake_polygon.behave(rate_limit=100, retry_after="0.001")

    async with client_for(fake_polygon, max_retries=2) as client:
        with pytest.raises(UpstreamRateLimited) as caught:
            await fetch_days(client)
    assert caught.value.retry_after == pytest.approx(0.001)
    assert fake_polygon.count() == 3
    assert client.breaker.consecutive_failures == 0  # upstream is up, just busy


async def test_500s_then_success(fake_polygon: FakePolygon) -> None:
    raw = daily(fake_polygon, 3)
    fake_polygon.behave(server_error=3)

    async with client_for(fake_polygon) as client:
        assert await fetch_days(client, 3) == expected(raw)
    assert fake_polygon.count() == 4


async def test_500_forever_is_unavailable_after_the_allowed_retries(
    fake_polygon: FakePolygon,
) -> None:
    fake_polygon.behave(server_error=100)

    async with client_for(fake_polygon, max_retries=2) as client:
        with pytest.raises(UpstreamUnavailable, match="HTTP 500 after 3 attempt"):
            await fetch_days(client)
    assert fake_polygon.count() == 3


async def test_failing_from_page_three_fails_the_whole_fetch(fake_polygon: FakePolygon) -> None:
    daily(fake_polygon, 10)
    fake_polygon.behave(page_size=2, fail_from_page=3)

    async with client_for(fake_polygon, max_retries=1) as client:
        with pytest.raises(UpstreamUnavailable, match="HTTP 500"):
            await fetch_days(client)
    assert fake_polygon.count() == 2 + 2


async def test_slow_answers_time_out_are_retried_then_unavailable(
    fake_polygon: FakePolygon,
) -> None:
    fake_polygon.behave(delay=1.0)

    async with client_for(fake_polygon, timeout=0.1, max_retries=1) as client:
        with pytest.raises(UpstreamUnavailable, match="timed out after 2 attempt"):
            await fetch_days(client)
    assert fake_polygon.count() == 2


async def test_one_slow_answer_is_retried_to_success(fake_polygon: FakePolygon) -> None:
    raw = daily(fake_polygon, 3)
    fake_polygon.behave(delay=5.0, slow_times=1)

    # the retry's real round trip gets 1.5 s, plenty even on a loaded 2-core machine
    async with client_for(fake_polygon, timeout=1.5) as client:
        assert await fetch_days(client, 3) == expected(raw)
    assert fake_polygon.count() == 2


async def test_connection_refused_is_unavailable() -> None:
    async with PolygonClient(
        "k",
        base_url="http://127.0.0.1:9",
        requests_per_minute=None,
        max_retries=1,
        backoff_base=0.001,
        max_retry_wait=0.001,
    ) as client:
        with pytest.raises(UpstreamUnavailable, match="connection failed"):
            await fetch_days(client)


# -- credentials -----------------------------------------------------------------------------


async def test_401_is_a_config_error_after_exactly_one_call(fake_polygon: FakePolygon) -> None:
    fake_polygon.behave(unauthorized=True)

    async with client_for(fake_polygon) as client:
        with pytest.raises(UpstreamConfigError, match="POLYGON_API_KEY"):
            await fetch_days(client)
    assert fake_polygon.count() == 1


async def test_a_wrong_key_is_a_config_error_and_never_trips_the_breaker(
    fake_polygon: FakePolygon,
) -> None:
    async with client_for(fake_polygon, api_key="wrong-key", breaker_failure_threshold=1) as client:
        for _ in range(3):
            with pytest.raises(UpstreamConfigError):
                await fetch_days(client)
    assert fake_polygon.count() == 3


async def test_no_key_fails_without_calling_upstream(fake_polygon: FakePolygon) -> None:
    async with client_for(fake_polygon, api_key="") as client:
        with pytest.raises(UpstreamConfigError, match="POLYGON_API_KEY"):
            await fetch_days(client)
    assert fake_polygon.count() == 0


async def test_the_key_never_appears_in_logs_errors_or_reprs(
    fake_polygon: FakePolygon, caplog: pytest.LogCaptureFixture
) -> None:
    key = fake_polygon.api_key
    daily(fake_polygon, 5)
    caplog.set_level(logging.DEBUG)
    errors: list[Exception] = []

    async with client_for(fake_polygon) as client:
        fake_polygon.behave(page_size=2, rate_limit=1, server_error=1)
        await fetch_days(client, 5)
        for behaviour in (
            {"next_url_loop": True},
            {"status": "ERROR"},
            {"fail_from_page": 2},
            {"next_url_base": "http://elsewhere.invalid"},
            {"unauthorized": True},
        ):
            fake_polygon.reset()
            fake_polygon.behave(page_size=2, **behaviour)
            try:
                await fetch_days(client, 5)
            except Exception as exc:
                errors.append(exc)
        text = repr(client)

    assert len(errors) == 5
    assert caplog.records, "expected retry warnings to be logged"
    for error in errors:
        assert key not in str(error) and key not in repr(error)
    assert key not in caplog.text
    assert key not in text


def test_redact_scrubs_query_keys_bearer_tokens_and_literal_secrets() -> None:
    text = "GET https://x/y?cursor=a&apiKey=abc123&b=1 Authorization: Bearer abc123 (abc123)"
    assert scrub(text, "abc123") == (
        "GET https://x/y?cursor=a&apiKey=***&b=1 Authorization: Bearer *** (***)"
    )


# -- breaker and limiter ---------------------------------------------------------------------


async def test_breaker_opens_fails_fast_without_calling_upstream_and_half_opens(
    fake_polygon: FakePolygon,
) -> None:
    raw = daily(fake_polygon, 3)
    time = FakeTime()
    fake_polygon.behave(server_error=1000)

    async with client_for(
        fake_polygon,
        max_retries=0,
        breaker_failure_threshold=2,
        breaker_reset_timeout=30.0,
        clock=time.clock,
    ) as client:
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable, match="HTTP 500"):
                await fetch_days(client, 3)
        assert client.breaker.state is BreakerState.OPEN

        for _ in range(3):
            with pytest.raises(UpstreamUnavailable, match="circuit open"):
                await fetch_days(client, 3)
        assert fake_polygon.count() == 2

        time.advance(30.0)
        assert client.breaker.state is BreakerState.HALF_OPEN  # type: ignore[comparison-overlap]
        fake_polygon.reset()
        assert await fetch_days(client, 3) == expected(raw)
        assert fake_polygon.count() == 1
        assert client.breaker.state is BreakerState.CLOSED


async def test_limiter_spaces_every_http_request_including_pages(
    fake_polygon: FakePolygon,
) -> None:
    daily(fake_polygon, 6)
    time = FakeTime()
    fake_polygon.behave(page_size=2)

    async with client_for(
        fake_polygon, requests_per_minute=5, clock=time.clock, sleep=time.sleep
    ) as client:
        assert len(await fetch_days(client, 6)) == 6
        assert len(await fetch_days(client, 2)) == 2  # one more page-sized request

    assert fake_polygon.count() == 4
    assert time.sleeps == pytest.approx([12.0, 12.0, 12.0])


# -- input checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ticker", "multiplier", "timespan", "start", "end"),
    [
        ("AAPL", 1, "fortnight", date(2024, 1, 1), date(2024, 1, 2)),
        ("AAPL", 0, "day", date(2024, 1, 1), date(2024, 1, 2)),
        ("AAPL", 1, "day", date(2024, 1, 2), date(2024, 1, 1)),
        ("../v1/x", 1, "day", date(2024, 1, 1), date(2024, 1, 2)),
        ("AAPL", 1, "day", datetime(2024, 1, 1), date(2024, 1, 2)),
    ],
)
async def test_bad_arguments_are_invalid_input_without_calling_upstream(
    fake_polygon: FakePolygon,
    ticker: str,
    multiplier: int,
    timespan: str,
    start: date,
    end: date,
) -> None:
    async with client_for(fake_polygon) as client:
        with pytest.raises(InvalidInput):
            await client.aggregates(ticker, multiplier, timespan, start, end)
    assert fake_polygon.count() == 0
