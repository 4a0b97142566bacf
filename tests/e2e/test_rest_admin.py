"""The older API's admin routes over real HTTP: tracked symbols and API keys, admin keys only;
the GraphQL mutations over the same tracked-symbol service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from domain.access import Scope
from domain.timeframes import Timeframe
from storage import api_keys
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.gateway import auth, live, make_key, settings

TRACKED_FIELDS = {"id", "symbol", "asset_class", "active", "timeframes", "date_added",
                  "last_backfill", "backfill_status"}  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    async with cloned_database(server, templates) as database:
        bars = [
            BarIn("MSFT", datetime(2024, 1, d, 5, tzinfo=UTC), 10, 11, 9, 10, 100,
                  gap_detected=d == 3, quality_score=0.9 if d == 3 else 1.0)
            for d in (2, 3, 4, 5)
        ]  # fmt: skip
        await upsert_bars(database.pool, Timeframe.D1, bars, database.backend)
        yield database


@pytest.fixture(scope="module")
def url(admin_db: Database) -> Iterator[str]:
    with live(settings(admin_db, anonymous_reads=True)) as origin:
        yield origin


@pytest_asyncio.fixture(loop_scope="session")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def admin(admin_db: Database) -> str:
    return (await make_key(admin_db, "admin", Scope.ADMIN))[1]


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "code"} and body["code"] == code


async def call(client: httpx.AsyncClient, method: str, url: str, key: str | None,
               **kwargs: Any) -> httpx.Response:  # fmt: skip
    return await client.request(method, url, headers=auth(key), **kwargs)


# -- tracked symbols -------------------------------------------------------------------------


async def test_tracked_symbol_lifecycle(url: str, client: httpx.AsyncClient, admin: str) -> None:
    base = f"{url}/api/v1/admin/symbols"
    created = await call(client, "POST", base, admin, json={"symbol": "msft"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) >= TRACKED_FIELDS
    assert (body["symbol"], body["asset_class"], body["active"], body["timeframes"]) == (
        "MSFT", "stock", True, ["1d"]
    )  # fmt: skip
    assert body["backfill_status"] == "pending" and body["last_backfill"] is None
    refused(await call(client, "POST", base, admin, json={"symbol": "MSFT"}), 409, "CONFLICT")

    one = (await call(client, "GET", f"{base}/MSFT", admin)).json()
    assert one["stats"] == {
        "record_count": 4,
        "date_range": {"start": "2024-01-02T05:00:00Z", "end": "2024-01-05T05:00:00Z"},
        "validation_rate": 100.0,
        "gaps_detected": 1,
    }
    timeframes = await call(client, "PUT", f"{base}/MSFT/timeframes", admin,
                            json={"timeframes": ["1h", "1d", "5m", "1d"]})  # fmt: skip
    assert timeframes.json()["timeframes"] == ["5m", "1h", "1d"]
    paused = await call(client, "PUT", f"{base}/MSFT", admin, params={"active": "false"})
    assert paused.json()["active"] is False
    assert [s["symbol"] for s in (await call(client, "GET", base, admin)).json()] == []
    listed = await call(client, "GET", base, admin, params={"active_only": "false",
                                                             "include_stats": "true"})  # fmt: skip
    assert [(s["symbol"], s["stats"]["record_count"]) for s in listed.json()] == [("MSFT", 4)]

    deleted = await call(client, "DELETE", f"{base}/MSFT", admin)
    assert deleted.json()["data_retained"] is True and deleted.json()["status"] == "success"
    refused(await call(client, "GET", f"{base}/MSFT", admin), 404, "NOT_FOUND")
    refused(await call(client, "DELETE", f"{base}/MSFT", admin), 404, "NOT_FOUND")
    bars = await call(client, "GET", f"{url}/api/v1/bars", admin, params={"symbol": "MSFT"})
    assert len(bars.json()["data"]) == 4  # soft delete: the data stays
    again = await call(client, "POST", base, admin, json={"symbol": "MSFT"})
    assert again.status_code == 201 and again.json()["active"] is True


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"symbol": "A" * 20}, 400),  # 20 characters but not a ticker shape
        ({"symbol": "X:" + "B" * 18, "asset_class": "crypto"}, 400),
        ({"symbol": "A" * 21}, 400),
        ({"symbol": ""}, 400),
        ({"symbol": "AAPL", "asset_class": "bond"}, 400),
        ({"symbol": "AAPL", "asset_class": "crypto"}, 400),
        ({"symbol": "X:BTCUSD", "asset_class": "stock"}, 400),
        ({}, 422),
        ({"symbol": 5}, 422),
    ],
)
async def test_tracking_refusals(
    url: str, client: httpx.AsyncClient, admin: str, body: dict[str, Any], status: int
) -> None:
    response = await call(client, "POST", f"{url}/api/v1/admin/symbols", admin, json=body)
    refused(response, status, "BAD_USER_INPUT")


async def test_tracking_at_the_length_bounds(
    url: str, client: httpx.AsyncClient, admin: str
) -> None:
    for symbol, kind in (("F", "stock"), ("X:" + "E" * 16, "crypto")):  # 1 and 18 characters
        response = await call(client, "POST", f"{url}/api/v1/admin/symbols", admin,
                              json={"symbol": symbol, "asset_class": kind})  # fmt: skip
        assert response.status_code == 201, response.text
        assert response.json()["asset_class"] == kind


@pytest.mark.parametrize(
    ("timeframes", "status"), [([], 400), (["2h"], 400), (["1d", None], 422), ("1d", 422)]
)
async def test_timeframe_refusals(
    url: str, client: httpx.AsyncClient, admin: str, timeframes: Any, status: int
) -> None:
    await call(client, "POST", f"{url}/api/v1/admin/symbols", admin, json={"symbol": "TF"})
    response = await call(client, "PUT", f"{url}/api/v1/admin/symbols/TF/timeframes", admin,
                          json={"timeframes": timeframes})  # fmt: skip
    refused(response, status, "BAD_USER_INPUT")


async def test_untracked_symbols_are_404(url: str, client: httpx.AsyncClient, admin: str) -> None:
    base = f"{url}/api/v1/admin/symbols/NOPE"
    refused(await call(client, "GET", base, admin), 404, "NOT_FOUND")
    refused(await call(client, "PUT", base, admin, params={"active": "true"}), 404, "NOT_FOUND")
    refused(await call(client, "PUT", f"{base}/timeframes", admin, json={"timeframes": ["1d"]}),
            404, "NOT_FOUND")  # fmt: skip


# -- API keys --------------------------------------------------------------------------------


async def test_api_key_lifecycle(
    url: str, client: httpx.AsyncClient, admin: str, admin_db: Database
) -> None:
    base = f"{url}/api/v1/admin/api-keys"
    created = await call(client, "POST", base, admin, json={"name": "ci", "scopes": ["read"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "api_key", "key_preview", "name", "created_at"}
    new_key, key_id = body["api_key"], body["id"]
    status = await call(client, "GET", f"{url}/api/v1/status", new_key)
    assert status.status_code == 200

    listed = (await call(client, "GET", base, admin)).json()
    mine = next(k for k in listed if k["id"] == key_id)
    assert set(mine) == {"id", "name", "active", "created_at", "last_used", "request_count"}
    assert new_key not in created.text.replace(new_key, "", 1)  # shown once, in that field only
    assert new_key not in (await call(client, "GET", base, admin)).text

    audit = await call(client, "GET", f"{base}/{key_id}/audit", admin, params={"limit": 1})
    assert audit.status_code == 200
    assert set(audit.json()) == {"key_id", "entries", "total", "limit", "offset"}
    refused(await call(client, "GET", f"{base}/{key_id}/audit", admin, params={"limit": 0}),
            400, "BAD_USER_INPUT")  # fmt: skip
    refused(await call(client, "GET", f"{base}/{key_id}/audit", admin, params={"offset": -1}),
            400, "BAD_USER_INPUT")  # fmt: skip

    revoked = await call(client, "PUT", f"{base}/{key_id}", admin, json={"active": False})
    assert revoked.json() == {"status": "success", "message": f"key {key_id} revoked",
                              "key_id": key_id, "active": False}  # fmt: skip
    refused(await call(client, "GET", f"{url}/api/v1/status", new_key), 401, "UNAUTHENTICATED")
    active = await call(client, "GET", base, admin, params={"active_only": "true"})
    assert key_id not in {k["id"] for k in active.json()}
    restored = await call(client, "PUT", f"{base}/{key_id}", admin, json={"active": True})
    assert restored.json()["active"] is True
    deleted = await call(client, "DELETE", f"{base}/{key_id}", admin)
    assert deleted.json() == {"status": "success", "message": f"key {key_id} deleted",
                              "key_id": key_id}  # fmt: skip
    refused(await call(client, "DELETE", f"{base}/{key_id}", admin), 404, "NOT_FOUND")
    refused(await call(client, "PUT", f"{base}/{key_id}", admin, json={"active": True}), 404,
            "NOT_FOUND")  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": ""}, 400),
        ({"name": "n" * 101}, 400),
        ({"name": "ok", "scopes": ["root"]}, 400),
        ({"name": "ok", "scopes": []}, 400),
        ({"scopes": ["read"]}, 422),
        ({"name": ["x"]}, 422),
    ],
)
async def test_key_refusals(
    url: str, client: httpx.AsyncClient, admin: str, body: dict[str, Any], status: int
) -> None:
    response = await call(client, "POST", f"{url}/api/v1/admin/api-keys", admin, json=body)
    refused(response, status, "BAD_USER_INPUT")


async def test_key_name_at_its_bounds(url: str, client: httpx.AsyncClient, admin: str) -> None:
    for name in ("n", "n" * 100):
        response = await call(client, "POST", f"{url}/api/v1/admin/api-keys", admin,
                              json={"name": name})  # fmt: skip
        assert response.status_code == 201, response.text


# -- who may administer ----------------------------------------------------------------------

ADMIN_ROUTES = (
    ("GET", "/api/v1/admin/symbols"),
    ("POST", "/api/v1/admin/symbols"),
    ("GET", "/api/v1/admin/symbols/AAPL"),
    ("PUT", "/api/v1/admin/symbols/AAPL?active=true"),
    ("PUT", "/api/v1/admin/symbols/AAPL/timeframes"),
    ("DELETE", "/api/v1/admin/symbols/AAPL"),
    ("POST", "/api/v1/admin/api-keys"),
    ("GET", "/api/v1/admin/api-keys"),
    ("GET", "/api/v1/admin/api-keys/1/audit"),
    ("PUT", "/api/v1/admin/api-keys/1"),
    ("DELETE", "/api/v1/admin/api-keys/1"),
)
BODIES = {"/api/v1/admin/symbols": {"symbol": "AAPL"}, "/api/v1/admin/api-keys": {"name": "x"},
          "/api/v1/admin/symbols/AAPL/timeframes": {"timeframes": ["1d"]},
          "/api/v1/admin/api-keys/1": {"active": True}}  # fmt: skip


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_need_an_admin_key_even_with_anonymous_reads(
    url: str, client: httpx.AsyncClient, admin_db: Database, method: str, path: str
) -> None:
    _, reader = await make_key(admin_db, "reader", Scope.READ)
    _, fetcher = await make_key(admin_db, "fetcher", Scope.FETCH)
    revoked_id, revoked = await make_key(admin_db, "revoked", Scope.ADMIN)
    await api_keys.set_active(admin_db.pool, revoked_id, False)
    body = BODIES.get(path.split("?")[0])
    for key, status, code in (
        (None, 401, "UNAUTHENTICATED"),
        ("mg_" + "y" * 43, 401, "UNAUTHENTICATED"),
        (revoked, 401, "UNAUTHENTICATED"),
        (reader, 403, "FORBIDDEN"),
        (fetcher, 403, "FORBIDDEN"),
    ):
        refused(await call(client, method, f"{url}{path}", key, json=body), status, code)


# -- GraphQL over the same service -----------------------------------------------------------


async def test_graphql_tracked_symbol_mutations(
    url: str, client: httpx.AsyncClient, admin: str, admin_db: Database
) -> None:
    async def gql(query: str, key: str | None = admin) -> Any:
        response = await call(client, "POST", f"{url}/graphql", key, json={"query": query})
        return response.json()

    made = await gql('mutation { trackSymbol(symbol: "X:ETHUSD", assetClass: CRYPTO) '
                     "{ symbol assetClass active timeframes backfillStatus } }")  # fmt: skip
    assert made["data"]["trackSymbol"] == {"symbol": "X:ETHUSD", "assetClass": "CRYPTO",
                                           "active": True, "timeframes": ["D1"],
                                           "backfillStatus": "pending"}  # fmt: skip
    twice = await gql('mutation { trackSymbol(symbol: "X:ETHUSD", assetClass: CRYPTO) { id } }')
    assert twice["errors"][0]["extensions"]["code"] == "CONFLICT"
    changed = await gql('mutation { setTrackedSymbolTimeframes(symbol: "X:ETHUSD", '
                        "timeframes: [H1, M5, H1]) { timeframes } }")  # fmt: skip
    assert changed["data"]["setTrackedSymbolTimeframes"]["timeframes"] == ["M5", "H1"]
    rest = await call(client, "GET", f"{url}/api/v1/admin/symbols/X:ETHUSD", admin)
    assert rest.json()["timeframes"] == ["5m", "1h"]  # one service, one table
    paused = await gql('mutation { setTrackedSymbolActive(symbol: "X:ETHUSD", active: false) '
                       "{ active } }")  # fmt: skip
    assert paused["data"]["setTrackedSymbolActive"] == {"active": False}
    listed = await gql("{ trackedSymbols(activeOnly: false) { symbol } }")
    assert {"symbol": "X:ETHUSD"} in listed["data"]["trackedSymbols"]
    gone = await gql('mutation { untrackSymbol(symbol: "X:ETHUSD") }')
    assert gone["data"] == {"untrackSymbol": "X:ETHUSD"}
    _, reader = await make_key(admin_db, "gql-reader", Scope.READ)
    forbidden = await gql("{ trackedSymbols { symbol } }", reader)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
