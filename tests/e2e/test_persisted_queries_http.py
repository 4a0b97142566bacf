"""Persisted queries over a real server (uvicorn on 127.0.0.1): Apollo's Automatic Persisted
Queries over POST and GET, the LRU bound, and the allow-list over HTTP and the websocket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from domain.access import Scope
from gateway.app import create_app
from gateway.persisted_manifest import ManifestError, build_manifest, dumps
from gateway.persisted_queries import sha256_hex
from schema import build_schema
from storage.bars_write import BarIn, upsert_bars
from tests.support.databases import Database
from tests.support.gateway import auth, live, make_key, settings
from tests.support.live_client import BARS, bars_of, live_client

T0 = datetime(2024, 5, 6, 13, 30, tzinfo=UTC)
LATEST = (
    'query Latest { bars(ticker: "AAPL", timeframe: M1, order: DESC, limit: 1) { time close } }'
)
OTHER = 'query Other { bars(ticker: "AAPL", timeframe: M1, limit: 2) { time } }'
THIRD = 'query Third { bars(ticker: "AAPL", timeframe: M1, limit: 3) { close } }'
UNLISTED = '{ bars(ticker: "AAPL", timeframe: M1, limit: 1) { volume } }'


def persisted(document: str | None = None, sha: str | None = None) -> dict[str, Any]:
    """A request body as Apollo's PersistedQueryLink sends it: the hash (of `document` unless
    `sha` is given), and `document` when given."""
    digest = sha or sha256_hex(document or "")
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if document is not None:
        body["query"] = document
    return body


def by_hash(document: str) -> dict[str, Any]:
    return persisted(sha=sha256_hex(document))


def get_params(body: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}


def not_found(response: httpx.Response) -> bool:
    """Apollo Server's answer to an unknown hash, which Apollo clients answer with the document."""
    assert response.status_code == 200, response.text
    errors: list[dict[str, Any]] = response.json().get("errors") or [{}]
    expected = {"code": "PERSISTED_QUERY_NOT_FOUND"}
    return (
        errors[0].get("message") == "PersistedQueryNotFound"
        and errors[0].get("extensions") == expected
    )


@pytest_asyncio.fixture(loop_scope="session")
async def stored(portable_db: Database) -> Database:
    bars = [
        BarIn("AAPL", T0 + timedelta(minutes=i), 10 + i, 11 + i, 9 + i, 10.5 + i, 100)
        for i in range(5)
    ]
    await upsert_bars(portable_db.pool, "1m", bars, portable_db.backend)
    return portable_db


@pytest.fixture
def origin(stored: Database) -> Iterator[str]:
    with live(settings(stored, anonymous_reads=True, persisted_queries_max_entries=2)) as url:
        yield url


async def test_unknown_hash_is_persisted_query_not_found_over_post_and_get(origin: str) -> None:
    async with httpx.AsyncClient(base_url=origin) as client:
        posted = await client.post("/graphql", json=by_hash(LATEST))
        got = await client.get("/graphql", params=get_params(by_hash(LATEST)))  # Accept: */*
    assert not_found(posted) and not_found(got)  # not GraphiQL's page, though no `query`
    for answer in (posted, got):
        assert answer.headers["cache-control"] == "private, no-cache, must-revalidate"
    assert "etag" not in got.headers


async def test_hash_with_its_document_registers_it_then_the_hash_alone_runs_it(origin: str) -> None:
    async with httpx.AsyncClient(base_url=origin) as client:
        first = await client.post("/graphql", json=persisted(LATEST))
        again = await client.post("/graphql", json=by_hash(LATEST))
        got = await client.get("/graphql", params=get_params(by_hash(LATEST)))
        revalidated = await client.get(
            "/graphql",
            params=get_params(by_hash(LATEST)),
            headers={"If-None-Match": got.headers["etag"]},
        )
    expected = {"bars": [{"time": "2024-05-06T13:34:00Z", "close": 14.5}]}
    assert first.json()["data"] == again.json()["data"] == got.json()["data"] == expected
    assert got.headers["cache-control"].startswith("private, max-age=")
    assert revalidated.status_code == 304 and revalidated.content == b""


