"""`marketgraph serve` in a real subprocess: its URL, its JSON log lines and what it printed."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

RUNNING = re.compile(r"Uvicorn running on http://(?P<host>[^:]+|\[[^\]]+\]):(?P<port>\d+)")


@dataclass
class Served:
    """A running `marketgraph serve`, the log lines it has written so far and its stdout."""

    url: str
    process: subprocess.Popen[str]
    lines: list[dict[str, Any]] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)

    def access_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if "access" in str(line.get("logger"))]

    def wait_for_access_lines(self, count: int, timeout: float = 10) -> None:
        self.wait_until(lambda: len(self.access_lines()) >= count, timeout)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10) -> None:
        """Until `condition()` holds (log lines arrive after the answers), at most `timeout`."""
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)


def _read_logs(stream: IO[str], served: Served, started: threading.Event) -> None:
    for raw in stream:
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            line = {"logger": None, "message": raw}
        served.lines.append(line)
        match = RUNNING.search(str(line.get("message")))
        if match:
            # a wildcard bind (0.0.0.0) is reached through loopback from the test
            host = "127.0.0.1" if match["host"] == "0.0.0.0" else match["host"]
            served.url = f"http://{host}:{match['port']}"
            started.set()


def _read_stdout(stream: IO[str], served: Served) -> None:
    served.stdout.extend(stream)


@contextlib.contextmanager
def serve_process(
    env: Mapping[str, str], *args: str, cwd: Path | None = None, timeout: float = 60
) -> Iterator[Served]:
    """Run `marketgraph serve *args` (on a free port unless given) until the block ends."""
    port = () if "--port" in args else ("--port", "0")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", *port, *args],
        env=dict(env),
        cwd=cwd,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None and process.stdout is not None
    served = Served("", process)
    started = threading.Event()
    readers = [
        threading.Thread(target=_read_logs, args=(process.stderr, served, started), daemon=True),
        threading.Thread(target=_read_stdout, args=(process.stdout, served), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:  # stopped with Ctrl-C, as a user does
        if not started.wait(timeout):
            raise RuntimeError(f"marketgraph serve did not start: {served.lines}")
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        for reader in readers:
            reader.join(timeout=10)
        process.stderr.close()
        process.stdout.close()


@contextlib.contextmanager
def serve_database(database: Any, **settings: str) -> Iterator[Served]:
    """`marketgraph serve` on a free port over `database` (a tests.support Database), with
    `settings` added to its environment and no upstream configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "DATABASE_"))}
    env.update(DATABASE_URL=database.url, TIMESCALEDB="off", DB_POOL_MIN_SIZE="1", **settings)
    with serve_process(env, "--port", "0") as served:
        yield served
