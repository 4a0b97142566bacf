"""The `RateLimit-Policy` and `RateLimit` response fields of the IETF draft
(draft-ietf-httpapi-ratelimit-headers): a client reads its quota and what is left of it on
every response, and paces itself instead of finding its limit by being refused.

    RateLimit-Policy: "key";q=600;w=60
    RateLimit: "key";r=598;t=1

The policy is named after what is counted (`key`, or `address` for requests without one);
`t` is whole seconds until one more request is allowed.
"""

from __future__ import annotations

import math
from functools import lru_cache

from starlette.types import Message, Send

from domain.rate_standing import RateStanding


def whole_seconds(seconds: float) -> int:
    """Seconds rounded up, after rounding off float noise (20.0000001 s of arithmetic is 20)."""
    return math.ceil(round(seconds, 6))


def rate_headers(standing: RateStanding) -> list[tuple[bytes, bytes]]:
    """The two fields, raw as ASGI sends them."""
    policy = standing.policy
    left = f'"{policy}";r={standing.remaining};t={whole_seconds(standing.reset)}'
    return [_policy(policy, standing.quota, standing.window), (b"ratelimit", left.encode())]


@lru_cache(maxsize=256)  # a handful of rates in use: one field each, made once
def _policy(policy: str, quota: int, window: int) -> tuple[bytes, bytes]:
    return b"ratelimit-policy", f'"{policy}";q={quota};w={window}'.encode()


class WithRateHeaders:
    """Wraps `send`: the response starts with the fields of `standing` added to the app's
    own (in a new list: an app may send one prebuilt response to every request)."""

    __slots__ = ("_send", "_standing")

    def __init__(self, send: Send, standing: RateStanding) -> None:
        self._send = send
        self._standing = standing

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *rate_headers(self._standing)]
        await self._send(message)