async def test_a_wrong_hash_is_refused_before_the_response_cache_can_answer(origin: str) -> None:
    async with httpx.AsyncClient(base_url=origin) as client:
        cached = await client.post("/graphql", json={"query": LATEST})  # the cache holds it now
        wrong = await client.post("/graphql", json=persisted(LATEST, sha256_hex(OTHER)))
        upper = await client.post("/graphql", json=persisted(LATEST, sha256_hex(LATEST).upper()))
        after = await client.post("/graphql", json=by_hash(OTHER))
    assert "data" in cached.json()
    assert wrong.status_code == 400
    assert wrong.json() == {
        "detail": "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
        "code": "PERSISTED_QUERY_HASH_MISMATCH",
    }
    assert upper.json() == cached.json()  # hex digits in either case
    assert not_found(after)  # the wrong hash registered nothing


async def test_a_document_that_fails_validation_is_not_registered(origin: str) -> None:
    broken = '{ bars(ticker: "AAPL", timeframe: M1) { nosuchfield } }'
    async with httpx.AsyncClient(base_url=origin) as client:
        ran = await client.post("/graphql", json=persisted(broken))
        later = await client.post("/graphql", json=by_hash(broken))
    assert ran.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert not_found(later)


@pytest.mark.parametrize(
    ("extension", "detail"),
    [
        ({"version": 2, "sha256Hash": "0" * 64}, "unsupported persisted query version"),
        ({"version": 1, "sha256Hash": "0" * 63}, "must be 64 hexadecimal digits"),
        ({"version": 1, "sha256Hash": "g" * 64}, "must be 64 hexadecimal digits"),
        ({"version": 1}, "must be 64 hexadecimal digits"),
        ("abc", "must be an object"),
    ],
)
async def test_a_malformed_persisted_query_extension_is_bad_input(
    origin: str, extension: object, detail: str
) -> None:
    async with httpx.AsyncClient(base_url=origin) as client:
        response = await client.post("/graphql", json={"extensions": {"persistedQuery": extension}})
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_USER_INPUT" and detail in response.json()["detail"]


async def test_the_store_keeps_max_entries_and_forgets_the_least_recently_used(origin: str) -> None:
    """PERSISTED_QUERIES_MAX_ENTRIES=2: two documents stay; a third evicts the one used least
    recently, even though the response cache still holds that document's answer."""
    async with httpx.AsyncClient(base_url=origin) as client:
        for document in (LATEST, OTHER):
            assert "data" in (await client.post("/graphql", json=persisted(document))).json()
        for document in (OTHER, LATEST):  # at the bound both are kept; LATEST used last
            assert "data" in (await client.post("/graphql", json=by_hash(document))).json()
        assert "data" in (await client.post("/graphql", json=persisted(THIRD))).json()
        evicted = await client.post("/graphql", json=by_hash(OTHER))
        kept = [await client.post("/graphql", json=by_hash(d)) for d in (LATEST, THIRD)]
    assert not_found(evicted)
    assert all("data" in response.json() for response in kept)


async def test_a_subscribe_message_without_query_or_hash_is_refused_as_before(origin: str) -> None:
    async with live_client(origin) as client:
        assert (await client.init())["type"] == "connection_ack"
        await client.send({"id": "1", "type": "subscribe", "payload": {"variables": {}}})
        assert await client.close_code() == 4400  # Strawberry's "Failed to parse message"


# -- allow-list mode ---------------------------------------------------------------------------

SUBSCRIBE_UNLISTED = 'subscription Mine { bars(tickers: ["AAPL"], timeframe: M1) { close } }'


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """The allow-list as `marketgraph persisted-queries build` makes it: LATEST and the live
    client's subscription (BARS), printed canonically (so not byte-for-byte as clients send)."""
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "latest.graphql").write_text(LATEST)
    (tmp_path / "q" / "live.graphql").write_text(BARS)
    path = tmp_path / "manifest.json"
    path.write_bytes(dumps(build_manifest([tmp_path / "q"], build_schema())))
    return path


@pytest.fixture
def strict(stored: Database, manifest: Path) -> Iterator[str]:
    config = settings(stored, persisted_queries_file=str(manifest), persisted_queries_only=True)
    with live(config) as url:
        yield url


