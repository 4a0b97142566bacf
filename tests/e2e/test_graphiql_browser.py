"""GraphiQL at /graphql loads every asset from the gateway itself, and works in a real browser.

The browser tests start a real uvicorn server on 127.0.0.1 and drive Debian's headless Chromium
with Playwright (tests/support/browser.py). They need `/usr/bin/chromium` (`apt-get install -y
chromium`) and the npm assets (`npm ci` at the repository root); without them they skip, saying
which is missing. The other tests run in-process and mostly use a fake `node_modules`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import strawberry
from playwright.sync_api import Browser, Page, Response, expect
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http.ides import get_graphql_ide_html

from gateway.graphiql import (
    CACHE_CONTROL,
    STATIC_PREFIX,
    UNAVAILABLE_PAGE,
    VENDOR_ASSETS,
    LocalGraphQL,
    find_assets_dir,
    graphiql_asset_routes,
    render_graphiql_page,
    served_assets,
)
from gateway.graphiql_examples import EXAMPLE_OPERATIONS, with_examples
from tests.support.browser import needs_chromium, open_page, screenshot
from tests.support.databases import Database
from tests.support.demo_site import demo_site
from tests.support.live_server import serve_in_thread

REAL_ASSETS = find_assets_dir()
needs_real_assets = pytest.mark.skipif(
    REAL_ASSETS is None, reason="node_modules absent: run `npm ci` at the repository root"
)
HTML = {"Accept": "text/html"}
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}
# src/href values in the page; the favicon is an inline data: URL.
ASSET_ATTR = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""")


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "Hello from marketgraph"


SCHEMA = strawberry.Schema(query=Query)


@dataclass(frozen=True, slots=True)
class Hit:
    method: str
    path: str
    status: int


class RecordRequests:
    """Pure ASGI middleware noting every HTTP request the server answered."""

    def __init__(self, app: ASGIApp, hits: list[Hit]) -> None:
        self.app = app
        self.hits = hits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, note_status)
        self.hits.append(Hit(scope["method"], scope["path"], status))


def make_app(assets_dir: Path | None, hits: list[Hit] | None = None, **view: Any) -> Starlette:
    middleware = [] if hits is None else [Middleware(RecordRequests, hits=hits)]
    return Starlette(
        routes=[
            *graphiql_asset_routes(assets_dir),
            Route("/graphql", LocalGraphQL(SCHEMA, assets_dir=assets_dir, **view)),
        ],
        middleware=middleware,
    )


def page_urls(html: str) -> list[str]:
    return [u for u in ASSET_ATTR.findall(html) if not u.startswith("data:")]


@pytest.fixture
def fake_assets(tmp_path: Path) -> Path:
    """A node_modules holding just the allow-listed files (and a stray one that must not leak)."""
    root = tmp_path / "node_modules"
    for asset in VENDOR_ASSETS:
        file = root / asset.package / asset.path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(f"/* {asset.package}/{asset.path} */\n", encoding="utf-8")
        (root / asset.package / "package.json").write_text(
            json.dumps({"name": asset.package, "version": "1.2.3"}), encoding="utf-8"
        )
    (root / "graphiql" / "secret.txt").write_text("not for clients", encoding="utf-8")
    return root


# --- the page, without a browser ---------------------------------------------------------------


def test_page_references_only_local_assets(
    fake_assets: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.graphiql"):
        html = render_graphiql_page(fake_assets)
    expected = {s.url for s in served_assets(fake_assets).values()}
    assert set(page_urls(html)) == expected
    assert all(u.startswith(f"{STATIC_PREFIX}/") and "@1.2.3/" in u for u in expected)
    assert "unpkg.com" not in html
    assert "integrity=" not in html
    assert caplog.records == []


@needs_real_assets
def test_real_node_modules_page_is_local(caplog: pytest.LogCaptureFixture) -> None:
    assert REAL_ASSETS is not None
    with caplog.at_level(logging.WARNING, logger="gateway.graphiql"):
        html = render_graphiql_page(REAL_ASSETS)
    urls = page_urls(html)
    assert len(urls) == len(VENDOR_ASSETS)
    assert all(u.startswith(f"{STATIC_PREFIX}/") for u in urls)
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", html)
    assert caplog.records == []


async def test_missing_assets_give_a_503_page_loading_nothing_and_log_an_error_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert graphiql_asset_routes(None) == []
    with caplog.at_level(logging.WARNING, logger="gateway.graphiql"):
        app = make_app(None)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            pages = [await client.get("/graphql", headers=HTML) for _ in range(3)]
            api = await client.post("/graphql", json={"query": "{ __typename }"})
    assert [p.status_code for p in pages] == [503] * 3
    assert pages[0].text == UNAVAILABLE_PAGE
    assert page_urls(pages[0].text) == [] and "unpkg" not in pages[0].text
    assert "GRAPHIQL_ASSETS_DIR" in pages[0].text
    assert api.status_code == 200  # the API itself does not need the assets
    errors = [r for r in caplog.records if r.name == "gateway.graphiql"]
    assert len(errors) == 1
    assert errors[0].levelno == logging.ERROR
    assert "npm ci" in errors[0].getMessage() and "GRAPHIQL_ASSETS_DIR" in errors[0].getMessage()


def test_template_asking_for_an_unvendored_file_gives_the_unavailable_page(
    fake_assets: Path, caplog: pytest.LogCaptureFixture
) -> None:
    template = '<script src="https://unpkg.com/leftpad@1.0.0/index.js"></script>'
    with caplog.at_level(logging.WARNING, logger="gateway.graphiql"):
        assert render_graphiql_page(fake_assets, template=template) == UNAVAILABLE_PAGE
    assert "leftpad/index.js" in caplog.text
    assert caplog.records[0].levelno == logging.ERROR


def test_find_assets_dir(fake_assets: Path, tmp_path: Path) -> None:
    assert find_assets_dir(fake_assets) == fake_assets.resolve()
    with pytest.raises(FileNotFoundError, match="npm ci"):
        find_assets_dir(tmp_path / "nowhere")
    (fake_assets / "graphiql" / "graphiql.min.css").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape("graphiql/graphiql.min.css")):
        find_assets_dir(fake_assets)


