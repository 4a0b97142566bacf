"""Shared bench helpers: a server in its own process, and `wrk` load against it.

The load generator is `wrk` (Debian/Ubuntu: `apt-get install wrk`; macOS: `brew install wrk`):
a C client, so it is never the bottleneck the way a Python one would be. When the machine has
two cores or more, the server is pinned to one and wrk to another (`taskset`), as in the issue.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from tests.support.ports import free_port

WRK_MISSING = (
    "the small-request case needs `wrk` (a C HTTP load generator): "
    "`apt-get install wrk` on Debian/Ubuntu, `brew install wrk` on macOS"
)
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class Request:
    """What wrk sends, every time."""

    method: str
    path: str
    body: str = ""
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Load:
    """One wrk run's outcome."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    refused: int  # non-2xx answers: a run with any is not a result
    socket_errors: int  # connect/read/write errors and timeouts (reported, not fatal)


def _cpus() -> tuple[list[str], list[str]]:
    """`taskset` prefixes pinning the server to one core and wrk to another (when possible)."""
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return [], []
    return ["taskset", "-c", "0"], ["taskset", "-c", "1"]


@contextlib.contextmanager
def server(
    command: list[str], env: Mapping[str, str], port: int, *, start_seconds: float = 60
) -> Iterator[psutil.Process]:
    """Run `command` (a server on 127.0.0.1:`port`) until the block ends; yields its process
    once it listens (within `start_seconds`)."""
    pin, _ = _cpus()
    process = subprocess.Popen(
        [*pin, *command],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command} did not start listening")
            time.sleep(0.1)
        yield psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


Commands = Mapping[str, tuple[list[str], Mapping[str, str]]]
"""Server name -> (command, environment); each command takes its port as its last argument."""
Running = dict[str, tuple[str, psutil.Process]]
"""Server name -> (origin, process)."""


@contextlib.contextmanager
def servers(commands: Commands) -> Iterator[Running]:
    """Every server of `commands`, each on a free port and all at once (idle ones cost
    nothing), until the block ends."""
    with contextlib.ExitStack() as stack:
        running: Running = {}
        for name, (command, env) in commands.items():
            port = free_port()
            process = stack.enter_context(server([*command, str(port)], env, port))
            running[name] = (f"http://127.0.0.1:{port}", process)
        yield running


def check(origin: str, request: Request) -> object:
    """One request by hand: its JSON answer (raises on an HTTP error)."""
    response = httpx.request(
        request.method,
        origin + request.path,
        content=request.body or None,
        headers={"Content-Type": "application/json", **(request.headers or {})},
    )
    response.raise_for_status()
    return response.json()


def wrk(origin: str, request: Request, *, connections: int, seconds: float) -> Load:
    """Load `origin` with `request` over `connections` keep-alive connections."""
    if shutil.which("wrk") is None:
        raise SystemExit(WRK_MISSING)
    headers = {"Content-Type": "application/json", **(request.headers or {})}
    lines = [f"wrk.method = {_lua(request.method)}", f"wrk.body = {_lua(request.body)}"]
    lines += [f"wrk.headers[ {_lua(k)} ] = {_lua(v)}" for k, v in headers.items()]
    _, pin = _cpus()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "request.lua"
        script.write_text("\n".join(lines) + _DONE)
        threads = min(2, connections)  # wrk wants a connection per thread at least
        command = [
            *pin,
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "-s",
            str(script),
        ]
        out = subprocess.run(
            [*command, origin + request.path], capture_output=True, text=True, check=True
        ).stdout
    lines = [x for x in out.splitlines() if x.startswith("BENCH ")]
    if not lines:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    data = json.loads(lines[0].removeprefix("BENCH "))
    return Load(
        requests_per_second=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        refused=data["non2xx"],
        socket_errors=data["errors"],
    )


def _lua(text: str) -> str:
    """A Lua long-bracket string literal holding `text` exactly."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    bracket = "=" * level
    return f"[{bracket}[{text}]{bracket}]"
