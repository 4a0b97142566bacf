"""One error shape, one set of codes: every code documented, mapped once to HTTP and GraphQL."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from domain import errors
from domain.errors import HTTP_STATUS, ErrorCode, ServiceError, UpstreamError
from gateway.responses import service_error_response

ROOT = Path(__file__).resolve().parents[2]
SERVICE_ERRORS = [
    cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, ServiceError)
]


@pytest.mark.parametrize("code", list(ErrorCode))
def test_the_readme_documents_every_error_code(code: ErrorCode) -> None:
    assert f"`{code.value}`" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_has_one_http_status(code: ErrorCode) -> None:
    assert 400 <= HTTP_STATUS[code] < 600


@pytest.mark.parametrize("kind", SERVICE_ERRORS, ids=lambda cls: cls.__name__)
def test_every_service_error_leaves_http_as_detail_and_code(kind: type[ServiceError]) -> None:
    response = service_error_response(kind("the caller's problem, said plainly"))

    body = orjson.loads(response.body)
    assert set(body) == {"detail", "code"}
    assert body["code"] == kind.code.value
    assert response.status_code == HTTP_STATUS[kind.code]
    if kind.code is ErrorCode.INTERNAL:  # nothing internal reaches a client
        assert body["detail"] == "Internal server error"
    elif issubclass(kind, UpstreamError):  # upstream's URLs and text stay in the log
        assert body["detail"] == kind.public_message
    else:
        assert body["detail"] == "the caller's problem, said plainly"
