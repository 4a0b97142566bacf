"""The dashboard in a real browser, against a real gateway over the demo data.

Playwright drives Debian's Chromium (tests/support/browser.py): every request must stay on
127.0.0.1, and console errors fail a test. Every panel reads the gateway's own routes (REST,
GraphQL) over the demo data; what a panel shows is checked against what its route answered.
One test runs a gateway without the REST routes and checks each panel says "not available".
Screenshots are kept under test-output/.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.sync_api import Browser, Page, Response, expect

from domain.access import Scope
from storage import api_keys
from tests.support.browser import PageLog, open_page, screenshot
from tests.support.databases import Database
from tests.support.demo_site import demo_site

pytestmark = pytest.mark.usefixtures("demo_db")
LATEST = '{ bars(ticker: "AAPL", timeframe: D1, limit: LIMIT) { time close } }'
SERIES = """query($t: String!, $tf: Timeframe!, $from: DateTime, $to: DateTime) {
  barSeries(ticker: $t, timeframe: $tf, from: $from, to: $to, limit: 50000) { time }
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin_key(demo_db: Database) -> AsyncIterator[str]:
    _, raw = await api_keys.create_key(demo_db.pool, "dashboard admin", [Scope.ADMIN])
    yield raw


@pytest.fixture(scope="module")
def site(demo_db: Database, admin_key: str) -> Iterator[str]:
    """The gateway with reads open, some traffic served, and a real alert in its history
    (a p95 threshold of 0 ms fires on the first check after any request)."""
    with demo_site(demo_db, alert_p95_ms=0, alert_interval_seconds=0.2) as origin:
        with httpx.Client(base_url=origin, timeout=30) as client:
            for limit in (1, 2, 2, 2):  # one miss then hits: a cache hit rate that is not 0
                client.post("/graphql", json={"query": LATEST.replace("LIMIT", str(limit))})
            deadline = time.monotonic() + 30
            while not client.get("/api/v1/observability/alerts").json()["count"]:
                assert time.monotonic() < deadline, "no alert fired"
                time.sleep(0.1)
        yield origin


def open_dashboard(page: Page, origin: str) -> None:
    page.goto(f"{origin}/dashboard")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#chart")).to_have_attribute("data-bar-count", re.compile(r"^\d+$"))


def card(page: Page, name: str) -> str:
    return page.locator(f'[data-card="{name}"] .value').inner_text()


def api_bars(origin: str, chart: dict[str, str]) -> list[str]:
    """The bar times the API gives for the window the chart says it drew."""
    variables = {
        "t": chart["ticker"],
        "tf": chart["timeframe"],
        "from": chart["from"] or None,
        "to": chart["to"] or None,
    }
    answer = httpx.post(f"{origin}/graphql", json={"query": SERIES, "variables": variables})
    body: dict[str, Any] = answer.json()
    assert "errors" not in body, body
    times: list[str] = body["data"]["barSeries"]["time"]
    return times


def drawn(page: Page) -> dict[str, str]:
    data: dict[str, str] = page.evaluate("({...document.querySelector('#chart').dataset})")
    return data


def assert_draws_exactly_the_api_bars(page: Page, origin: str) -> dict[str, str]:
    chart = drawn(page)
    times = api_bars(origin, chart)
    assert times, chart
    assert int(chart["barCount"]) == len(times)
    assert (chart["firstTime"], chart["lastTime"]) == (times[0], times[-1])
    return chart


CARD_ROUTES = ("/health", "/api/v1/observability/metrics", "/api/v1/performance/queries",
               "/api/v1/performance/cache", "/api/v1/observability/alerts")  # fmt: skip


def shown_with_answers(
    page: Page, answers: dict[str, list[Response]]
) -> tuple[dict[str, str], dict[str, Any]]:
    """The cards' texts and the route answers they were drawn from (read again when the page
    refreshed meanwhile, every 15 s)."""
    while True:
        seen = {path: len(got) for path, got in answers.items()}
        cards = {name: card(page, name) for name in ("health", "requests", "errors", "latency",
                                                     "cache", "upstream", "scheduler")}  # fmt: skip
        bodies = {path: got[-1].json() for path, got in answers.items()}
        if seen == {path: len(got) for path, got in answers.items()}:
            return cards, bodies


def recorded_answers(page: Page, origin: str) -> dict[str, list[Response]]:
    """Every 200 answer of the card routes the page gets, by path, in arrival order."""
    answers: dict[str, list[Response]] = {path: [] for path in CARD_ROUTES}

    def keep(response: Response) -> None:
        path = response.url.removeprefix(origin).split("?")[0]
        if path in answers and response.status == 200:
            answers[path].append(response)

    page.on("response", keep)
    return answers


def js_number(value: float, digits: int) -> str:
    """`Number(value).toLocaleString("en-US", {digits})`: halves round away from zero."""
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
    return f"{rounded:,.{digits}f}"


def expected_cards(bodies: dict[str, Any]) -> dict[str, str]:
    """What cards.js shows for these answers (numbers as en-US toLocaleString)."""
    summary = bodies["/api/v1/observability/metrics"]["summary"]
    stats = bodies["/api/v1/performance/queries"]["stats"]
    cache = bodies["/api/v1/performance/cache"]["cache"]
    return {
        "health": bodies["/health"]["status"],
        "requests": f"{js_number(summary['requests_last_hour'] / 60, 1)}/min",
        "errors": f"{js_number(summary['error_rate_pct'], 2)} %",
        "latency": " / ".join(js_number(stats[k], 1) for k in ("median_ms", "p95_ms", "p99_ms"))
        + " ms",
        "cache": f"{js_number(cache['hit_rate_pct'], 1)} %",
        "upstream": "off",  # no POLYGON_API_KEY
        "scheduler": "not running",  # no BACKFILL_SCHEDULE
    }


def test_page_loads_offline_without_errors_and_cards_show_the_metrics(
    site: str, browser: Browser
) -> None:
    for scheme in ("light", "dark"):
        with open_page(browser, color_scheme=scheme) as (page, log):
            answers = recorded_answers(page, site)
            open_dashboard(page, site)
            alerts = answers["/api/v1/observability/alerts"]
            expect(page.locator(".alerts li")).to_have_count(alerts[-1].json()["count"])
            shown, bodies = shown_with_answers(page, answers)
            assert shown == expected_cards(bodies)
            assert bodies["/api/v1/observability/metrics"]["summary"]["requests_last_hour"] > 0
            assert bodies["/api/v1/performance/cache"]["cache"]["hits"] > 0
            first = bodies["/api/v1/observability/alerts"]["alerts"][0]
            assert first["type"] == "latency_p95"
            expect(page.locator(".alerts li").first).to_contain_text(first["title"])
            assert page.evaluate("document.documentElement.dataset.theme") == scheme
            screenshot(page, f"dashboard-{scheme}")
        assert log.problems() == []
        assert all(u.startswith(f"{site}/") for u in log.requests)


def test_panels_whose_routes_are_missing_say_not_available(
    demo_db: Database, browser: Browser
) -> None:
    with demo_site(demo_db, without_rest=True) as origin, open_page(browser) as (page, log):
        statuses: dict[str, int] = {}
        page.on("response", lambda r: statuses.__setitem__(r.url, r.status))
        open_dashboard(page, origin)
        for panel in ("#symbols-body", "#alerts-body"):
            expect(page.locator(panel)).to_contain_text("not available on this server")
        expect(page.locator("#tracked-body")).to_contain_text("enter an admin key")
        for name in ("requests", "errors", "latency", "cache"):
            assert card(page, name) == "not available"
        assert card(page, "health") == "healthy"
        assert int(drawn(page)["barCount"]) > 0  # the chart needs only GraphQL
        screenshot(page, "dashboard-without-rest")
    missing = {u for u, status in statuses.items() if status == 404}
    assert missing and all("/api/v1/" in u for u in missing)
    # The browser reports each 404 on the console; nothing else may go wrong.
    expected_noise = [m for m in log.console_errors if "status of 404" in m]
    assert len(expected_noise) == len(log.console_errors)
    assert log.blocked == log.failed == log.page_errors == []


def test_the_chart_draws_exactly_the_bars_of_the_selected_range(
    site: str, browser: Browser
) -> None:
    with open_page(browser) as (page, log):
        open_dashboard(page, site)
        first = assert_draws_exactly_the_api_bars(page, site)
        assert (first["ticker"], first["timeframe"]) == ("AAPL", "D1")
        assert first["lastTime"] == "2024-12-31T05:00:00Z"  # 1Y back from the latest bar

        page.locator("#timeframes label", has_text=re.compile("^1h$")).click()
        expect(page.locator("#chart")).to_have_attribute("data-timeframe", "H1")
        hourly = assert_draws_exactly_the_api_bars(page, site)
        assert hourly["from"] and 0 < int(hourly["barCount"]) < 500

        page.select_option("#symbol", "X:BTCUSD")
        expect(page.locator("#chart")).to_have_attribute("data-ticker", "X:BTCUSD")
        page.locator("#ranges label", has_text="1D").click()
        # one day back from the last hourly bar, 2024-12-31T23:00Z
        expect(page.locator("#chart")).to_have_attribute("data-from", "2024-12-30T23:00:00.000Z")
        day = assert_draws_exactly_the_api_bars(page, site)
        assert int(day["barCount"]) == 25  # 24 hours back from the last bar, both ends in

        page.locator("#timeframes label", has_text=re.compile("^1d$")).click()
        expect(page.locator("#chart")).to_have_attribute("data-timeframe", "D1")  # redrawn
        page.fill("#from", "2024-03-01")
        page.fill("#to", "2024-03-31")
        page.get_by_role("button", name="Show range").click()
        expect(page.locator("#chart")).to_have_attribute("data-to", "2024-04-01T00:00:00.000Z")
        # the drawing finishes after the range is set: wait for it, not for the first attribute
        expect(page.locator("#chart")).to_have_attribute("data-from", "2024-03-01T00:00:00Z")
        expect(page.locator("#chart")).to_have_attribute("data-bar-count", "31")
        march = assert_draws_exactly_the_api_bars(page, site)
        assert march["barCount"] == "31"  # crypto trades every day
    assert log.problems() == []


def rows(page: Page) -> list[str]:
    symbols: list[str] = page.locator("#symbols-body tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.symbol)"
    )
    return symbols


def test_symbols_table_sorts_searches_and_filters(site: str, browser: Browser) -> None:
    detailed = httpx.get(f"{site}/api/v1/symbols/detailed").json()["symbols"]
    every = sorted(s["symbol"] for s in detailed)
    # the page sorts stably: ties keep the route's order either way
    by_records = [s["symbol"] for s in sorted(detailed, key=lambda s: s["records"])]
    by_records_down = [s["symbol"] for s in sorted(detailed, key=lambda s: -s["records"])]
    statuses = {s["status"] for s in detailed}
    assert len(every) == 5 and by_records_down != every  # sorting changes the order
    with open_page(browser) as (page, log):
        open_dashboard(page, site)
        assert rows(page) == every
        records = {r: page.locator(f'#symbols-body tr[data-symbol="{r}"] td').first.inner_text()
                   for r in every}  # fmt: skip
        assert records == {s["symbol"]: f"{s['records']:,}" for s in detailed}
        page.get_by_role("button", name="Records").click()
        assert rows(page) == by_records
        page.get_by_role("button", name="Records").click()
        assert rows(page) == by_records_down
        header = page.locator("th", has=page.get_by_role("button", name="Records"))
        assert header.get_attribute("aria-sort") == "descending"
        page.fill("#symbol-search", "x:")
        assert sorted(rows(page)) == [s for s in every if s.startswith("X:")]
        page.fill("#symbol-search", "")
        for status in ("healthy", "warning", "stale"):
            page.select_option("#symbol-status", status)
            chosen = sorted(s["symbol"] for s in detailed if s["status"] == status)
            assert sorted(rows(page)) == chosen
            expect(page.locator("#symbols-count")).to_have_text(f"{len(chosen)} of 5")
        assert statuses == {"stale"}  # the demo data ends 2024-12-31: old, so stale
        page.select_option("#symbol-status", "")
        page.get_by_role("button", name="SPY").click()  # a ticker opens its chart
        expect(page.locator("#chart")).to_have_attribute("data-ticker", "SPY")
    assert log.problems() == []


def focusable(page: Page) -> set[str]:
    """A name for every control a user can operate (radio groups count once, by name)."""
    names: list[str] = page.evaluate(
        """[...document.querySelectorAll('a[href], button, input, select')]
            .filter(e => !e.disabled && e.getClientRects().length && !e.closest('[hidden]'))
            .map(e => e.type === 'radio' ? 'radio:' + e.name
                 : e.id || e.getAttribute('aria-label') || e.dataset.sort
                 || e.textContent.trim() || e.getAttribute('href'))"""
    )
    return set(names)


def test_keyboard_reaches_every_control(site: str, browser: Browser) -> None:
    with open_page(browser) as (page, log):
        open_dashboard(page, site)
        wanted = focusable(page)
        reached: set[str] = set()
        for _ in range(3 * len(wanted) + 40):  # bounded: every control, with room to spare
            page.keyboard.press("Tab")
            reached.add(
                page.evaluate(
                    """(e => e.type === 'radio' ? 'radio:' + e.name
                        : e.id || e.getAttribute('aria-label') || e.dataset.sort
                        || e.textContent.trim() || e.getAttribute('href'))
                       (document.activeElement)"""
                )
            )
        assert wanted - reached == set()
        # Radio groups move with the arrow keys, as everywhere: 1d -> 1w redraws weekly bars.
        page.locator("#timeframes input[value=D1]").focus()
        page.keyboard.press("ArrowRight")
        expect(page.locator("#chart")).to_have_attribute("data-timeframe", "W1")
    assert log.problems() == []


def test_key_is_asked_once_kept_for_the_tab_and_never_put_in_a_url(
    demo_db: Database, admin_key: str, browser: Browser
) -> None:
    with demo_site(demo_db, anonymous_reads=False) as origin, open_page(browser) as (page, log):
        page.goto(f"{origin}/dashboard")
        page.wait_for_selector("body[data-ready=true]")
        expect(page.locator("#chart-status")).to_contain_text("needs an API key")
        expect(page.locator("#api-key")).to_be_focused()
        page.keyboard.type(admin_key)
        page.keyboard.press("Enter")
        expect(page.locator("#chart")).to_have_attribute("data-ticker", "AAPL")
        assert page.evaluate("sessionStorage.getItem('marketgraph.apiKey')") == admin_key
        assert page.evaluate("localStorage.getItem('marketgraph.apiKey')") is None
        page.reload()  # the same tab keeps it: not asked again
        open_dashboard(page, origin)
        assert page.input_value("#api-key") == ""  # never shown back
    assert not [u for u in log.requests if admin_key in u]
    # only the 401s from before the key was given
    assert [m for m in log.console_errors if "status of 401" not in m] == []


def test_tracked_symbols_are_managed_with_an_admin_key(
    site: str, admin_key: str, browser: Browser
) -> None:
    with open_page(browser) as (page, log):
        open_dashboard(page, site)
        expect(page.locator("#tracked-body")).to_contain_text("enter an admin key")
        page.fill("#api-key", admin_key)
        page.get_by_role("button", name="Use key").click()
        expect(page.locator("#tracked-body")).to_contain_text("No tracked symbols yet")
        page.fill("#track-symbol", "nvda")
        page.get_by_role("button", name="Track").click()
        row = page.locator('#tracked-body tr[data-symbol="NVDA"]')
        expect(row).to_be_visible()
        page.get_by_label("NVDA active").uncheck()
        expect(page.locator("#tracked-status")).to_have_text("Pausing NVDA: done.")
        row.get_by_label("1h").check()
        page.get_by_role("button", name="Save NVDA timeframes").click()
        expect(page.locator("#tracked-status")).to_have_text("Saving NVDA timeframes: done.")
        listed = httpx.get(f"{site}/api/v1/admin/symbols?active_only=false",
                           headers={"X-API-Key": admin_key}).json()  # fmt: skip
        screenshot(page, "dashboard-tracked")
    assert [(r["symbol"], r["active"], r["timeframes"]) for r in listed] == [
        ("NVDA", False, ["1h", "1d"])  # sorted by length, as the service keeps them
    ]
    assert log.problems() == []


def test_page_log_flags_requests_leaving_loopback() -> None:
    log = PageLog(blocked=["https://cdn.example.com/x.js"])
    assert log.problems() == ["left 127.0.0.1: https://cdn.example.com/x.js"]


UNREADABLE = """() => {
  // WCAG contrast of each visible text against the first opaque background behind it
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || el.closest("[hidden], .visually-hidden")) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) bad.push(`${el.tagName}.${el.className}: ${ratio.toFixed(2)}`);
  }
  return bad;
}"""
UNLABELLED = """() => [...document.querySelectorAll('input, select, button')]
  .filter((e) => e.getClientRects().length && !e.closest('[hidden]'))
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                 && !e.getAttribute('aria-labelledby') && !e.textContent.trim())
  .map((e) => e.outerHTML.slice(0, 80))"""


def test_readable_in_both_themes_labelled_and_narrow_screens_need_no_sideways_scroll(
    site: str, browser: Browser
) -> None:
    for scheme in ("light", "dark"):
        with open_page(browser, color_scheme=scheme) as (page, log):
            open_dashboard(page, site)
            assert page.evaluate(UNREADABLE) == [], scheme  # WCAG AA: 4.5:1 for text
            assert page.evaluate(UNLABELLED) == []
    with open_page(browser, width=390, height=844) as (page, log):  # a phone
        open_dashboard(page, site)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        for control in ("#symbol", "#api-key", "#symbol-search", "#theme"):
            expect(page.locator(control)).to_be_visible()
        screenshot(page, "dashboard-narrow")
    assert log.problems() == []
