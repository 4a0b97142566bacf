"""`marketgraph healthcheck`: exit 0 when this machine's gateway answers `GET /livez`.

The container image's HEALTHCHECK runs it, so the image needs no curl or wget: it asks the
port `marketgraph serve` binds (PORT), on loopback when HOST is a wildcard address. The image
runs it as `marketgraph-healthcheck` (`main` here), which imports settings and nothing of the
gateway: `marketgraph` loads the whole application first, about a second of CPU per probe.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from gateway.settings import Settings

HELP = "exit 0 if the local gateway answers /livez (for HEALTHCHECK)"
TIMEOUT_SECONDS = 5.0
WILDCARDS = ("0.0.0.0", "::", "[::]", "")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("healthcheck", help=HELP)
    _add_arguments(parser)
    parser.set_defaults(handler=_run)


def main(argv: Sequence[str] | None = None) -> int:
    """`marketgraph-healthcheck`: the same check, started without the application."""
    parser = argparse.ArgumentParser(prog="marketgraph-healthcheck", description=HELP)
    _add_arguments(parser)
    return _run(parser.parse_args(argv), Settings())


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the gateway's origin (default: from HOST and PORT)")


def local_origin(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in WILDCARDS else settings.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _run(args: argparse.Namespace, settings: Settings) -> int:
    url = f"{(args.url or local_origin(settings)).rstrip('/')}/livez"
    if not url.startswith(("http://", "https://")):
        print(f"unhealthy: {url}: not an http(s) URL", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:  # refused, timed out, a malformed URL
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
