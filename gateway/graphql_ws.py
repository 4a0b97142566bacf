"""`graphql-transport-ws` at /graphql: who the client is, fresh contexts, pings, close codes.

A browser cannot set headers on a websocket, so the key travels in `connection_init`'s
payload (`{"X-API-Key": "mg_..."}` or `{"Authorization": "Bearer mg_..."}`; a key sent as a
header on the upgrade request works too). The connection needs the `read` scope; a refusal
closes it with a code from `CLOSE_CODES`. Each operation gets a fresh RequestContext (fresh
loaders), and a subscriber the hub lets go for being slow has its connection closed with
`SLOW_CONSUMER`. A connection quiet for SUBSCRIPTION_PING_SECONDS gets a protocol `ping`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, cast

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError

from domain.access import Principal, Scope
from domain.errors import (
    Forbidden,
    RateLimited,
    ServiceError,
    Unauthenticated,
    Unavailable,
)
from gateway.authentication import Authenticator, extract_key
from gateway.persisted_queries import PersistedQueries, as_graphql_error
from resolvers.context import RequestContext, make_context
from schema.shared_events import SharedData, shared_or_lead

log = logging.getLogger(__name__)

SLOW_CONSUMER = 4008
CLOSE_CODES: dict[type[ServiceError], int] = {
    Unauthenticated: 4401,
    Forbidden: 4403,
    RateLimited: 4429,
    Unavailable: 1013,  # try again later
}
_MAX_REASON = 120  # a close frame's reason is at most 123 bytes


def _close_reason(text: str) -> str:
    return text.encode()[:_MAX_REASON].decode(errors="ignore")


class LiveTransportHandler(BaseGraphQLTransportWSHandler[RequestContext, None]):
    """Strawberry's handler with key authentication, per-operation contexts and pings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._principal: Principal | None = self.context.principal
        self._last_sent = time.monotonic()
        self._tasks: set[asyncio.Task[None]] = set()
        self._contexts: dict[str, RequestContext] = {}

    @property
    def _socket(self) -> WebSocket:
        socket: WebSocket = self.websocket.ws  # type: ignore[attr-defined]
        return socket

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload")
        if self.connection_init_received or not isinstance(payload, dict | None):
            await super().handle_connection_init(message)  # Strawberry's refusals
            return
        try:
            await self._authenticate(payload or {})
        except ServiceError as exc:
            if self.connection_init_timeout_task:
                self.connection_init_timeout_task.cancel()
            self.connection_init_received = True
            code = next(c for t, c in CLOSE_CODES.items() if isinstance(exc, t))
            await self.websocket.close(code, _close_reason(exc.message))
            return
        await super().handle_connection_init(message)
        self._spawn(self._keep_alive())

    async def _authenticate(self, payload: dict[str, Any]) -> None:
        """The key from the payload (else the upgrade request's), which must hold `read`."""
        raw = extract_key({k: v for k, v in payload.items() if isinstance(v, str)})
        if raw is not None:
            authenticator: Authenticator = self._socket.app.state.authenticator
            client = self._socket.client.host if self._socket.client else "unknown"
            self._principal = await authenticator.verify_key(raw, client=client)
            if self._principal is None:
                raise Unauthenticated("the API key is unknown, revoked or expired")
        self.context = self._fresh_context()
        self.context.require(Scope.READ)

    def _fresh_context(self) -> RequestContext:
        context = make_context(self._socket.app.state.services, self._principal)
        context.disconnect = self._disconnect
        return context

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """The persisted query resolved and the allow-list applied (gateway/persisted_queries.py)
        before Strawberry sees the operation; a refusal is an `error` message for its id.
        Documents are registered over HTTP only."""
        payload: Any = message.get("payload")
        query = payload.get("query") if isinstance(payload, dict) else None
        if (
            self.connection_acknowledged
            and isinstance(payload, dict)
            and isinstance(query, str | None)
        ):
            extensions = payload.get("extensions")
            persisted: PersistedQueries = self._socket.app.state.persisted_queries
            try:
                resolved = persisted.resolve(
                    query, extensions if isinstance(extensions, dict) else None, self._principal
                )
            except ServiceError as exc:
                error = as_graphql_error(exc).formatted
                await self.send_message({"id": message["id"], "type": "error", "payload": [error]})
                return
            if resolved.query is not None:  # without one Strawberry refuses the message
                resolved_payload = {**payload, "query": resolved.query}
                message = cast(SubscribeMessage, {**message, "payload": resolved_payload})
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[RequestContext, None]) -> None:
        # Strawberry reads `self.context` before its first await: each operation gets its own
        self.context = self._contexts[operation.id] = self._fresh_context()
        try:
            await super().run_operation(operation)
        finally:
            self._contexts.pop(operation.id, None)

    async def _send_result_stream(
        self, operation: Operation[RequestContext, None], result_source: Any
    ) -> None:
        """Strawberry's loop, plus the direct lane: once a live subscription's first shared
        result has gone out, an update whose result another subscriber with the same share key
        already executed is sent as it is, without this subscriber's execution pipeline."""
        first = True
        context = self._contexts[operation.id]
        while True:
            leading: asyncio.Future[None] | None = None
            # both set by the subscription's first step (registration, the replay's execution)
            live, key = context.live, context.share_key
            if key is not None and live is not None and live.shareable:
                item = await live.next()
                data, leading = await shared_or_lead(item, key)
                if data is not None:
                    if operation.completed:
                        return
                    await self._send_next_data(operation.id, data)
                    continue
                live.put_back(item)  # not shared yet, or not an update: the stream's turn
            try:
                result = await anext(result_source, None)
            finally:  # executed (or failed): whoever waits for this update may go on
                if leading is not None and not leading.done():
                    leading.set_result(None)
            if result is None:
                return
            if first and isinstance(result, PreExecutionError):
                await self._handle_pre_execution_error(operation, result)
                return
            if not isinstance(result, ExecutionResult):
                await self._reject_incremental_delivery(operation)
                return
            await operation.send_next(result)
            first = False

    async def send_message(self, message: Message) -> None:
        payload = message.get("payload") if message["type"] == "next" else None
        data = payload.get("data") if isinstance(payload, dict) and len(payload) == 1 else None
        if message["type"] != "next" or not isinstance(data, SharedData):
            self._last_sent = time.monotonic()
            await super().send_message(message)
            return
        await self._send_next_data(message["id"], data)

    async def _send_next_data(self, operation_id: str, data: SharedData) -> None:
        """A `next` message with shared data, encoded once for every subscriber of it."""
        self._last_sent = time.monotonic()
        if data.encoded is None:  # the first subscriber of this update and operation
            encoded = self.view.encode_json(data)
            data.encoded = encoded.decode() if isinstance(encoded, bytes) else encoded
        envelope = f'{{"id":{orjson.dumps(operation_id).decode()},"type":"next","payload":'
        try:
            await self._socket.send_text(f'{envelope}{{"data":{data.encoded}}}}}')
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    def _disconnect(self, reason: str) -> None:
        """The hub dropped a subscriber of this connection: close it, saying why."""
        self._spawn(self.websocket.close(SLOW_CONSUMER, _close_reason(reason)))

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep_alive(self) -> None:
        """A protocol `ping` whenever the connection was quiet for SUBSCRIPTION_PING_SECONDS."""
        every: float = self._socket.app.state.settings.subscription_ping_seconds
        with contextlib.suppress(Exception):  # the connection went away: nothing to ping
            while True:
                idle = time.monotonic() - self._last_sent
                if idle >= every:
                    await self.send_message({"type": "ping"})
                    idle = 0.0
                await asyncio.sleep(every - idle)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        await super().shutdown()
