"""Request bodies are JSON. A body sent as another media type is refused with 415 before
FastAPI reads it: FastAPI would parse only a JSON one, and answer a valid JSON object sent as
`text/plain` with 422 "Input should be a valid dictionary", which sends a client looking at
the wrong thing."""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from gateway.responses import NOT_JSON


async def _json_media_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):  # FastAPI's test
        raise HTTPException(415, NOT_JSON)


JSON_BODY = [Depends(_json_media_type)]
"""`dependencies=` of every route that takes a body."""
