"""A non-editable install (`pip install .`, as the Dockerfile does) serves GraphiQL's assets
itself when GRAPHIQL_ASSETS_DIR points at them, and never sends a browser to a CDN.

The package is installed with `pip install --no-deps --target` into a temporary directory and
imported from there (its dependencies from the dev venv), so `gateway/` sits in a
site-packages-like directory with no `node_modules` beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.graphiql import DEFAULT_ASSETS_DIR, VENDOR_ASSETS, find_assets_dir
from tests.support.databases import Database

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "schema", "resolvers", "storage")
PROBE = """
import asyncio, json, logging, re
import httpx
import gateway
from gateway.app import create_app
from gateway.settings import Settings

async def main() -> None:
    app = create_app(Settings(_env_file=None))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
    ):
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        urls = [u for u in re.findall(r'(?:src|href)="([^"]+)"', page.text)
                if not u.startswith("data:")]
        assets = {u: (await client.get(u)).status_code for u in urls if u.startswith("/")}
    print(json.dumps({"module": gateway.__file__, "status": page.status_code,
                      "urls": urls, "assets": assets}))

asyncio.run(main())
"""

pytestmark = pytest.mark.skipif(
    find_assets_dir() is None, reason="needs the npm assets: run `npm ci` at the repository root"
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as `pip install .` lays it out, in a directory of its own."""
    work = tmp_path_factory.mktemp("installed")
    source = work / "source"
    for name in PACKAGES:
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    target = work / "site-packages"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, source],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def _probe(installed: Path, database: Database, **env: str) -> tuple[dict[str, Any], str]:
    """Start the installed app in a fresh interpreter and ask it for GraphiQL and its assets."""
    clean = {k: v for k, v in os.environ.items() if k not in ("GRAPHIQL_ASSETS_DIR", "PYTHONPATH")}
    settings = {"DATABASE_URL": database.url, "TIMESCALEDB": "off", "DB_POOL_MIN_SIZE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **settings, "PYTHONPATH": str(installed), **env},
        cwd=installed.parent,  # not the repository: its packages must not be importable
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer: dict[str, Any] = json.loads(result.stdout)
    assert Path(answer["module"]).is_relative_to(installed)  # the installed copy, not the repo
    return answer, result.stderr


def test_installed_package_serves_graphiql_assets_from_the_configured_dir(
    installed: Path, portable_db: Database
) -> None:
    answer, _ = _probe(installed, portable_db, GRAPHIQL_ASSETS_DIR=str(DEFAULT_ASSETS_DIR))

    assert answer["status"] == 200
    assert len(answer["assets"]) == len(VENDOR_ASSETS)
    assert all(url.startswith("/static/vendor/") for url in answer["urls"])
    assert set(answer["assets"].values()) == {200}


def test_installed_package_without_assets_says_so_and_loads_nothing(
    installed: Path, portable_db: Database
) -> None:
    answer, stderr = _probe(installed, portable_db)

    assert answer["status"] == 503
    assert answer["urls"] == []  # no script or stylesheet from anywhere, a CDN least of all
    assert "GRAPHIQL_ASSETS_DIR" in stderr  # the error logged at start-up says what to set
