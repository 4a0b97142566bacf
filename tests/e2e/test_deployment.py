"""The deployment files, checked without a container engine.

The compose file is validated against the Compose Specification's JSON schema (vendored by
check-jsonschema), the Dockerfile is linted with hadolint, and the image's own CMD and
HEALTHCHECK (parsed from the Dockerfile, with the image's ENV) are run here against a real
started server, with the image's paths mapped onto this checkout.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.support.databases import Database
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# where the Dockerfile puts things -> where this checkout has them
IMAGE_PATHS = {"/opt/marketgraph": str(BIN.parent), "/app": str(REPO)}
START_SECONDS = 90.0


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def exec_form(arguments: str) -> list[str]:
    """A CMD in exec form (a JSON array): the image runs it without a shell."""
    command = json.loads(arguments)
    assert isinstance(command, list) and all(isinstance(a, str) for a in command), arguments
    return command


def image_env(dockerfile: Path, base: Mapping[str, str]) -> dict[str, str]:
    """The final stage's ENV over `base`, image paths mapped onto this checkout."""
    env = dict(base)
    for word, arguments in final_stage(dockerfile):
        if word != "ENV":
            continue
        for pair in shlex.split(arguments):
            name, _, value = pair.partition("=")
            for image_path, local in IMAGE_PATHS.items():
                value = value.replace(image_path, local)
            env[name] = re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: env.get(m[1] or m[2], ""), value)
    return env


def healthcheck_command(dockerfile: Path) -> list[str]:
    (arguments,) = [a for word, a in final_stage(dockerfile) if word == "HEALTHCHECK"]
    _, cmd, command = arguments.partition(" CMD ")
    assert cmd, f"HEALTHCHECK without CMD: {arguments}"
    return exec_form(command)


def run(command: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=dict(env), cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


# -- the compose file ---------------------------------------------------------------------------


def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        os.environ,
    )


def test_the_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    checked = check_compose(REPO / "docker-compose.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # the check has teeth: a misspelt key is refused
    broken = tmp_path / "docker-compose.yml"
    text = (REPO / "docker-compose.yml").read_text()
    broken.write_text(text.replace("depends_on:", "dependson:", 1))
    refused = check_compose(broken)
    assert refused.returncode != 0 and "dependson" in refused.stdout + refused.stderr


def test_the_api_starts_after_migrations_and_redis_and_a_replica_is_optional() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    api = text.split("\n  api:\n", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"migrate:\s+condition: service_completed_successfully", api)
    assert re.search(r"redis:\s+condition: service_healthy", api)
    assert "WORKERS: ${WORKERS:-2}" in api
    replica = text.split("\n  replica:\n", 1)[1].split("\n\n", 1)[0]
    assert 'profiles: ["replica"]' in replica and "pg_basebackup" in replica


# -- the Dockerfile -----------------------------------------------------------------------------


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "hadolint"), str(path)], os.environ)


def test_the_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    linted = hadolint(REPO / "Dockerfile")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    refused = hadolint(sloppy)
    assert refused.returncode != 0 and "DL3007" in refused.stdout  # `latest` is refused


def test_the_image_holds_every_package_and_runs_as_no_root() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    copied = {a.split()[0] for word, a in instructions(REPO / "Dockerfile") if word == "COPY"}
    assert set(packages) <= copied, f"not copied into the image: {set(packages) - copied}"
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert all(f"!{p}/" in ignore for p in packages)
    users = [a for word, a in final_stage(REPO / "Dockerfile") if word == "USER"]
    assert users and not users[-1].startswith(("root", "0"))


# -- the image's commands, run here -------------------------------------------------------------


@pytest.fixture
def env(portable_db: Database) -> dict[str, str]:
    """The image's environment (ENV), on this machine's paths, a free port and the test database."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    values = image_env(REPO / "Dockerfile", base)
    values.update(
        DATABASE_URL=portable_db.url, PORT=str(free_port()), TIMESCALEDB="off", LOG_LEVEL="warning"
    )
    return values


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    (cmd,) = [a for word, a in final_stage(REPO / "Dockerfile") if word == "CMD"]
    process = subprocess.Popen(
        exec_form(cmd),
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


def test_the_image_migrations_command_is_run_once_before_the_api(env: dict[str, str]) -> None:
    migrate = re.search(
        r"migrate:.*?command: (\[.*?\])", (REPO / "docker-compose.yml").read_text(), re.DOTALL
    )
    assert migrate is not None
    done = run(exec_form(migrate[1]), env)
    assert done.returncode == 0, done.stderr
    assert "rollup backend:" in done.stdout


def test_the_image_healthcheck_follows_the_served_gateway(
    env: dict[str, str], served: subprocess.Popen[str]
) -> None:
    check = healthcheck_command(REPO / "Dockerfile")
    deadline = time.monotonic() + START_SECONDS
    while (probe := run(check, env)).returncode != 0:
        assert served.poll() is None, "the image's CMD exited"
        assert time.monotonic() < deadline, probe.stderr
        time.sleep(0.5)
    origin = f"http://127.0.0.1:{env['PORT']}"
    # front-end assets come from the image's own files (GRAPHIQL_ASSETS_DIR, DASHBOARD_DIR)
    dashboard = httpx.get(f"{origin}/dashboard", timeout=30)
    assert dashboard.status_code == 200, dashboard.text
    chart = re.search(r'src="([^"]*lightweight-charts[^"]*)"', dashboard.text)
    assert chart is not None and chart[1].startswith("/"), dashboard.text  # local, not a CDN
    assert httpx.get(f"{origin}{chart[1]}", timeout=30).status_code == 200
    os.killpg(served.pid, signal.SIGTERM)
    served.wait(timeout=60)
    stopped = run(check, env)
    assert stopped.returncode == 1 and "unhealthy" in stopped.stderr


def test_the_healthcheck_fails_when_nothing_listens(env: dict[str, str]) -> None:
    probe = run(healthcheck_command(REPO / "Dockerfile"), env)
    assert probe.returncode == 1 and f":{env['PORT']}/livez" in probe.stderr
