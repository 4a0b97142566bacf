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

import orjson

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
