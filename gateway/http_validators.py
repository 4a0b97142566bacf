"""`ETag` and `Cache-Control` on GET reads, and 304 for a client that already has the answer.

One rule for GET GraphQL (gateway/graphql_caching.py) and the REST reads (gateway/rest/data.py):
the tag is a hash of the body, the answer is `private` (it depends on the caller's key) for as
long as the response cache keeps answers (CACHE_TTL_SECONDS; 0 sends no validators).
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response


def with_validators(request: Request, response: Response, max_age: float) -> Response:
    """`response` with validators when it is a 200 to a GET, or an empty 304 when the
    request's `If-None-Match` names its tag."""
    if request.method != "GET" or response.status_code != 200 or max_age <= 0:
        return response
    etag = '"' + hashlib.blake2b(bytes(response.body), digest_size=16).hexdigest() + '"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={int(max_age)}",
        "Vary": "Authorization, X-API-Key",
    }
    if etag in _tags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


def _tags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
