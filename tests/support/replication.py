"""A real streaming replica for tests: a throwaway primary (initdb) and a `pg_basebackup -R` copy.

Both run from the PostgreSQL binaries the machine has (Debian: /usr/lib/postgresql/N/bin, the
newest N), on free loopback ports, with their sockets and data in a temporary directory. As root
(CI), the servers run as the `postgres` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port

SEARCH = "/usr/lib/postgresql"
TOOLS = ("initdb", "pg_ctl", "pg_basebackup")
SERVER_SETTINGS = (
    "listen_addresses = '127.0.0.1'",
    "wal_level = replica",
    "max_wal_senders = 4",
    "hot_standby = on",
    "fsync = off",  # a throwaway server: durability costs time and buys nothing
    # not `off`: an asynchronous commit returns before its WAL is written, so the primary's
    # pg_current_wal_lsn() can stand before it and a replica "caught up" to that may lack it
    "synchronous_commit = on",
    "full_page_writes = off",
    "shared_buffers = 16MB",
    "max_connections = 40",
)


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory holding every tool needed, if any."""
    candidates = sorted(
        Path(SEARCH).glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in candidates:
        if all((directory / tool).exists() for tool in TOOLS):
            return directory
    return None


@dataclass(frozen=True, slots=True)
class Server:
    """One running server of the pair."""

    data: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


class Replication:
    """A primary and its streaming replica; `stop_replica()`/`start_replica()` for outages."""

    def __init__(self, bin_dir: Path, base: Path) -> None:
        self._bin = bin_dir
        self._base = base
        self._user = "postgres" if os.geteuid() == 0 else None
        self.primary = Server(base / "primary", free_port())
        self.replica = Server(base / "replica", free_port())

    def _run(self, tool: str, *args: str) -> None:
        """Run a PostgreSQL tool (as `postgres` when we are root); its output on failure."""
        done = subprocess.run(
            [str(self._bin / tool), *args],
            user=self._user,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def _pg_ctl(self, server: Server, action: str, *extra: str) -> None:
        self._run(
            "pg_ctl", action, "-w", "-t", "60", "-D", str(server.data),
            "-l", str(self._base / f"{server.data.name}.log"), *extra,
        )  # fmt: skip

    def start(self) -> None:
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self._base, entry.pw_uid, entry.pw_gid)
        self._base.chmod(0o755)
        self._run(
            "initdb", "-D", str(self.primary.data), "-U", "postgres", "--auth=trust",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        self._configure(self.primary, SERVER_SETTINGS)
        self._pg_ctl(self.primary, "start")
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
            "-D", str(self.replica.data), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        self._configure(self.replica, ())
        self.start_replica()

    def _configure(self, server: Server, settings: tuple[str, ...]) -> None:
        lines = [*settings, f"port = {server.port}", f"unix_socket_directories = '{self._base}'"]
        with (server.data / "postgresql.conf").open("a") as conf:
            conf.write("\n" + "\n".join(lines) + "\n")

    def start_replica(self) -> None:
        self._pg_ctl(self.replica, "start")

    def stop_replica(self) -> None:
        self._pg_ctl(self.replica, "stop", "-m", "fast")

    def replica_stopped(self) -> bool:
        return not (self.replica.data / "postmaster.pid").exists()

    def stop(self) -> None:
        for server in (self.replica, self.primary):
            with contextlib.suppress(RuntimeError):
                self._pg_ctl(server, "stop", "-m", "immediate")


@contextlib.contextmanager
def replicated() -> Iterator[Replication | str]:
    """A running primary + replica, or the reason there is none (no PostgreSQL binaries)."""
    bin_dir = binaries()
    if bin_dir is None:
        yield f"no PostgreSQL server binaries ({', '.join(TOOLS)}) under {SEARCH}/*/bin"
        return
    base = Path(tempfile.mkdtemp(prefix="mg-replication-"))
    pair = Replication(bin_dir, base)
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()
        shutil.rmtree(base, ignore_errors=True)
