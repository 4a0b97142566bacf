"""GraphiQL keeps keys in the tab, and its page goes out with security headers.

Before: `/graphql?headers={"X-API-Key": ...}` filled GraphiQL's headers editor from a link
(someone else's key, planted) and GraphiQL saved headers in localStorage for the next visitor;
the page had no CSP, `X-Frame-Options` or `nosniff`.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from playwright.sync_api import Browser

from tests.e2e.test_graphiql_browser import (
    HTML,
    TOOL_EDITORS,
    LiveServer,
    live_server,
    needs_real_assets,
    response_with,
    wait_for_editor,
)
from tests.support.browser import needs_chromium, open_page

__all__ = ["live_server"]  # the fixture, shared with the browser test
PLANTED = "mg_planted_by_a_link_0123456789abcdef"


@needs_real_assets
def test_the_page_goes_out_with_security_headers(live_server: LiveServer) -> None:
    page = httpx.get(f"{live_server.origin}/graphql", headers=HTML)
    assert page.status_code == 200
    policy = dict(
        directive.split(" ", 1) for directive in page.headers["content-security-policy"].split("; ")
    )
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["script-src"].startswith("'self' 'sha256-")  # inline code by hash only
    assert "unsafe" not in policy["script-src"]  # no injected script can run
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "shouldPersistHeaders: false" in page.text


@needs_chromium
@needs_real_assets
def test_headers_are_neither_taken_from_the_url_nor_stored(
    live_server: LiveServer, browser: Browser
) -> None:
    headers = quote(f'{{"X-API-Key": "{PLANTED}"}}')
    with open_page(browser) as (page, _):
        page.goto(f"{live_server.origin}/graphql?q={quote('{ hello }')}&headers={headers}")
        assert wait_for_editor(page) == "{ hello }"
        page.locator(".graphiql-execute-button").click()
        assert response_with(page, "hello") == {"data": {"hello": "Hello from marketgraph"}}
        assert not any(PLANTED in value for value in page.evaluate(TOOL_EDITORS))
        stored = page.evaluate("JSON.stringify(Object.entries(localStorage))")
    assert PLANTED not in stored
    assert "graphiql:query" in stored  # GraphiQL does store things: just not headers
