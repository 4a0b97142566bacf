"""The small-request case counted in instructions: what a request costs, without the noise.

Requests/s on a shared machine drift from minute to minute (the floor alone ran 1,264-1,676
requests/s within one hour on one machine, 4,219-5,664 on another), so a few per cent between
two targets is often below what wrk can tell apart. Valgrind's callgrind counts the instructions
a process executes: the same request costs the same count whatever else the machine runs (two
runs of this case, the second beside a test suite taking both cores, differed by at most 0.5 %
per target, 1.4 % for stock Strawberry).

Each server of the small case (bench/small.py) runs under callgrind, one at a time, with
instrumentation off while it starts. For each of its targets: `warmup` requests, then
`requests` requests over 32 connections (as wrk sends them), counted between a zero and a dump
(`callgrind_control`). So the figures are CPU work per request, not latency (wrk's figures say
that); the server's idle work in the same seconds (timers, flushes) is counted too, about 1 %
here.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import many_symbols
from bench.load import Request, check, server
from bench.small import ANONYMOUS, CONNECTIONS, LAYERS, Target, server_commands, targets
from tests.support.ports import free_port

VALGRIND_MISSING = (
    "the instructions case needs valgrind's callgrind: `apt-get install valgrind` on Debian"
)
START_SECONDS = 300  # a server starting under valgrind: ~20 s here, much more on a busy machine
_TOTALS = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Counted:
    """One target's instructions per request."""

    target: Target
    instructions: float


def callgrind(pid: int, *arguments: str) -> None:
    """Tell the callgrind run of process `pid` what to do (zero, dump, instrument or not)."""
    subprocess.run(["callgrind_control", *arguments, str(pid)], check=True, capture_output=True)


def dumped_total(folder: Path, pid: int, label: str) -> int:
    """The instructions in the dump callgrind wrote for `callgrind_control -d label`."""
    for path in folder.glob(f"callgrind.{pid}.*"):
        text = path.read_text(errors="replace")
        if f"Trigger: dump {label}\n" in text:
            found = _TOTALS.search(text)
            if found:
                return int(found.group(1))
    raise RuntimeError(f"no callgrind dump labelled {label!r} for process {pid}")


def send(origin: str, request: Request, count: int) -> None:
    """`count` requests over `CONNECTIONS` keep-alive connections, as many in flight, as under
    wrk (what a request costs depends on it: the access lines of one turn of the event loop
    are written together, for one); each must succeed."""
    asyncio.run(_send(origin, request, count))


async def _send(origin: str, request: Request, count: int) -> None:
    headers = {"Content-Type": "application/json", **(request.headers or {})}
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=origin, timeout=300, limits=limits) as client:

        async def one_connection(share: int) -> None:
            for _ in range(share):
                response = await client.request(
                    request.method, request.path, content=request.body or None, headers=headers
                )
                response.raise_for_status()

        shares = [count // CONNECTIONS + (i < count % CONNECTIONS) for i in range(CONNECTIONS)]
        await asyncio.gather(*(one_connection(share) for share in shares if share))


def count_instructions(database_url: str, key: str, *, requests: int, warmup: int) -> list[Counted]:
    """Every small-case target's instructions per request, its server under callgrind."""
    chosen = targets(key)
    counted: dict[str, Counted] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (command, env) in server_commands(database_url).items():
            mine = [t for t in chosen if t.server == name]
            with under_callgrind(Path(tmp), command, env, warmup, requests) as at:
                for number, target in enumerate(mine):
                    if target.prepare is not None:
                        target.prepare(at.origin)
                    counted[target.name] = Counted(target, at.count(target.request, number))
    return [counted[t.name] for t in chosen]


@dataclass(frozen=True)
class Counting:
    """A server process under callgrind, and how many requests to send it: `warmup` first,
    then `requests` counted."""

    folder: Path
    pid: int
    origin: str
    warmup: int
    requests: int

    def count(self, request: Request, number: int) -> float:
        """Instructions per request of `request` (checked first), counted as dump `number`."""
        check(self.origin, request)
        send(self.origin, request, self.warmup)
        label = f"target{number}"
        callgrind(self.pid, "--instr=on")
        callgrind(self.pid, "--zero")
        send(self.origin, request, self.requests)
        callgrind(self.pid, f"--dump={label}")
        callgrind(self.pid, "--instr=off")
        return dumped_total(self.folder, self.pid, label) / self.requests


@contextlib.contextmanager
def under_callgrind(
    folder: Path, command: list[str], env: Mapping[str, str], warmup: int, requests: int
) -> Iterator[Counting]:
    """A server (`command`, its port last) run under callgrind, instrumentation off until told
    and a dump file per process in `folder`, until the block ends."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit(VALGRIND_MISSING)
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={folder}/callgrind.%p"]  # fmt: skip
    port = free_port()
    fixed = {**env, "PYTHONHASHSEED": "0"}  # the same dict layouts in every run
    with server([*valgrind, *command, str(port)], fixed, port,
                start_seconds=START_SECONDS) as process:  # fmt: skip
        yield Counting(folder, process.pid, f"http://127.0.0.1:{port}", warmup, requests)


def count_many_symbols(database_url: str, *, requests: int, warmup: int) -> dict[str, float]:
    """bench/many_symbols.py's probes (1 and 50 symbols, marketgraph and the plain route
    running the same statements), each on a server of its own: instructions per request."""
    counted: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        commands = many_symbols.commands(database_url)
        for probe in many_symbols.probes():
            command, env = commands[probe.server]
            with under_callgrind(Path(tmp), command, env, warmup, requests) as at:
                counted[probe.server] = at.count(probe.request, 0)
    return counted


def report_many_symbols(counted: dict[str, float], requests: int) -> None:
    print(f"symbols(tickers) {{ latestBar aggregate }}, instructions per request (callgrind,"
          f" {requests} requests over {CONNECTIONS} connections):")  # fmt: skip
    print(f"  {'server':12} {'1 symbol':>10} {'50':>11} {'50/1':>5}")
    for kind in ("marketgraph", "plain"):
        one, many = counted[f"{kind} 1"], counted[f"{kind} {len(many_symbols.TICKERS)}"]
        print(f"  {kind:12} {one:10,.0f} {many:11,.0f} {many / one:5.2f}")
    sys.stdout.flush()


def report_instructions(counted: list[Counted], requests: int) -> None:
    floor = counted[0].instructions
    by_name = {c.target.name: c.instructions for c in counted}
    anonymous = by_name.get(ANONYMOUS)
    layers = by_name.get(LAYERS)
    print(f"small request, instructions per request (callgrind, {requests} requests over "
          f"{CONNECTIONS} connections):")  # fmt: skip
    print(f"  {'target':36} {'instr/req':>10} {'floor/it':>8} {'layers/it':>9} {'vs anon':>8}")
    for c in counted:
        versus = f"{c.instructions / anonymous - 1:+8.1%}" if anonymous else ""
        share = f"{layers / c.instructions:9.2f}" if layers else ""
        print(f"  {c.target.name:36} {c.instructions:10,.0f} {floor / c.instructions:8.2f}"
              f"{share} {versus}")  # fmt: skip
    sys.stdout.flush()
