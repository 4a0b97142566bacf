"""`marketgraph serve` as operators run it: a real process, its JSON log lines on stderr."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from gateway.redaction import MAX_CHARS, TRUNCATED
from tests.support.databases import Database

RUNNING = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


@dataclass
class Served:
    """A running `marketgraph serve` and the log lines it has written so far."""

    url: str
    process: subprocess.Popen[str]
    lines: list[dict[str, Any]] = field(default_factory=list)

    def access_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if "access" in str(line.get("logger"))]

    def wait_for_access_lines(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.access_lines()) < count and time.monotonic() < deadline:
            time.sleep(0.02)


def _read(stream: Any, served: Served, started: threading.Event) -> None:
    for raw in stream:
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            line = {"logger": None, "message": raw}
        served.lines.append(line)
        match = RUNNING.search(str(line.get("message")))
        if match:
            served.url = match[1]
            started.set()


@pytest.fixture
def served(portable_db: Database) -> Iterator[Served]:
    with serve_process(portable_db) as running:
        yield running


@contextlib.contextmanager
def serve_process(database: Database, **settings: str) -> Iterator[Served]:
    """`marketgraph serve` on a free port with `settings` in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "DATABASE_"))}
    env.update(DATABASE_URL=database.url, TIMESCALEDB="off", DB_POOL_MIN_SIZE="1", **settings)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    served = Served("", process)
    started = threading.Event()
    reader = threading.Thread(target=_read, args=(process.stderr, served, started), daemon=True)
    reader.start()
    try:
        if not started.wait(60):
            raise RuntimeError(f"marketgraph serve did not start: {served.lines}")
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        reader.join(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


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
