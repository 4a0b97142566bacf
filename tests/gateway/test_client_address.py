"""The client address the gateway logs and counts by: canonical IP text, or "unknown"."""

from __future__ import annotations

import pytest

from gateway.client_address import UNKNOWN, client_address


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        (("127.0.0.1", 5000), "127.0.0.1"),
        (("0:0:0:0:0:0:0:1", 5000), "::1"),
        (("2001:DB8::1", 5000), "2001:db8::1"),
        (("not-an-address", 5000), UNKNOWN),
        (("1" * 100_000, 5000), UNKNOWN),
        (None, UNKNOWN),
    ],
)
def test_the_address_is_canonical_or_unknown(peer: tuple[str, int] | None, expected: str) -> None:
    for _ in range(2):  # the same the second time, when it is remembered
        assert client_address({"client": peer}) == expected
