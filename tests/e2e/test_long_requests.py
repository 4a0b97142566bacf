"""Requests without a key carrying long runs of letters, against a real uvicorn server.

Before log redaction was linear, a 16,000-letter path, query string or X-Forwarded-For held
the event loop for seconds while its access line was redacted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from gateway.app import create_app
from gateway.redaction import MAX_CHARS, TRUNCATED, install_redaction
from gateway.settings import Settings
from tests.support.databases import Database
from tests.support.live_server import serve_in_thread
from tests.support.logs import records_when_logged

LETTERS = "abcdefghijklmnopqrstuvwxyz" * (16_000 // 26)


@pytest.fixture
def served(portable_db: Database, caplog: pytest.LogCaptureFixture) -> Iterator[str]:
    """The gateway on a free port, logging through the redaction filter as in production."""
    caplog.set_level(logging.INFO)
    root = logging.getLogger()
    redactor = install_redaction(root)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=portable_db.url,
        timescaledb="off",
        db_pool_min_size=1,
        db_pool_max_size=2,
        polygon_api_key=None,
    )
    try:
        with serve_in_thread(create_app(settings), lifespan="on") as url:
            yield url
    finally:
        for target in (root, *root.handlers):
            target.removeFilter(redactor)


async def _access_line(caplog: pytest.LogCaptureFixture, path: str) -> logging.LogRecord:
    lines = await records_when_logged(
        caplog, lambda r: r.name == "marketgraph.access" and r.__dict__["path"].startswith(path), 1
    )
    assert len(lines) == 1, lines
    return lines[0]


def _cut(value: str) -> bool:
    return len(value) <= MAX_CHARS and value.endswith(TRUNCATED) and value.startswith("abcdef")


@pytest.mark.timeout(60)
async def test_long_letter_runs_are_answered_and_logged_cut(
    served: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        in_path = await client.get(f"/{LETTERS}")
        in_query = await client.get("/health", params={"q": LETTERS})
        in_forwarded_for = await client.get("/health", headers={"X-Forwarded-For": LETTERS})

    assert in_path.status_code == 404  # no such route (and no key needed to learn that)
    assert in_query.status_code == 200 and in_forwarded_for.status_code == 200
    assert _cut((await _access_line(caplog, "/abcdef")).__dict__["path"].removeprefix("/"))
    health = await records_when_logged(
        caplog, lambda r: r.name == "marketgraph.access" and r.__dict__["path"] == "/health", 2
    )
    assert any(_cut(r.__dict__["query"].removeprefix("q=")) for r in health)
    # this test server trusts its 127.0.0.1 peer as a proxy: the header is read, and refused
    # as an address, so the long run never reaches the log at all
    assert sorted(r.__dict__["client"] for r in health) == ["127.0.0.1", "unknown"]