def manifest_ids(path: Path) -> dict[str, str]:
    return {o["name"]: o["id"] for o in json.loads(path.read_text())["operations"]}


async def test_allow_list_runs_listed_documents_only(
    stored: Database, strict: str, manifest: Path
) -> None:
    _, reader = await make_key(stored, "reader", Scope.READ)
    latest_id = manifest_ids(manifest)["Latest"]
    async with httpx.AsyncClient(base_url=strict, headers=auth(reader)) as client:
        by_id = await client.post("/graphql", json=persisted(sha=latest_id))
        as_text = await client.post("/graphql", json={"query": LATEST})
        with_hash = await client.post("/graphql", json=persisted(LATEST))
        unlisted = await client.post("/graphql", json={"query": UNLISTED})
        unlisted_hashed = await client.post("/graphql", json=persisted(UNLISTED))
        then_by_hash = await client.post("/graphql", json=by_hash(UNLISTED))
        page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert by_id.json() == as_text.json() == with_hash.json()
    assert by_id.json()["data"]["bars"][0]["close"] == 14.5
    for refused in (unlisted, unlisted_hashed):
        assert refused.status_code == 403
        assert refused.json()["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
    assert not_found(then_by_hash)  # nothing was registered
    assert page.status_code == 404 and "PERSISTED_QUERIES_ONLY" in page.json()["detail"]


async def test_admin_keys_are_exempt_from_the_allow_list(stored: Database, strict: str) -> None:
    _, admin = await make_key(stored, "admin", Scope.ADMIN)
    async with httpx.AsyncClient(base_url=strict, headers=auth(admin)) as client:
        ad_hoc = await client.post("/graphql", json={"query": UNLISTED})
        registered = await client.post("/graphql", json=persisted(UNLISTED))
        again = await client.post("/graphql", json=by_hash(UNLISTED))
    expected = {"bars": [{"volume": 100.0}]}
    assert ad_hoc.json()["data"] == registered.json()["data"] == again.json()["data"] == expected


async def test_allow_list_applies_to_websocket_subscriptions(stored: Database, strict: str) -> None:
    _, reader = await make_key(stored, "reader", Scope.READ)
    async with live_client(strict) as client:
        assert (await client.init({"X-API-Key": reader}))["type"] == "connection_ack"
        assert bars_of(await client.subscribe("1", ["AAPL"])) == []  # BARS is listed
        await client.send(
            {"id": "2", "type": "subscribe", "payload": {"query": SUBSCRIBE_UNLISTED}}
        )
        refused = await client.receive()
        await client.send({"id": "3", "type": "subscribe", "payload": by_hash(SUBSCRIBE_UNLISTED)})
        unknown = await client.receive()
    assert refused["type"] == "error" and refused["id"] == "2"
    assert refused["payload"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_ALLOWED"}
    assert unknown["type"] == "error" and unknown["id"] == "3"
    assert unknown["payload"][0]["message"] == "PersistedQueryNotFound"


async def test_a_subscription_runs_by_its_manifest_id_over_the_websocket(
    stored: Database, strict: str, manifest: Path
) -> None:
    _, reader = await make_key(stored, "reader", Scope.READ)
    payload = persisted(sha=manifest_ids(manifest)["Live"])
    payload["variables"] = {"tickers": ["AAPL"], "timeframe": "M1"}
    async with live_client(strict) as client:
        assert (await client.init({"X-API-Key": reader}))["type"] == "connection_ack"
        await client.send({"id": "1", "type": "subscribe", "payload": payload})
        assert bars_of(await client.receive()) == []


def test_allow_list_mode_needs_a_readable_manifest(portable_db: Database, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs PERSISTED_QUERIES_FILE"):
        settings(portable_db, persisted_queries_only=True)
    (tmp_path / "bad.json").write_text('{"format": "apollo-persisted-query-manifest"}')
    for path in (tmp_path / "missing.json", tmp_path / "bad.json"):
        config = settings(
            portable_db, persisted_queries_file=str(path), persisted_queries_only=True
        )
        with pytest.raises(ManifestError, match=path.name):
            create_app(config)
