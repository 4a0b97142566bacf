"""The caller's address as the gateway trusts it: a valid IP address, or "unknown".

`scope["client"]` is the peer, or — only when the peer is a proxy listed in
FORWARDED_ALLOW_IPS — the address uvicorn took from `X-Forwarded-For`. A proxy may still pass
on whatever text a client put there, so anything that is not an IP address is not used as one:
not to count requests or bad keys by, and not in the log.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.types import Scope

UNKNOWN = "unknown"
ADDRESSES = 4096  # distinct client addresses remembered
LONGEST_REMEMBERED = 64  # an address is shorter; longer text is parsed (and refused) each time
_KEY = "marketgraph.client_address"  # the answer, kept in the scope: several layers ask


def client_address(scope: Scope) -> str:
    """The request's client IP address in canonical form, or UNKNOWN."""
    known: str | None = scope.get(_KEY)
    if known is None:
        known = scope[_KEY] = _canonical(scope.get("client"))
    return known


def _canonical(client: tuple[str, int] | None) -> str:
    if not client:
        return UNKNOWN
    host = str(client[0])
    return _remembered(host) if len(host) <= LONGEST_REMEMBERED else _parsed(host)


@lru_cache(maxsize=ADDRESSES)
def _remembered(host: str) -> str:
    """Parsed once per address: parsing costs more than the rest of the access layer."""
    return _parsed(host)


def _parsed(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return UNKNOWN
