"""Observability of `marketgraph serve` as operators run it: `/metrics` across two worker
processes, and the log format and levels chosen by LOG_FORMAT and LOG_LEVEL."""

from __future__ import annotations

import asyncio
import re

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.support.databases import Database
from tests.support.served_process import Served, serve_database

STATUS = "GET /api/v1/status"
BATCH = 24
MAX_BATCHES = 20
TEXT_LINE = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: ")


def requests_counted(text: str, endpoint: str) -> float:
    """`marketgraph_requests_total{endpoint, status="200"}`, read with prometheus' parser."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "marketgraph_requests_total"
        and sample.labels == {"endpoint": endpoint, "status": "200"}
    )


async def fresh_get(url: str, path: str) -> httpx.Response:
    """A GET on a connection of its own, so the kernel may give it to either worker."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.get(path)


async def per_worker_counts(url: str) -> set[int]:
    """The status requests each worker saw, from its own 24 h window (one per worker asked)."""
    path = f"/api/v1/performance/queries?query_type={STATUS}"
    answers = await asyncio.gather(*(fresh_get(url, path) for _ in range(BATCH)))
    return {answer.json()["stats"]["total"] for answer in answers}


async def test_metrics_from_either_of_two_workers_add_up_both(portable_db: Database) -> None:
    # up to 480 keyless requests from one address: past the keyless rate limit (120/min)
    with serve_database(portable_db, ANONYMOUS_READS="true", WORKERS="2",
                        ANONYMOUS_RATE_LIMIT_PER_MINUTE="0") as served:  # fmt: skip
        served.wait_until(lambda: len(lines_saying(served, "Application startup complete")) == 2,
                          timeout=60)  # fmt: skip
        pids = {re.findall(r"\d+", line)[0] for line in lines_saying(served, "server process")}
        sent, counts = 0, set()
        for _ in range(MAX_BATCHES):  # until both workers have answered some (bounded)
            answers = await asyncio.gather(*(fresh_get(served.url, "/api/v1/status")
                                             for _ in range(BATCH)))  # fmt: skip
            assert {a.status_code for a in answers} == {200}
            sent += BATCH
            counts = await per_worker_counts(served.url)
            if len(counts) == 2 and sum(counts) == sent:
                break
        assert len(counts) == 2 and sum(counts) == sent, (counts, sent)  # both answered
        pages = [(await fresh_get(served.url, "/metrics")).text for _ in range(6)]
    assert len(pids) == 2  # the two workers' own start lines
    assert min(counts) < sent  # neither worker alone saw every request ...
    for page in pages:  # ... yet whichever worker answers /metrics counts all of them
        assert requests_counted(page, STATUS) == sent


def lines_saying(served: Served, words: str) -> list[str]:
    return [str(line.get("message")) for line in served.lines if words in str(line.get("message"))]


def json_lines(served: Served) -> list[dict[str, object]]:
    return [line for line in served.lines if line.get("logger") is not None]


def raw_lines(served: Served) -> list[str]:
    return [str(line["message"]) for line in served.lines if line.get("logger") is None]


def test_log_format_json_writes_json_lines_and_text_readable_lines(
    portable_db: Database,
) -> None:
    for log_format in ("json", "auto"):  # auto: stderr is a pipe here, not a terminal
        with serve_database(portable_db, LOG_FORMAT=log_format) as served:
            httpx.get(f"{served.url}/health")
            served.wait_for_access_lines(1)
        assert raw_lines(served) == [], log_format
        access = served.access_lines()[0]
        assert (access["level"], access["path"], access["status"]) == ("info", "/health", 200)
    with serve_database(portable_db, LOG_FORMAT="text") as served:
        httpx.get(f"{served.url}/health")
        served.wait_until(lambda: any("marketgraph.access" in x for x in raw_lines(served)))
    assert json_lines(served) == []
    lines = [line.rstrip("\n") for line in raw_lines(served) if line.strip()]
    assert all(TEXT_LINE.match(line) for line in lines), lines
    for line in lines:
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        raise AssertionError(f"a JSON line under LOG_FORMAT=text: {line}")
    (access_line,) = [line for line in lines if "marketgraph.access" in line]
    assert " request " in access_line and "status=200" in access_line
    assert "path=/health" in access_line
