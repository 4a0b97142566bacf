"""Live bars: delivery latency and server memory with many subscribers on one worker.

Run: `.venv/bin/python bench/live.py --database-url URL [--subscribers 1000] [--rate 100]
[--seconds 20]`. A scratch database is made on that server; one gateway worker runs as a
subprocess (uvicorn); this process opens the websockets, writes one 1m bar per write at
`--rate` writes/s through the write path (10 tickers, each subscriber follows one), and times
the start of each write call → arrival at each subscriber. Two floors, measured in the same
run: the arrival of each write's notification at a bare asyncpg LISTEN connection, and a bare
websocket fan-out of the same rows (`--floor-server`: a `websockets` server in a process of
its own that LISTENs, reads the changed rows with the hub's statement and broadcasts one
encoded message per write to the same number of clients; no GraphQL, no auth, no queues). The
floor fan-out runs first, then the gateway, with the same writes. The clients share this
process, so their own JSON decoding is part of both figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.asyncio.server import ServerConnection, broadcast, serve

from domain.timeframes import Timeframe
from resolvers.live_hub import wants
from storage import api_keys
from storage.bars_live import fetch_ranges
from storage.bars_write import BarIn, upsert_bars
from storage.migrations import migrate
from storage.notify import CHANNEL, decode
from storage.pool import create_pool
from tests.support.ports import free_port

T0 = datetime(2025, 1, 6, tzinfo=UTC)
TICKERS = [f"X:B{i}USD" for i in range(10)]
QUERY = "subscription($t: [String!]!) { bars(tickers: $t, timeframe: M1) { ticker time close } }"


def start_worker(db_url: str, subscribers: int) -> tuple[subprocess.Popen[bytes], str]:
    """One gateway worker (uvicorn) in a process of its own, answering /health."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "TIMESCALEDB": "off", "LOG_LEVEL": "warning",
           "MAX_SUBSCRIPTIONS_PER_KEY": str(subscribers + 10), "DB_POOL_MIN_SIZE": "2"}  # fmt: skip
    command = [sys.executable, "-m", "uvicorn", "gateway.app:serve_app", "--factory",
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    origin = f"http://127.0.0.1:{port}"
    for _ in range(3000):
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(origin + "/health").status_code == 200:
                return server, origin
        time.sleep(0.01)
    server.terminate()
    raise RuntimeError("the gateway did not start")


async def floor_server(db_url: str, port: int) -> None:
    """The floor: LISTEN, read the written rows once, broadcast one encoded message per write."""
    pool = await create_pool(db_url, min_size=1, max_size=2)
    followers: dict[str, set[ServerConnection]] = defaultdict(set)
    inbound: asyncio.Queue[str] = asyncio.Queue()

    async def follow(socket_: ServerConnection) -> None:
        ticker = str(await socket_.recv())
        followers[ticker].add(socket_)
        await socket_.send("{}")
        try:
            await socket_.wait_closed()
        finally:
            followers[ticker].discard(socket_)

    async def fan_out() -> None:
        while True:
            event = decode(await inbound.get())
            if event is None or not wants(Timeframe.M1, event):
                continue
            symbols = list(event.runs)
            lows = [runs[0][0] for runs in event.runs.values()]
            highs = [runs[-1][1] for runs in event.runs.values()]
            _, rows = await fetch_ranges(pool, Timeframe.M1, symbols, lows, highs)
            for row in rows:
                bar = {"ticker": row["symbol"], "time": row["time"], "close": row["close"]}
                message = {"id": "1", "type": "next", "payload": {"data": {"bars": [bar]}}}
                broadcast(
                    followers[row["symbol"]],
                    orjson.dumps(message, option=orjson.OPT_UTC_Z).decode(),
                )

    listener = await asyncpg.connect(db_url)
    await listener.add_listener(CHANNEL, lambda *args: inbound.put_nowait(str(args[3])))
    task = asyncio.get_running_loop().create_task(fan_out())
    async with serve(follow, "127.0.0.1", port) as server:
        print("ready", flush=True)
        await server.serve_forever()
    task.cancel()


def start_floor(db_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--floor-server", db_url, str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    assert server.stdout is not None
    if server.stdout.readline().strip() != b"ready":
        server.terminate()
        raise RuntimeError("the floor server did not start")
    return server, f"ws://127.0.0.1:{port}"


def report(title: str, ms: list[float], expected: int) -> None:
    print(f"{title}: delivered {len(ms)} of {expected} bar pushes; latency"
          f" p50 {statistics.median(ms):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms")  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def subscriber(
    origin: str, hello: list[str], ticker: str, committed: dict[str, float], latencies: list[float]
) -> ClientConnection:
    """A client that sends `hello` (the gateway's protocol, or the floor's ticker), then records
    the latency of every bar pushed."""
    socket_ = await connect(origin, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    for message in hello:
        await socket_.send(message)
        await socket_.recv()

    async def receive() -> None:
        async for raw in socket_:
            data = orjson.loads(raw)
            if data["type"] == "ping":
                await socket_.send('{"type":"pong"}')
            elif data["type"] == "next":
                now = time.perf_counter()
                for bar in data["payload"]["data"]["bars"]:
                    latencies.append(now - committed[bar["time"] + bar["ticker"]])

    asyncio.get_running_loop().create_task(receive())
    return socket_


def gateway_hello(key: str, ticker: str) -> list[str]:
    subscribe = {"id": "1", "type": "subscribe",
                 "payload": {"query": QUERY, "variables": {"t": [ticker]}}}  # fmt: skip
    init = {"type": "connection_init", "payload": {"X-API-Key": key}}
    return [orjson.dumps(init).decode(), orjson.dumps(subscribe).decode()]  # then the replay


class Writer:
    """The same writes for each phase: one 1m bar per write, later minutes each phase."""

    def __init__(self, pool: asyncpg.Pool, backend: Any, rate: float, seconds: float) -> None:
        self.pool, self.backend, self.rate = pool, backend, rate
        self.writes = int(rate * seconds)
        self.committed: dict[str, float] = {}
        self.phase = 0

    async def run(self) -> None:
        offset = self.phase * self.writes
        self.phase += 1
        start = time.perf_counter()
        for k in range(self.writes):
            ticker, at = TICKERS[k % 10], T0 + timedelta(minutes=(offset + k) // 10)
            stamp = at.isoformat().replace("+00:00", "Z") + ticker
            self.committed[stamp] = time.perf_counter()  # set first: the push can beat the return
            bar = BarIn(ticker, at, 1, 2, 0.5, 1.5, 1)
            await upsert_bars(self.pool, "1m", [bar], self.backend)
            await asyncio.sleep(max(0.0, start + (k + 1) / self.rate - time.perf_counter()))


async def phase(
    writer: Writer,
    origin: str,
    hellos: list[list[str]],
    latencies: list[float],
    server: psutil.Process | None = None,
) -> list[int]:
    """Connect every subscriber, write, wait until all pushes arrived (or 30 s), disconnect;
    the server's RSS when subscribed and after the writes."""
    sockets = [
        await subscriber(origin, hello, TICKERS[i % 10], writer.committed, latencies)
        for i, hello in enumerate(hellos)
    ]
    rss = [server.memory_info().rss] if server else []
    print(f"{origin}: {len(sockets)} subscribed, writing", file=sys.stderr, flush=True)
    await writer.run()
    expected = writer.writes * len(hellos) // 10
    for _ in range(3000):
        if len(latencies) >= expected:
            break
        await asyncio.sleep(0.01)
    rss += [server.memory_info().rss] if server else []
    for socket_ in sockets:
        await socket_.close()
    return rss


async def run(url: str, subscribers: int, rate: float, seconds: float) -> None:
    admin = await asyncpg.connect(url)
    name = f"mg_bench_live_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    db_url = url.rsplit("/", 1)[0] + "/" + name
    backend = (await migrate(db_url, use_timescaledb=False)).rollup_backend
    pool = await create_pool(db_url, min_size=1, max_size=2)
    _, key = await api_keys.create_key(pool, "bench")
    writer = Writer(pool, backend, rate, seconds)
    expected = writer.writes * subscribers // 10
    floor_server_, floor_origin = start_floor(db_url)
    try:
        floor_ws: list[float] = []
        hellos = [[TICKERS[i % 10]] for i in range(subscribers)]
        await phase(writer, floor_origin, hellos, floor_ws)
    finally:
        floor_server_.terminate()
        floor_server_.wait(timeout=30)
    server, origin = start_worker(db_url, subscribers)
    try:
        rss = psutil.Process(server.pid)
        idle_rss = rss.memory_info().rss
        floor_listen: list[float] = []
        listener = await asyncpg.connect(db_url)

        def heard(*args: object) -> None:
            event = decode(str(args[3]))
            if event is not None:
                for ticker, runs in event.runs.items():
                    stamp = runs[0][0].isoformat().replace("+00:00", "Z") + ticker
                    floor_listen.append(time.perf_counter() - writer.committed[stamp])

        await listener.add_listener(CHANNEL, heard)
        latencies: list[float] = []
        hellos = [gateway_hello(key, TICKERS[i % 10]) for i in range(subscribers)]
        ws_origin = origin.replace("http://", "ws://") + "/graphql"
        subscribed, written = await phase(writer, ws_origin, hellos, latencies, rss)
        await listener.close()
        print(f"{subscribers} subscribers, {rate:g} writes/s for {seconds:g} s, one worker,"
              f" {backend.value} rollups")  # fmt: skip
        report("gateway", [x * 1000 for x in latencies], expected)
        report("floor: bare websocket fan-out", [x * 1000 for x in floor_ws], expected)
        report("floor: bare LISTEN", [x * 1000 for x in floor_listen], writer.writes)
        print(f"p50 gateway / bare fan-out: "
              f"{statistics.median(latencies) / statistics.median(floor_ws):.2f}x")  # fmt: skip
        mib = [f"{value / 2**20:.0f} MiB" for value in (idle_rss, subscribed, written)]
        print(f"gateway RSS: idle {mib[0]}, subscribed {mib[1]}, after the writes {mib[2]}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        await pool.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--floor-server":
        asyncio.run(floor_server(sys.argv[2], int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", required=True, help="a server the bench may create a database on"
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.database_url, args.subscribers, args.rate, args.seconds))


if __name__ == "__main__":
    main()
