"""`marketgraph serve` as operators run it: a real process, its JSON log lines on stderr."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from gateway.redaction import MAX_CHARS, TRUNCATED
from tests.support.databases import Database
from tests.support.served_process import Served, serve_process


@pytest.fixture
def served(portable_db: Database) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "DATABASE_"))}
    env.update(DATABASE_URL=portable_db.url, TIMESCALEDB="off", DB_POOL_MIN_SIZE="1")
    with serve_process(env) as served:
        yield served


def test_each_request_is_logged_once(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        statuses = [
            client.get("/health").status_code,
            client.get("/health", params={"probe": "1"}).status_code,
            client.post("/graphql", json={"query": "{ __typename }"}).status_code,
        ]
    served.wait_for_access_lines(3)
    served.process.send_signal(signal.SIGINT)
    served.process.wait(timeout=30)

    lines = served.access_lines()
    assert [line["logger"] for line in lines] == ["marketgraph.access"] * 3, lines
    assert [line["status"] for line in lines] == statuses
    assert [(line["path"], line["query"]) for line in lines] == [
        ("/health", ""),
        ("/health", "probe=1"),
        ("/graphql", ""),
    ]
    assert all(line["client"] == "127.0.0.1" and line["trace_id"] for line in lines)


def test_answers_do_not_name_the_server_software(served: Served) -> None:
    """No `server: uvicorn` (an attacker's first hint of which CVEs to try); `date` stays."""
    with httpx.Client(base_url=served.url) as client:
        answers = [client.get("/health"), client.get("/nowhere"),
                   client.post("/graphql", json={"query": "{ __typename }"})]  # fmt: skip
    for answer in answers:
        assert "server" not in answer.headers and "date" in answer.headers, answer.headers


def test_long_letter_runs_are_answered_and_their_access_lines_cut(served: Served) -> None:
    """Issue 15: each of these held the event loop for seconds while its line was redacted."""
    letters = "abcdefghijklmnopqrstuvwxyz" * (16_000 // 26)
    with httpx.Client(base_url=served.url, timeout=30) as client:
        statuses = [
            client.get(f"/{letters}").status_code,
            client.get("/health", params={"q": letters}).status_code,
            client.get("/health", headers={"X-Forwarded-For": letters}).status_code,
        ]
    served.wait_for_access_lines(3)

    assert statuses == [404, 200, 200]
    path, query, client_field = (
        line[name]
        for line, name in zip(served.access_lines(), ("path", "query", "client"), strict=True)
    )
    for value in (path.removeprefix("/"), query.removeprefix("q=")):
        assert value.startswith("abcdef") and value.endswith(TRUNCATED)
        assert len(value) <= MAX_CHARS
    # X-Forwarded-For from an untrusted peer is not the client: the peer's address is logged
    assert client_field == "127.0.0.1"
