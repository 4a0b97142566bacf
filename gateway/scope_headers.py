"""A few named headers of an ASGI scope, read straight from its raw header list.

Middlewares that need one or two headers on every request read just those, instead of
building a whole decoded mapping (or a Starlette `Headers`) per request.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from starlette.types import Scope


def scope_headers(scope: Scope, names: Collection[bytes]) -> dict[str, str]:
    """Headers among `names` (lower-case bytes) as `{name: value}` strings; when one is sent
    twice, the last one counts (as in a dict built from all of them)."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in names
    }


def first_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The raw value of the first `name` header (lower-case bytes), as Starlette's
    `Headers.get` reads it; None when there is none."""
    for key, value in headers:
        if key == name:
            return value
    return None
