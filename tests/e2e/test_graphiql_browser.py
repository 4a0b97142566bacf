"""GraphiQL at /graphql loads every asset from the gateway itself, and works in a real browser.

The browser test starts a real uvicorn server on 127.0.0.1 and drives Debian's headless
Chromium over the DevTools protocol. It needs `/usr/bin/chromium` (`apt-get install -y
chromium`) and the npm assets (`npm ci` at the repository root); without them it skips, saying
which is missing. The other tests run in-process and mostly use a fake `node_modules`.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.sync.client import ClientConnection, connect

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
from tests.support.live_server import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,800",
    # Belt and braces: names other than 127.0.0.1 do not resolve, so nothing can leak out.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
REAL_ASSETS = find_assets_dir()
needs_real_assets = pytest.mark.skipif(
    REAL_ASSETS is None, reason="node_modules absent: run `npm ci` at the repository root"
)
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium missing: `apt-get install -y chromium`"
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


class DevTools:
    """A minimal Chrome DevTools Protocol client on one page session (flat mode)."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._last_id = 0
        self.session_id: str | None = None
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if self.session_id is not None:
            message["sessionId"] = self.session_id
        self._ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = json.loads(self._ws.recv(timeout=max(0.0, deadline - time.monotonic())))
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            if "method" in reply:
                self.events.append(reply)

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        """Poll until `expression` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"still falsy after {timeout}s: {expression}\n{self.diagnostics()}"
                )
            time.sleep(0.1)

    def of(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events if e["method"] == method]

    def diagnostics(self) -> str:
        """What went wrong in the page so far: failed loads, exceptions, console errors."""
        urls = {p["requestId"]: p["request"]["url"] for p in self.of("Network.requestWillBeSent")}
        failed = [
            f"{urls.get(p['requestId'], '?')}: {p['errorText']}"
            for p in self.of("Network.loadingFailed")
        ]
        thrown = [p["exceptionDetails"].get("text", "") for p in self.of("Runtime.exceptionThrown")]
        logged = [p["entry"]["text"] for p in self.of("Log.entryAdded")]
        return f"failed loads: {failed}\nexceptions: {thrown}\nlog: {logged}"


@contextmanager
def chromium_page(tmp_path: Path) -> Iterator[DevTools]:
    profile = tmp_path / "profile"
    log = tmp_path / "chromium.log"
    with log.open("wb") as stderr:
        browser = subprocess.Popen(
            [
                str(CHROMIUM),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if browser.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Chromium did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        with connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=10) as ws:
            devtools = DevTools(ws)
            target = devtools.call("Target.createTarget", {"url": "about:blank"})
            attached = devtools.call(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )
            devtools.session_id = attached["sessionId"]
            for domain in ("Network", "Page", "Runtime", "Log"):
                devtools.call(f"{domain}.enable")
            yield devtools
            devtools.session_id = None
            devtools.call("Browser.close")
    finally:
        try:
            browser.wait(15)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait(15)


QUERY_EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror')"
RESULT_EDITOR = "document.querySelector('.graphiql-response .CodeMirror')"


@needs_chromium
@needs_real_assets
def test_graphiql_renders_in_chromium_from_local_assets(
    live_server: LiveServer, tmp_path: Path
) -> None:
    origin = live_server.origin
    live_server.hits.clear()
    with chromium_page(tmp_path) as page:
        page.call("Page.navigate", {"url": f"{origin}/graphql"})
        # The editor renders: React mounted GraphiQL, CodeMirror holds Strawberry's example.
        welcome = page.wait_for(f"{QUERY_EDITOR} && {QUERY_EDITOR}.CodeMirror.getValue()")
        assert "Welcome to GraphiQL" in welcome
        container = "#graphiql [data-testid=graphiql-container]"
        assert page.evaluate(f"!!document.querySelector('{container} .graphiql-editor')")
        # The explorer plugin's UMD build loaded and registered itself.
        page.wait_for("!!document.querySelector('[aria-label=\"Show GraphiQL Explorer\"]')")
        # And it talks to the gateway: run a query, read the answer.
        page.evaluate(f"{QUERY_EDITOR}.CodeMirror.setValue('{{ hello }}')")
        page.evaluate("document.querySelector('.graphiql-execute-button').click()")
        answer = page.wait_for(
            f"{RESULT_EDITOR} && {RESULT_EDITOR}.CodeMirror.getValue().includes('marketgraph')"
            f" && {RESULT_EDITOR}.CodeMirror.getValue()"
        )
        assert json.loads(answer) == {"data": {"hello": "Hello from marketgraph"}}
        shot = page.call("Page.captureScreenshot", {"format": "png"})
        (tmp_path / "graphiql.png").write_bytes(base64.b64decode(shot["data"]))

    # Every request the browser made went to this server (or was an inline data: URL).
    requested = [p["request"]["url"] for p in page.of("Network.requestWillBeSent")]
    assert requested
    external = [u for u in requested if not u.startswith((f"{origin}/", "data:"))]
    assert external == []
    assert page.of("Network.loadingFailed") == []
    assert page.of("Runtime.exceptionThrown") == []
    errors = [e["entry"] for e in page.of("Log.entryAdded") if e["entry"]["level"] == "error"]
    assert errors == []

    # The server answered each vendored file once, with 200 and the right content type.
    assert REAL_ASSETS is not None
    expected = {s.url for s in served_assets(REAL_ASSETS).values()}
    vendor_hits = [h for h in live_server.hits if h.path.startswith(f"{STATIC_PREFIX}/")]
    assert sorted(h.path for h in vendor_hits) == sorted(expected)
    assert all(h.status == 200 for h in vendor_hits)
    assert Hit("POST", "/graphql", 200) in live_server.hits  # introspection and the query
    vendor_responses = [
        r["response"]
        for r in page.of("Network.responseReceived")
        if r["response"]["url"].startswith(f"{origin}{STATIC_PREFIX}/")
    ]
    assert len(vendor_responses) == len(expected)
    for response in vendor_responses:
        url = response["url"]
        assert response["status"] == 200, url
        assert response["mimeType"] == CONTENT_TYPES[Path(url).suffix], url
