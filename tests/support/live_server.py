"""A real uvicorn server on 127.0.0.1 in a background thread, for end-to-end tests over HTTP."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp

from gateway.app import create_app
from gateway.settings import Settings
from tests.fakes.polygon_server import FakePolygon


@contextlib.contextmanager
def serve_in_thread(
    app: ASGIApp,
    *,
    lifespan: Literal["auto", "on", "off"] = "off",
    timeout: float = 30,
    send_buffer: int | None = None,
    http: Any = "h11",
) -> Iterator[str]:
    """Serve `app` on a free loopback port until the block ends; yields its origin URL.

    `send_buffer` caps the kernel send buffer of accepted connections (they inherit it from
    the listening socket), so a client that stops reading stalls the server's sends soon.

    The socket is made with IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections
    (without it keep-alive requests stall ~40 ms on delayed ACKs).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        ws="websockets-sansio",
        http=http,  # h11 unless a test is about the protocol `marketgraph serve` runs
        loop="asyncio",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        if thread.is_alive():  # its app would go on (reconnecting to a dropped database...)
            raise RuntimeError("uvicorn did not stop within 15 s of being told to")


def gateway_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a gateway under test: nothing read from the environment or a `.env`."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "timescaledb": "off",
        "db_pool_min_size": 1,
        "db_pool_max_size": 4,
        "polygon_api_key": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.contextmanager
def live_gateway(settings: Settings) -> Iterator[str]:
    """`create_app(settings)` served on a free loopback port, lifespan on."""
    with serve_in_thread(create_app(settings), lifespan="on") as url:
        yield url


def upstream_settings(fake: FakePolygon) -> dict[str, Any]:
    """The settings that point fetch-on-miss at the fake Polygon, unpaced."""
    return {
        "polygon_api_key": fake.api_key,
        "polygon_base_url": fake.url,
        "polygon_requests_per_minute": 0,
    }