async def test_other_ides_are_left_to_strawberry(fake_assets: Path) -> None:
    app = make_app(fake_assets, graphql_ide="apollo-sandbox")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        page = (await client.get("/graphql", headers=HTML)).text
    assert "apollo" in page.lower()
    assert STATIC_PREFIX not in page


# --- the asset routes, in-process --------------------------------------------------------------


async def check_assets_served(assets_dir: Path) -> None:
    app = make_app(assets_dir)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        page = await client.get("/graphql", headers=HTML)
        assert page.status_code == 200
        files = {s.url: s.file for s in served_assets(assets_dir).values()}
        urls = page_urls(page.text)
        assert set(urls) == set(files)
        for url in urls:
            response = await client.get(url)
            assert response.status_code == 200, url
            media_type = response.headers["content-type"].split(";")[0]
            assert media_type == CONTENT_TYPES[Path(url).suffix], url
            assert response.headers["cache-control"] == CACHE_CONTROL
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.content == files[url].read_bytes()
            head = await client.head(url)
            assert head.status_code == 200
            assert head.content == b""
        any_url = urls[0]
        version_dir = any_url.removeprefix(f"{STATIC_PREFIX}/").split("/", 1)[0]
        for stray in (
            f"{STATIC_PREFIX}/graphiql@1.2.3/secret.txt",
            f"{STATIC_PREFIX}/{version_dir}/package.json",
            f"{STATIC_PREFIX}/{version_dir}/..%2F..%2Fgraphiql%2Fpackage.json",
            f"{STATIC_PREFIX}/graphiql@0.0.0/graphiql.min.js",
            f"{STATIC_PREFIX}/graphiql/graphiql.min.js",
        ):
            assert (await client.get(stray)).status_code == 404, stray


async def test_each_page_asset_answers_200_with_its_content_type(fake_assets: Path) -> None:
    await check_assets_served(fake_assets)


@needs_real_assets
async def test_real_assets_answer_200_with_their_content_type() -> None:
    assert REAL_ASSETS is not None
    await check_assets_served(REAL_ASSETS)


# --- a real server and a real browser ----------------------------------------------------------


@dataclass
class LiveServer:
    origin: str
    hits: list[Hit] = field(default_factory=list)


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    assert REAL_ASSETS is not None
    hits: list[Hit] = []
    app = make_app(REAL_ASSETS, hits)
    with serve_in_thread(app) as origin:
        yield LiveServer(origin, hits)


@contextlib.contextmanager
def introspection_done(page: Page, origin: str) -> Iterator[None]:
    """Wait, after the block, until the page's first POST to /graphql (GraphiQL's introspection)
    has finished: navigating on while it is in flight makes Chromium abort it, which the page
    log rightly counts as a failed load."""
    with page.expect_event(
        "requestfinished",
        lambda r: r.method == "POST" and r.url == f"{origin}/graphql",
        timeout=30_000,
    ):
        yield


def editor_text(page: Page, editor: str) -> str:
    """The text of one of GraphiQL's CodeMirror editors (query, response, headers)."""
    return str(
        page.evaluate(f"document.querySelector('{editor} .CodeMirror').CodeMirror.getValue()")
    )


QUERY_EDITOR = ".graphiql-query-editor"
RESPONSE_EDITOR = ".graphiql-response"
TOOL_EDITORS = (  # the Variables and Headers editors' texts
    "[...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]"
    ".map(e => e.CodeMirror.getValue())"
)


def response_with(page: Page, field: str) -> Any:
    """The response pane's JSON once it holds an answer with `field` in its data (waited for
    through the DOM: the page's CSP refuses the string predicates of `wait_for_function`)."""
    expect(page.locator(f"{RESPONSE_EDITOR} .CodeMirror-code")).to_contain_text(
        f'"{field}"', timeout=30_000
    )
    return json.loads(editor_text(page, RESPONSE_EDITOR))


