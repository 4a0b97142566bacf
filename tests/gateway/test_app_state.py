"""The app's state: Starlette's `State` as the gateway's code and handlers use it, its values
read as plain attributes."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.app import create_app
from gateway.app_state import AttributeState
from gateway.settings import Settings
from tests.support.asgi import asgi_get


def test_a_value_set_either_way_reads_back_either_way() -> None:
    state = AttributeState({"given": 1})
    state.metrics = "by attribute"
    state["cache"] = "by item"
    assert (state.given, state["given"]) == (1, 1)
    assert (state.metrics, state["metrics"]) == ("by attribute", "by attribute")
    assert (state.cache, state["cache"]) == ("by item", "by item")
    assert state._state == {"given": 1, "metrics": "by attribute", "cache": "by item"}


def test_a_value_replaced_reads_as_the_new_one() -> None:
    state = AttributeState()
    state.settings = "old"
    state["settings"] = "new"
    assert (state.settings, state["settings"]) == ("new", "new")
    state.settings = "newer"
    assert (state.settings, state["settings"]) == ("newer", "newer")


def test_a_value_deleted_is_gone_both_ways() -> None:
    state = AttributeState()
    state.one, state.two = 1, 2
    del state.one
    del state["two"]
    for name in ("one", "two"):
        with pytest.raises(AttributeError):
            getattr(state, name)
        with pytest.raises(KeyError):
            state[name]
    assert state._state == {}


def test_missing_values_fail_as_starlette_s_state_fails() -> None:
    state = AttributeState()
    with pytest.raises(AttributeError, match="'AttributeState' object has no attribute 'x'"):
        _ = state.x
    with pytest.raises(KeyError):
        del state.x
    assert getattr(state, "x", "default") == "default"


def test_the_gateway_s_handlers_see_what_its_state_holds() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    app = create_app(settings)
    assert isinstance(app.state, AttributeState)
    assert app.state.settings is settings
    assert app.state.persisted_queries is app.state["persisted_queries"]


async def test_a_request_reads_the_app_s_state_through_starlette() -> None:
    async def read(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.app.state.greeting)

    app = Starlette(routes=[Route("/", read)])
    app.state = AttributeState()
    app.state.greeting = "hello"
    sent = await asgi_get(app, "/", "", "127.0.0.1")
    assert sent[-1]["body"] == b"hello"
