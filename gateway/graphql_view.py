"""The `/graphql` endpoint: Strawberry's ASGI view with orjson and a local GraphiQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import strawberry

from gateway.graphiql import LocalGraphQL
from resolvers.context import Context, get_context

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class GraphQLApp(LocalGraphQL[Context, None]):
    """GET and POST, orjson-encoded responses, context from the app's services."""

    async def get_context(self, request: Any, response: Any) -> Context:
        return await get_context(request, response)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data, option=JSON_OPTIONS)


def make_graphql_app(schema: strawberry.Schema, assets_dir: Path | None) -> GraphQLApp:
    return GraphQLApp(schema, assets_dir=assets_dir, allow_queries_via_get=True)