def wait_for_editor(page: Page) -> str:
    expect(page.locator(f"{QUERY_EDITOR} .CodeMirror-code")).not_to_have_text("", timeout=30_000)
    return editor_text(page, QUERY_EDITOR)


@needs_chromium
@needs_real_assets
def test_graphiql_renders_in_chromium_from_local_assets(
    live_server: LiveServer, browser: Browser
) -> None:
    origin = live_server.origin
    live_server.hits.clear()
    with open_page(browser) as (page, log):
        responses: list[Response] = []
        page.on("response", lambda r: responses.append(r))
        with introspection_done(page, origin):
            page.goto(f"{origin}/graphql")
        # React mounted GraphiQL and CodeMirror holds the example operations.
        assert "query DailyBars" in wait_for_editor(page)
        # The explorer plugin's UMD build loaded and registered itself.
        page.get_by_label("Show GraphiQL Explorer").wait_for()
        # And it talks to the gateway: run a query (given in the URL, as links share them).
        with introspection_done(page, origin):
            page.goto(f"{origin}/graphql?q={quote('{ hello }')}")
        assert wait_for_editor(page) == "{ hello }"
        page.locator(".graphiql-execute-button").click()
        assert response_with(page, "hello") == {"data": {"hello": "Hello from marketgraph"}}
        screenshot(page, "graphiql")

    assert log.requests and log.problems() == []
    # The server answered each vendored file (once per page load), 200, the right content type.
    assert REAL_ASSETS is not None
    expected = {s.url for s in served_assets(REAL_ASSETS).values()}
    vendor_hits = [h for h in live_server.hits if h.path.startswith(f"{STATIC_PREFIX}/")]
    assert {h.path for h in vendor_hits} == expected
    assert all(h.status == 200 for h in vendor_hits)
    assert Hit("POST", "/graphql", 200) in live_server.hits  # introspection and the query
    vendor = [r for r in responses if r.url.startswith(f"{origin}{STATIC_PREFIX}/")]
    assert {r.url.removeprefix(origin) for r in vendor} == expected
    for response in vendor:
        assert response.status == 200, response.url
        media_type = response.headers["content-type"].split(";")[0]
        assert media_type == CONTENT_TYPES[Path(response.url).suffix], response.url


@needs_chromium
@needs_real_assets
def test_graphiql_opens_on_examples_that_answer_over_the_demo_data(
    demo_db: Database, browser: Browser
) -> None:
    with demo_site(demo_db) as origin, open_page(browser) as (page, log):
        sent_keys: list[str | None] = []
        page.on("request", lambda r: sent_keys.append(r.headers.get("x-api-key")))
        page.goto(f"{origin}/graphql")
        wait_for_editor(page)
        # The Headers tab shows where a key goes.
        page.get_by_role("button", name="Headers").click()
        assert '{\n  "X-API-Key": "mg_..."\n}' in page.evaluate(TOOL_EDITORS)
        answers = {
            name: run_named(page, name, field)
            for name, field in (
                ("DailyBars", "bars"),
                ("SeveralSymbols", "symbols"),
                ("WeekSummary", "aggregates"),
            )
        }
        screenshot(page, "graphiql-demo")
    assert log.problems() == []
    assert "mg_..." not in sent_keys  # the placeholder is shown, never sent
    bars = answers["DailyBars"]["data"]["bars"]
    assert len(bars) == 21 and bars[0]["time"] == "2024-12-02T05:00:00Z"
    assert [s["ticker"] for s in answers["SeveralSymbols"]["data"]["symbols"]] == [
        "AAPL",
        "MSFT",
        "X:BTCUSD",
    ]
    assert all(a["barCount"] > 0 for a in answers["WeekSummary"]["data"]["aggregates"])


def run_named(page: Page, operation: str, field: str) -> Any:
    """Run one operation of the example document, as a user does: run button, then its name."""
    page.locator(".graphiql-execute-button").click()
    page.get_by_role("menuitem", name=operation).click()
    return response_with(page, field)


def test_a_template_without_the_anchors_is_served_as_it_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    page = "<script>const EXAMPLE_QUERY = `hi`; fetcher: fetcher,</script>"
    with caplog.at_level(logging.WARNING, logger="gateway.graphiql_examples"):
        assert with_examples(page) == page  # 'headers: headers,' is missing: nothing edited
    assert "headers: headers," in caplog.text


def test_the_stock_template_opens_on_the_examples_with_the_key_placeholder() -> None:
    page = with_examples(get_graphql_ide_html("graphiql"))
    assert json.dumps(EXAMPLE_OPERATIONS) in page
    assert "fetcher: withoutPlaceholderKey(fetcher)," in page
    assert "defaultHeaders: DEFAULT_HEADERS," in page
