"""`marketgraph-healthcheck`, the image's HEALTHCHECK: the right origin, and a cheap start.

A container runs it every 30 seconds; started through `marketgraph` it would import the whole
application (GraphQL, the web framework, the database driver) for one HTTP GET.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.cli_healthcheck import local_origin
from gateway.settings import Settings

APPLICATION = ("strawberry", "graphql", "starlette", "fastapi", "uvicorn", "asyncpg", "httpx")


def test_the_healthcheck_starts_without_importing_the_application() -> None:
    probe = (
        "import sys\n"
        "from gateway.cli_healthcheck import main\n"
        "code = main(['--url', 'http://127.0.0.1:1'])\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({APPLICATION!r})))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1 and "unhealthy: http://127.0.0.1:1/livez" in done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("0.0.0.0", "http://127.0.0.1:8123"),
        ("::", "http://127.0.0.1:8123"),
        ("10.1.2.3", "http://10.1.2.3:8123"),
        ("::1", "http://[::1]:8123"),
    ],
)
def test_the_healthcheck_asks_the_port_serve_binds(host: str, origin: str) -> None:
    assert local_origin(Settings(host=host, port=8123)) == origin
