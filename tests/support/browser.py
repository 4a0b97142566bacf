"""A real browser for end-to-end tests: Playwright driving Debian's Chromium, never a download.

Every page is opened in a context that lets requests reach 127.0.0.1 only (anything else is
aborted and recorded), and records console errors, page errors and failed loads, so a test can
assert a page works offline and cleanly. Screenshots go to `test-output/` (ignored by git).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium missing: `apt-get install -y chromium`"
)


@dataclass
class PageLog:
    """What a page did besides rendering: requests, and anything that went wrong."""

    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Everything a clean, offline page load must not have."""
        return [
            *(f"left 127.0.0.1: {u}" for u in self.blocked),
            *(f"failed: {u}" for u in self.failed),
            *(f"console: {m}" for m in self.console_errors),
            *(f"error: {m}" for m in self.page_errors),
        ]


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Chromium from /usr/bin (skips, saying why, where it is not installed).

    One per test, set up after the test's other fixtures: Playwright's sync API keeps an event
    loop running in this thread while it is open, so async fixtures (databases) cannot be set
    up under it.
    """
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium missing: `apt-get install -y chromium`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # belt and braces: no name but 127.0.0.1 resolves, so nothing can leak out
            args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
        )
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def open_page(
    browser: Browser, *, color_scheme: str = "light", width: int = 1280, height: int = 900
) -> Iterator[tuple[Page, PageLog]]:
    """A fresh page (own storage) whose every request and error is logged."""
    context = browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme=color_scheme,  # type: ignore[arg-type]
    )
    log = PageLog()

    def only_local(route: Route, request: Request) -> None:
        if is_local(request.url):
            route.continue_()
        else:
            log.blocked.append(request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("request", lambda r: log.requests.append(r.url))
    page.on("requestfailed", lambda r: log.failed.append(f"{r.url} {r.failure}"))
    page.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log.page_errors.append(str(e)))
    try:
        yield page, log
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Keep a full-page screenshot for review under test-output/."""
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
