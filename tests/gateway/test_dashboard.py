"""`/dashboard` serves our page and only the files it needs, in-process (no browser)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from gateway.dashboard import CHART_ASSETS, DEFAULT_DASHBOARD_DIR, dashboard_routes

CHART_FILE = f"{CHART_ASSETS[0].package}/{CHART_ASSETS[0].path}"


@pytest.fixture
def node_modules(tmp_path: Path) -> Path:
    """A node_modules holding just the charting library, at version 9.8.7."""
    root = tmp_path / "node_modules"
    file = root / CHART_FILE
    file.parent.mkdir(parents=True)
    file.write_text("/* chart */", encoding="utf-8")
    (root / CHART_ASSETS[0].package / "package.json").write_text(
        json.dumps({"version": "9.8.7"}), encoding="utf-8"
    )
    return root


def client(directory: Path | None, assets: Path | None) -> httpx.AsyncClient:
    app = Starlette(routes=dashboard_routes(directory, assets))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


async def test_the_page_loads_the_library_from_its_versioned_local_url(
    node_modules: Path,
) -> None:
    async with client(None, node_modules) as http:
        page = await http.get("/dashboard")
        library = await http.get(
            f"/dashboard/vendor/lightweight-charts@9.8.7/{CHART_ASSETS[0].path}"
        )
        script = await http.get("/dashboard/js/main.js")
    assert page.status_code == 200
    assert f'src="/dashboard/vendor/lightweight-charts@9.8.7/{CHART_ASSETS[0].path}"' in page.text
    assert "vendor:" not in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy
    assert library.status_code == 200 and library.text == "/* chart */"
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/../pyproject.toml",
        "/dashboard/%2e%2e/pyproject.toml",
        "/dashboard/js/../../gateway/dashboard.py",
        "/dashboard/index.html",  # the page is served at /dashboard only
        "/dashboard/nothing.js",
        "/dashboard/vendor/lightweight-charts@9.8.7/package.json",
        "/dashboard/vendor/lightweight-charts@1.0.0/dist/lightweight-charts.standalone.production.js",
    ],
)
async def test_nothing_but_the_allow_listed_files_is_served(node_modules: Path, path: str) -> None:
    async with client(None, node_modules) as http:
        assert (await http.get(path)).status_code == 404


async def test_without_the_library_the_page_still_loads_and_asks_for_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("gateway.graphiql.DEFAULT_ASSETS_DIR", tmp_path)  # no node_modules
    with caplog.at_level(logging.WARNING, logger="gateway.dashboard"):
        async with client(None, None) as http:
            page = await http.get("/dashboard")
    assert page.status_code == 200
    assert '<script src="" defer>' in page.text  # the page shows the chart as unavailable
    assert "npm ci" in caplog.text


async def test_missing_files_give_a_503_page_saying_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.dashboard.DEFAULT_DASHBOARD_DIR", tmp_path / "absent")
    async with client(None, None) as http:
        page = await http.get("/dashboard")
    assert page.status_code == 503 and "DASHBOARD_DIR" in page.text
    with pytest.raises(FileNotFoundError, match="DASHBOARD_DIR"):
        dashboard_routes(tmp_path, None)


def test_the_repository_has_the_dashboard() -> None:
    assert (DEFAULT_DASHBOARD_DIR / "index.html").is_file()
