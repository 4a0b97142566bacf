"""`marketgraph serve` as operators run it: a real process, its JSON log lines on stderr."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest

from gateway.redaction import MAX_CHARS, TRUNCATED
from tests.support.databases import Database
from tests.support.served_process import Served, serve_process


@pytest.fixture
def served(portable_db: Database) -> Iterator[Served]:
    with serve_process(portable_db) as running:
        yield running


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
    assert client_field == "127.0.0.1"  # no proxy is trusted by default: the peer it is


FORGED = ("203.0.113.9", "198.51.100.7", "192.0.2.1", "letters-not-an-address")


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    portable_db: Database,
) -> None:
    """A forged header neither renames the client in the log nor escapes the bad-key limit."""
    with serve_process(portable_db, FAILED_AUTH_PER_MINUTE="2") as served:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            statuses = [
                client.get(
                    "/graphql",
                    params={"query": "{ __typename }"},
                    headers={"X-Forwarded-For": forged, "X-API-Key": "mg_" + "x" * 43},
                ).status_code
                for forged in FORGED
            ]
        served.wait_for_access_lines(len(FORGED))
        assert statuses == [401, 401, 429, 429]  # one address, however it calls itself
        assert {line["client"] for line in served.access_lines()} == {"127.0.0.1"}


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(
    portable_db: Database,
) -> None:
    with serve_process(portable_db, FORWARDED_ALLOW_IPS="127.0.0.1") as served:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            for forged in FORGED:
                client.get("/health", headers={"X-Forwarded-For": forged})
        served.wait_for_access_lines(len(FORGED))
        clients = [line["client"] for line in served.access_lines()]
        assert clients == [*FORGED[:3], "unknown"]  # text that is no address is not used
