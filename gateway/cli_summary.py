"""The few plain lines `marketgraph serve` prints before the logs start: where to go next.

The log lines that follow are JSON for machines (readable text on a terminal); this is for the
person who just typed `make run`. It goes to stdout, separate from the logs on stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gateway.logs import writes_text
from gateway.settings import Settings, is_loopback
from storage.embedded import default_data_dir

PAGES = (
    ("GraphiQL", "/graphql", "example queries over the demo data"),
    ("Dashboard", "/dashboard", "chart, symbols, health"),
    ("REST docs", "/docs", "the REST routes (Swagger UI; ReDoc at /redoc)"),
)
"""Browser pages the gateway serves, shown with the address they are reached at."""

_WILDCARDS = ("", "0.0.0.0", "::", "[::]")


def browse_origin(host: str, port: int) -> str:
    """The URL a browser on this machine opens (a wildcard bind is reached via localhost)."""
    shown = "localhost" if host in _WILDCARDS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"  # an IPv6 literal
    return f"http://{shown}:{port or '<free port>'}"


def program_name(argv0: str | None = None) -> str:
    """How the user can type this command again: a path relative to here when it is close."""
    path = Path(argv0 if argv0 is not None else sys.argv[0])
    if path.name != "marketgraph":
        return "marketgraph"
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def _reads_line(settings: Settings) -> str:
    if not settings.reads_without_key():
        return "need a key (X-API-Key: mg_...), as every other request"
    if settings.anonymous_reads is True:
        return "open to anyone who can reach this address (ANONYMOUS_READS=true)"
    return "open without a key (a local playground: loopback address, embedded database)"


def startup_summary(settings: Settings, program: str = "marketgraph") -> str:
    """What `serve` prints: pages, database, who may read, and how to make a key."""
    origin = browse_origin(settings.host, settings.port)
    where = "" if is_loopback(settings.host) else f" (bound to {settings.host or 'all'})"
    width = max(len(name) for name, _, _ in PAGES) + 2
    url_width = max(len(origin + path) for _, path, _ in PAGES) + 3
    log_format = "text" if writes_text(settings.log_format) else "JSON"
    lines = [f"marketgraph is starting on {origin}{where}"]
    lines += [f"  {name:<{width}}{origin + path:<{url_width}}{what}" for name, path, what in PAGES]
    if settings.database_url:
        database = "DATABASE_URL"
    else:
        data_dir = settings.embedded_data_dir or str(default_data_dir())
        database = f"embedded PostgreSQL, data in {data_dir}"
    lines += [
        f"  {'Docs':<{width}}README.md, and the Docs pane in GraphiQL (the schema)",
        f"  {'Database':<{width}}{database}",
        f"  {'Reads':<{width}}{_reads_line(settings)}",
        f"  {'API key':<{width}}{program} keys create NAME --scope admin"
        "   (shown once; send it as X-API-Key)",
        f"Stop with Ctrl-C. Log lines follow on stderr ({log_format}; LOG_LEVEL=warning for"
        " fewer).",
    ]
    return "\n".join(lines)
