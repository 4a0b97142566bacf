"""`marketgraph healthcheck`: exit 0 when this machine's gateway answers `GET /livez`.

The container image's HEALTHCHECK runs it, so the image needs no curl or wget: it asks the
port `marketgraph serve` binds (PORT), on loopback when HOST is a wildcard address.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request

from gateway.settings import Settings

TIMEOUT_SECONDS = 5.0
WILDCARDS = ("0.0.0.0", "::", "[::]", "")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "healthcheck", help="exit 0 if the local gateway answers /livez (for HEALTHCHECK)"
    )
    parser.add_argument("--url", help="the gateway's origin (default: from HOST and PORT)")
    parser.set_defaults(handler=_run)


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
