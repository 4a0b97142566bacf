"""Live bars: delivery latency and server memory with many subscribers on one worker.

Run: `.venv/bin/python bench/live.py --database-url URL [--subscribers 1000] [--rate 100]
[--seconds 20]`. A scratch database is made on that server; one gateway worker runs as a
subprocess (uvicorn); this process opens the websockets, writes one 1m bar per write at
`--rate` writes/s through the write path (10 tickers, each subscriber follows one), and times
the start of each write call → arrival at each subscriber. The floor, measured in the same
run: the start of the write call → arrival of its notification at a bare asyncpg LISTEN
connection (so the write itself, with its rollup refresh, is in both). The clients share
this process, so their own JSON decoding is part of the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage import api_keys
from storage.bars_write import BarIn, upsert_bars
from storage.migrations import migrate
from storage.notify import CHANNEL, decode
from storage.pool import create_pool

T0 = datetime(2025, 1, 6, tzinfo=UTC)
TICKERS = [f"X:B{i}USD" for i in range(10)]
QUERY = "subscription($t: [String!]!) { bars(tickers: $t, timeframe: M1) { ticker time close } }"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def report(
    title: str, ms: list[float], floor_ms: list[float], expected: int, rss: list[int]
) -> None:
    mib = [f"{value / 2**20:.0f} MiB" for value in rss]
    print(title)
    print(f"delivered {len(ms)} of {expected} bar pushes")
    print(f"latency p50 {statistics.median(ms):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms")
    print(f"floor (bare LISTEN): p50 {statistics.median(floor_ms):.2f} ms,"
          f" p99 {percentile(floor_ms, 0.99):.2f} ms")  # fmt: skip
    print(f"p50 / floor p50: {statistics.median(ms) / statistics.median(floor_ms):.0f}x")
    print(f"server RSS: idle {mib[0]}, subscribed {mib[1]}, after the run {mib[2]}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def subscriber(
    origin: str, key: str, ticker: str, committed: dict[str, float], latencies: list[float]
) -> ClientConnection:
    socket_ = await connect(origin + "/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await socket_.send(
        orjson.dumps({"type": "connection_init", "payload": {"X-API-Key": key}}).decode()
    )
    await socket_.recv()
    message = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": QUERY, "variables": {"t": [ticker]}},
    }
    await socket_.send(orjson.dumps(message).decode())
    await socket_.recv()  # the (empty) replay: live from here

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


async def run(url: str, subscribers: int, rate: float, seconds: float) -> None:
    admin = await asyncpg.connect(url)
    name = f"mg_bench_live_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    db_url = url.rsplit("/", 1)[0] + "/" + name
    backend = (await migrate(db_url, use_timescaledb=False)).rollup_backend
    pool = await create_pool(db_url, min_size=1, max_size=2)
    _, key = await api_keys.create_key(pool, "bench")
    server, origin = start_worker(db_url, subscribers)
    try:
        rss = psutil.Process(server.pid)
        idle_rss = rss.memory_info().rss
        committed: dict[str, float] = {}
        latencies: list[float] = []
        ws_origin = origin.replace("http://", "ws://")
        sockets = []
        for i in range(subscribers):
            sockets.append(await subscriber(ws_origin, key, TICKERS[i % 10], committed, latencies))
        subscribed_rss = rss.memory_info().rss

        floor: list[float] = []
        listener = await asyncpg.connect(db_url)

        def heard(*args: object) -> None:
            event = decode(str(args[3]))
            if event is not None:
                for ticker, runs in event.runs.items():
                    stamp = runs[0][0].isoformat().replace("+00:00", "Z") + ticker
                    floor.append(time.perf_counter() - committed[stamp])

        await listener.add_listener(CHANNEL, heard)
        writes = int(rate * seconds)
        start = time.perf_counter()
        for k in range(writes):
            ticker, at = TICKERS[k % 10], T0 + timedelta(minutes=k // 10)
            stamp = at.isoformat().replace("+00:00", "Z") + ticker
            committed[stamp] = time.perf_counter()  # set first: the push can beat the return
            await upsert_bars(pool, "1m", [BarIn(ticker, at, 1, 2, 0.5, 1.5, 1)], backend)
            await asyncio.sleep(max(0.0, start + (k + 1) / rate - time.perf_counter()))
        expected = writes * subscribers // 10
        for _ in range(3000):
            if len(latencies) >= expected:
                break
            await asyncio.sleep(0.01)
        end_rss = rss.memory_info().rss
        await listener.close()
        for socket_ in sockets:
            await socket_.close()
        title = f"{subscribers} subscribers, {rate:g} writes/s for {seconds:g} s"
        report(
            f"{title}, {backend.value} rollups",
            [x * 1000 for x in latencies],
            [x * 1000 for x in floor],
            expected,
            [idle_rss, subscribed_rss, end_rss],
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        await pool.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
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
