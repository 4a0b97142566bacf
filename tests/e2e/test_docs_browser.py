"""Swagger UI (`/docs`) and ReDoc (`/redoc`) render in Debian's Chromium, every request they
make answered by the gateway itself on 127.0.0.1 (no CDN, no fonts, no validator badge).

Needs `/usr/bin/chromium` and the npm assets (`npm ci`); skips, saying which, without them.
The pages need no database, so the app is served without its lifespan.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright

from gateway.app import BROWSER_ASSETS, create_app
from gateway.graphiql import find_assets_dir
from gateway.rate_limit import KeyRateLimiter
from gateway.settings import Settings
from tests.support.live_server import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
    ),
    pytest.mark.skipif(
        find_assets_dir(assets=BROWSER_ASSETS) is None,
        reason="node_modules absent: run `npm ci` at the repository root",
    ),
]
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    config = Settings(_env_file=None, database_url="postgresql://unused")  # type: ignore[call-arg]
    app = create_app(config)
    app.state.rate_limiter = KeyRateLimiter()  # what the (skipped) lifespan would have made
    with serve_in_thread(app) as url:
        yield url


@dataclass
class Traffic:
    """What a page asked for, and what its content security policy stopped in the browser."""

    requested: list[str] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)

    def left_the_machine(self) -> list[str]:
        return [
            url
            for url in self.requested
            if not url.startswith(("data:", "blob:"))
            and urlsplit(url).hostname != "127.0.0.1"
            and url not in self.blocked
        ]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser: Browser) -> tuple[Page, Traffic]:
    page, traffic = browser.new_page(), Traffic()
    page.on("request", lambda request: traffic.requested.append(request.url))

    def failed(request: Request) -> None:
        if (request.failure or "").lower() in ("csp", "net::err_blocked_by_csp"):
            traffic.blocked.add(request.url)

    page.on("requestfailed", failed)
    return page, traffic


def test_swagger_ui_renders_every_route_locally(origin: str, browser: Browser) -> None:
    page, traffic = open_page(browser)
    page.goto(f"{origin}/docs")
    page.wait_for_selector(
        ".opblock-summary-path[data-path='/api/v1/historical/{symbol}']", timeout=WAIT_MS
    )
    assert page.locator(".opblock").count() >= 19  # every operation of the document
    assert page.locator("text=Authorize").count() >= 1  # the X-API-Key security scheme
    assert f"{origin}/openapi.json" in traffic.requested
    assert traffic.left_the_machine() == []


def test_redoc_renders_locally(origin: str, browser: Browser) -> None:
    page, traffic = open_page(browser)
    page.goto(f"{origin}/redoc")
    page.wait_for_selector("h1:has-text('marketgraph REST API')", timeout=WAIT_MS)
    page.wait_for_selector("[data-section-id*='operation/historical']", timeout=WAIT_MS)
    assert f"{origin}/openapi.json" in traffic.requested
    assert traffic.left_the_machine() == []
