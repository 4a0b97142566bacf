"""schemathesis against `/openapi.json` of a real server: generated requests for every
operation (valid and invalid ones), each answer checked against the document — no 5xx, the
documented status codes, content types and response schemas.

At least `MIN_CASES` cases run in all (half valid, half invalid, counted); each operation
is bounded by `EXAMPLES_PER_OPERATION` per mode, so the run is bounded in time too.

Every check runs but two that guess at intent: "schema-valid requests are accepted" (COMPAT.md
answers some with 400 on purpose: an end date before the start, which no JSON Schema can
express) and "schema-violating requests are refused" (a query value is always a string, so
many "violations" are valid text, and a malformed `Authorization` beside a good `X-API-Key`
is rightly ignored).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)

from domain.access import Scope
from domain.timeframes import Timeframe
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from storage.tracked_symbols import add_tracked
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.gateway import live, make_key
from tests.support.gateway import settings as gateway_settings

MIN_CASES = 1000
EXAMPLES_PER_OPERATION = 90
# Far above any id the generator is likely to pick, so fuzzing never revokes its own key.
ADMIN_KEY_ID = 987_654_321
GUESSWORK: list[schemathesis.CheckFunction] = [positive_data_acceptance, negative_data_rejection]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    async with cloned_database(server, templates, RollupBackend.PORTABLE) as database:
        bars = [
            BarIn("AAPL", datetime(2024, 1, day, 5, tzinfo=UTC), 10, 11, 9, 10, 100)
            for day in range(2, 20)
        ]
        await upsert_bars(database.pool, Timeframe.D1, bars, database.backend)
        await add_tracked(database.pool, "AAPL", "stock", [Timeframe.D1])
        yield database


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin_key(fuzz_db: Database) -> str:
    await fuzz_db.pool.execute("SELECT setval('api_keys_id_seq', $1)", ADMIN_KEY_ID - 1)
    key_id, raw = await make_key(fuzz_db, "fuzzer", Scope.ADMIN)
    if key_id != ADMIN_KEY_ID:
        raise RuntimeError(f"the fuzzing key got id {key_id}")
    return raw


@pytest.fixture(scope="module")
def fuzz_url(fuzz_db: Database) -> Iterator[str]:
    config = gateway_settings(
        fuzz_db,
        default_rate_limit_per_minute=0,
        anonymous_rate_limit_per_minute=0,  # thousands of keyless probes from one address
        max_bars_per_response=500,
    )
    with live(config) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(fuzz_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(
    api_schema: Any, admin_key: str, mode: GenerationMode
) -> None:
    """Valid requests (positive) and invalid ones (negative) for every operation."""
    counts: Counter[str] = Counter()
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def answers_as_documented(case: schemathesis.Case[Any]) -> None:
            counts[case.operation.label] += 1
            case.call_and_validate(headers={"X-API-Key": admin_key}, excluded_checks=GUESSWORK)

        try:
            answers_as_documented()
        except Unsatisfiable:  # nothing to get wrong: no parameters, no body
            if mode is GenerationMode.POSITIVE:
                raise
    assert sum(counts.values()) >= MIN_CASES // 2, dict(counts)


def test_the_document_describes_the_api(api_schema: Any, fuzz_url: str) -> None:
    raw = api_schema.raw_schema
    assert raw["openapi"].startswith("3.1")
    assert raw["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key, e.g. `mg_…`.",
    }
    assert raw["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key as `Authorization: Bearer`.",
    }
    assert set(raw["components"]["schemas"]["ErrorBody"]["properties"]) == {"detail", "code"}
    historical = raw["paths"]["/api/v1/historical/{symbol}"]["get"]
    either: list[dict[str, list[str]]] = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    assert historical["security"] == either
    assert raw["paths"]["/api/v1/admin/api-keys"]["post"]["security"] == either
    assert "security" not in raw["paths"]["/health"]["get"]  # never needs a key
    assert {p["name"] for p in historical["parameters"]} == {
        "symbol", "start", "end", "timeframe", "validated_only", "min_quality"
    }  # fmt: skip
    for status in ("400", "401", "403", "404", "422"):
        assert historical["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }
