"""The busiest route's requests skip Starlette's router, and nothing else changes.

Two apps with the same routes, one with the lane: every request (the route's methods, a
method it refuses, a trailing slash, another path, a `root_path`, a websocket) gets the same
messages from both, and the route's app sees the scope keys the router sets. HEAD alone is
changed: it reaches every route as GET.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from gateway.app import create_app
from gateway.route_lane import RouteLane
from gateway.settings import Settings
from tests.support.asgi import asgi_call

ROUTER_KEYS = ("router", "route", "endpoint", "path_params")


class Probe:
    """An ASGI endpoint answering which of the router's scope keys it was given."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append({key: scope.get(key) for key in ROUTER_KEYS})
        await JSONResponse({"method": scope["method"]})(scope, receive, send)


async def _socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close()


def _app(lane: bool) -> tuple[Starlette, Probe]:
    probe = Probe()
    busiest = Route("/graphql", probe, methods=["GET", "POST"])
    routes = [busiest, WebSocketRoute("/graphql", _socket), Route("/other", Probe())]
    middleware = [Middleware(RouteLane, route=busiest)] if lane else []
    return Starlette(routes=routes, middleware=middleware), probe


def _scope(app: Starlette, method: str, path: str, root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path,
            "headers": [(b"host", b"gw")], "query_string": b"", "scheme": "http",
            "server": ("gw", 80), "app": app}  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "root_path"),
    [("GET", "/graphql", ""), ("POST", "/graphql", ""),
     ("PUT", "/graphql", ""), ("DELETE", "/graphql", ""), ("POST", "/graphql/", ""),
     ("GET", "/other", ""), ("GET", "/nowhere", ""), ("POST", "/api/graphql", "/api"),
     ("POST", "/graphql", "/graphql")],
)  # fmt: skip
async def test_every_request_is_answered_as_without_the_lane(
    method: str, path: str, root_path: str
) -> None:
    laned, laned_probe = _app(lane=True)
    plain, plain_probe = _app(lane=False)
    ours = await asgi_call(laned, _scope(laned, method, path, root_path))
    theirs = await asgi_call(plain, _scope(plain, method, path, root_path))
    assert ours == theirs
    assert len(laned_probe.seen) == len(plain_probe.seen)
    for seen_laned, seen_plain in zip(laned_probe.seen, plain_probe.seen, strict=True):
        assert seen_laned["route"].path == seen_plain["route"].path == "/graphql"
        assert seen_laned["endpoint"] is laned_probe and seen_plain["endpoint"] is plain_probe
        assert seen_laned["path_params"] == seen_plain["path_params"] == {}
        assert seen_laned["router"] is laned.router and seen_plain["router"] is plain.router


@pytest.mark.parametrize("path", ["/graphql", "/other"])
async def test_head_reaches_a_route_as_get_through_the_lane_or_the_router(path: str) -> None:
    laned, _ = _app(lane=True)
    plain, _ = _app(lane=False)
    head = await asgi_call(laned, _scope(laned, "HEAD", path))
    get = await asgi_call(plain, _scope(plain, "GET", path))
    assert head == get
    assert get[-1]["body"] == b'{"method":"GET"}'  # uvicorn leaves it out for HEAD


async def test_websockets_go_the_router_s_way() -> None:
    laned, _ = _app(lane=True)
    messages: list[Message] = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/graphql", "headers": [], "query_string": b"",
             "app": laned}  # fmt: skip
    await laned(scope, receive, send)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]


def test_the_gateway_s_graphql_route_takes_the_lane() -> None:
    app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    (lane,) = [m for m in app.user_middleware if cast(object, m.cls) is RouteLane]
    assert cast(Route, lane.kwargs["route"]).path == "/graphql"
    assert app.user_middleware[-1] is lane  # innermost: every other layer still runs
