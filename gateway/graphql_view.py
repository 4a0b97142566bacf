"""The `/graphql` endpoint: Strawberry's ASGI view with orjson, JSON errors and a local GraphiQL.

Requests Strawberry refuses before any GraphQL runs (bad JSON, a body that is not an object,
no query, variables that are not an object, an unknown operation name, a mutation over GET)
get the API's one error shape, `{"detail": ..., "code": ...}`, instead of Strawberry's
text/plain.

The common requests, one JSON operation POSTed (gateway/graphql_post.py) or one operation by
its text or persisted-query hash over GET (gateway/graphql_get.py), are answered by the view
itself, as Strawberry's request handling would answer them but without the objects it builds
around each request (tests/e2e/test_graphql_plain_requests.py compares the two); everything
else — the GraphiQL page, batches, other POSTs, websockets — goes Strawberry's way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, overload

import orjson
import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from domain.errors import ErrorCode, PersistedQueryNotFound, ServiceError
from gateway.audit import AUDIT_ENDPOINT
from gateway.authentication import principal_of
from gateway.graphiql import LocalGraphQL
from gateway.graphql_caching import cached_execution, http_validators, note_errors
from gateway.graphql_get import plain_get
from gateway.graphql_post import plain_post
from gateway.graphql_ws import LiveTransportHandler
from gateway.observability.facts import facts
from gateway.persisted_queries import (
    NOT_FOUND_CACHE_CONTROL,
    PersistedQueries,
    as_graphql_error,
)
from gateway.responses import NOT_JSON, error_response, service_error_response
from resolvers.context import RequestContext, make_context

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_CODES = {
    404: ErrorCode.NOT_FOUND,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}
_CONTEXT = "graphql_context"
_JSON_TYPE = (b"content-type", b"application/json")
_NOT_FOUND_CACHE_CONTROL = (b"cache-control", NOT_FOUND_CACHE_CONTROL.encode())
_ALLOWED = {method: OperationType.from_http(method) for method in ("GET", "POST")}
"""The operation types each method may run (queries over GET: `allow_queries_via_get`)."""
MAX_AUDITED_NAME = 100


class GraphQLApp(LocalGraphQL[RequestContext, None]):
    """GET and POST, orjson both ways, a fresh service context per request; subscriptions
    over `graphql-transport-ws` only (gateway/graphql_ws.py)."""

    graphql_transport_ws_handler_class = LiveTransportHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A plain GET or JSON POST (gateway/graphql_get.py, gateway/graphql_post.py) answered
        here; the rest Strawberry's way."""
        method = scope.get("method")
        if method == "POST" or (method == "GET" and self.allow_queries_via_get):
            await self._plain(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _plain(self, scope: Scope, receive: Receive, send: Send) -> None:
        """What Strawberry's `__call__`, `run` and `execute_single` do for a plain request,
        without the sub-response and the request adapter, and for a POST without the Response
        object around the result (a 1-bar query POSTed: 882,000 -> 837,000 instructions; by
        hash over GET: 1,294,000 -> 1,090,000); any other request goes to `run`."""
        request = Request(scope, receive)
        method = scope["method"]
        response: Response | None = None
        try:
            streams = self._get_stream_transport_from_headers
            plain: GraphQLRequestData | Request | None
            if method == "POST":
                plain = await plain_post(request, self.decode_json, streams)
            else:
                plain = plain_get(request, self.decode_json, streams)
            # (a dataclass: Request's isinstance goes through ABCMeta, a Mapping's)
            if not isinstance(plain, GraphQLRequestData):
                # the stock way (a POST's body handed out again)
                response = await self.run(request if plain is None else plain)
            else:
                context = await self.get_context(request, None)
                result, unknown = await self._persisted_execution(
                    request, context, plain, partial(self._executed, context, method)
                )
                body = self.encode_json(_processed(result))
                if method == "GET":  # its validators, as `run` adds them
                    response = Response(body, media_type="application/json")
                    if unknown:
                        response.raw_headers.append(_NOT_FOUND_CACHE_CONTROL)
                    response = http_validators(request, response)
        except HTTPException as exc:
            response = _refusal(exc)
        except ServiceError as exc:  # a persisted query refused (hash mismatch, not allowed)
            response = service_error_response(exc)
        finally:
            _name_for_audit(scope)
        if response is not None:
            await response(scope, receive, send)
            return
        headers = [(b"content-length", b"%d" % len(body)), _JSON_TYPE]
        if unknown:
            headers.append(_NOT_FOUND_CACHE_CONTROL)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _executed(
        self, context: RequestContext, method: str, data: GraphQLRequestData
    ) -> ExecutionResult:
        """Strawberry's `execute_single`: the schema's execution of the operations `method`
        may run, a document that names none of them refused with 400."""
        try:
            return await self.schema.execute(
                data.query,
                variable_values=data.variables,
                context_value=context,
                operation_name=data.operation_name,
                allowed_operation_types=_ALLOWED[method],
                operation_extensions=data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason(method)) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc

    async def get_context(self, request: Any, response: Any) -> RequestContext:
        """Services from the app, the caller from authentication, the request's trace id."""
        context = make_context(
            request.app.state.services,
            principal_of(request),
            trace_id=request.scope.get("state", {}).get("trace_id"),
        )
        request.scope.setdefault("state", {})[_CONTEXT] = context
        current = facts()
        if current is not None:
            current.graphql = True
        return context

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: RequestContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """The persisted query resolved (gateway/persisted_queries.py), then Strawberry's
        execution behind the response cache (gateway/graphql_caching.py)."""
        run = super().execute_single
        result, unknown = await self._persisted_execution(
            request,
            context,
            request_data,
            lambda data: run(request, request_adapter, sub_response, context, root_value, data),
        )
        if unknown:
            sub_response.headers["Cache-Control"] = NOT_FOUND_CACHE_CONTROL
        return result

    async def _persisted_execution(
        self,
        request: Request,
        context: RequestContext,
        request_data: GraphQLRequestData,
        execute: Callable[[GraphQLRequestData], Awaitable[ExecutionResult]],
    ) -> tuple[ExecutionResult, bool]:
        """The persisted query resolved, `execute` run behind the response cache, the document
        registered once it ran; True for a hash not known (its answer must not be cached)."""
        persisted: PersistedQueries = request.app.state.persisted_queries
        try:
            resolved = persisted.resolve(
                request_data.query, request_data.extensions, context.principal
            )
        except PersistedQueryNotFound as exc:
            return ExecutionResult(data=None, errors=[as_graphql_error(exc)]), True
        data = request_data
        if resolved.query is not request_data.query:  # not dataclasses.replace: 2 µs of a request
            data = GraphQLRequestData(
                resolved.query,
                request_data.variables,
                request_data.operation_name,
                request_data.extensions,
                request_data.protocol,
            )
        result = await cached_execution(request, context, data, partial(execute, data))
        if resolved.register is not None and resolved.query and result.data is not None:
            persisted.register(resolved.register, resolved.query)
        return result, False

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """What Strawberry makes (no status, no headers) without its `MutableHeaders` detour:
        a 204 gets no `content-length` to delete. With `create_response`, 17,000 of a 1-bar
        query's instructions less."""
        sub_response = Response(status_code=204)
        sub_response.status_code = None  # type: ignore[assignment]  # as Strawberry: unset
        return sub_response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        """Strawberry's response (JSON, 200 unless the sub-response set a status, its headers
        and background task added), on the raw header list."""
        response = Response(
            self.encode_json(response_data),
            status_code=sub_response.status_code or 200,
            media_type="application/json",
        )
        response.raw_headers.extend(sub_response.raw_headers)
        if sub_response.background:
            response.background = sub_response.background
        return response

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """Not for a GET carrying a persisted-query hash (its `query` is absent on purpose)."""
        # Strawberry's test first: it is a method compare for a POST, the query string
        # parsed below only for a GET
        return (
            super().should_render_graphql_ide(request) and "extensions" not in request.query_params
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        if request.app.state.persisted_queries.only:
            raise HTTPException(404, "GraphiQL is off while PERSISTED_QUERIES_ONLY is true")
        return await super().render_graphql_ide(request)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        return _processed(result)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """A POST whose body is not JSON is refused with 415, as HTTP and the GraphQL-over-HTTP
        spec ask (Strawberry answers 400); uploads are off, so multipart is refused too."""
        if request.method == "POST":
            content_type, _ = parse_content_type(request.content_type or "")
            if "application/json" not in content_type:  # Strawberry's own test
                raise HTTPException(415, NOT_JSON)
        return await super().parse_http_body(request)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data, option=JSON_OPTIONS)

    def decode_json(self, data: str | bytes) -> object:
        """orjson's errors are JSONDecodeErrors, which Strawberry turns into a 400."""
        decoded = orjson.loads(data)
        items = decoded if isinstance(decoded, list) else [decoded]
        if not items or not all(isinstance(item, dict) for item in items):
            raise HTTPException(400, "the body must be a JSON object (or a list of them)")
        return decoded

    @overload
    async def run(
        self, request: Request, context: RequestContext = UNSET, root_value: None = UNSET
    ) -> Response: ...

    @overload
    async def run(
        self, request: WebSocket, context: RequestContext = UNSET, root_value: None = UNSET
    ) -> WebSocket: ...

    async def run(
        self,
        request: Request | WebSocket,
        context: RequestContext = UNSET,
        root_value: None = UNSET,
    ) -> Response | WebSocket:
        try:
            response = await super().run(request, context, root_value)
            if isinstance(request, Request) and isinstance(response, Response):
                return http_validators(request, response)
            return response
        except HTTPException as exc:
            return _refusal(exc)
        except ServiceError as exc:  # a persisted query refused (hash mismatch, not allowed)
            return service_error_response(exc)
        finally:
            _name_for_audit(request.scope)


def _processed(result: ExecutionResult) -> GraphQLHTTPResponse:
    """The response of a result (Strawberry's), its error codes noted for the metrics."""
    note_errors(result)
    return process_result(result)


def _refusal(exc: HTTPException) -> Response:
    """A request refused before any GraphQL ran, in the API's one error shape."""
    code = _CODES.get(exc.status_code, ErrorCode.BAD_USER_INPUT)
    return error_response(code, exc.reason, status_code=exc.status_code)


def _name_for_audit(scope: Any) -> None:
    """`graphql:<operation name>` for the audit trail, once the operation is known."""
    state = scope.get("state", {})
    context = state.get(_CONTEXT)
    if isinstance(context, RequestContext):
        name = (context.operation or "anonymous")[:MAX_AUDITED_NAME]
        state[AUDIT_ENDPOINT] = f"graphql:{name}"
        current = facts()
        if current is not None:
            current.operation = context.operation


def make_graphql_app(
    schema: strawberry.Schema,
    assets_dir: Path | None,
    *,
    allowed_origins: Sequence[str] = (),
) -> GraphQLApp:
    """The ASGI app to mount at `/graphql` (GraphiQL at GET without a query; websockets from
    pages on `allowed_origins` besides the gateway's own)."""
    return GraphQLApp(
        schema,
        assets_dir=assets_dir,
        allow_queries_via_get=True,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=timedelta(seconds=10),
        allowed_origins=allowed_origins,
        max_subscriptions_per_connection=None,  # the per-key limit (resolvers/live_hub.py)
    )
