"""The view's sub-response (what resolvers and the view may set before the answer exists)
reaches the answer as Strawberry's own ASGI view carries it."""

from __future__ import annotations

import pytest
from starlette.background import BackgroundTask
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse

from gateway.graphql_view import GraphQLApp, make_graphql_app
from schema import build_schema

VIEW: GraphQLApp = make_graphql_app(build_schema(), None)
STOCK = GraphQL(build_schema())
DATA: GraphQLHTTPResponse = {"data": {"x": 1}}


def _noop() -> None:
    return None


@pytest.mark.parametrize("status", [None, 201, 400])
async def test_status_headers_and_background_as_strawberry_sets_them(status: int | None) -> None:
    ours, theirs = await VIEW.get_sub_response(None), await STOCK.get_sub_response(None)  # type: ignore[arg-type]
    assert (ours.status_code, ours.raw_headers) == (theirs.status_code, theirs.raw_headers)
    task = BackgroundTask(_noop)
    for sub in (ours, theirs):
        sub.status_code = status  # type: ignore[assignment]
        sub.headers["Cache-Control"] = "no-store"
        sub.background = task
    answer = VIEW.create_response(response_data=DATA, sub_response=ours)
    expected = STOCK.create_response(response_data=DATA, sub_response=theirs)
    assert answer.status_code == expected.status_code == (status or 200)
    assert answer.raw_headers == expected.raw_headers
    assert answer.background is expected.background is task
