"""The persisted-query store on its own: what is registered, what the allow-list accepts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.access import Principal, Scope
from domain.errors import InvalidInput, PersistedQueryNotAllowed, PersistedQueryNotFound
from gateway.persisted_queries import MAX_REGISTERED_CHARS, PersistedQueries, sha256_hex

LISTED = "query Listed { symbols { ticker } }"
READER = Principal(1, "reader", frozenset({Scope.READ}))
ADMIN = Principal(2, "admin", frozenset({Scope.ADMIN}))


def apq(sha: str) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


@pytest.mark.parametrize("length", [MAX_REGISTERED_CHARS, MAX_REGISTERED_CHARS + 1])
def test_documents_up_to_the_length_limit_are_registered(length: int) -> None:
    document = "{ symbols { ticker } }" + "#" * (length - 22)
    assert len(document) == length
    resolved = PersistedQueries(10).resolve(document, apq(sha256_hex(document)), None)
    assert resolved.query == document
    assert resolved.register == (sha256_hex(document) if length <= MAX_REGISTERED_CHARS else None)


def test_a_manifest_id_that_is_not_the_bodys_hash_works_as_well_as_the_hash() -> None:
    custom = "ab" * 32
    store = PersistedQueries(10, {custom: LISTED}, only=True)
    for key in (custom, sha256_hex(LISTED)):
        assert store.resolve(None, apq(key), READER).query == LISTED
    assert store.resolve(LISTED, apq(custom), READER).register is None  # nothing to keep


def test_allow_list_accepts_the_same_document_formatted_differently_only() -> None:
    store = PersistedQueries(10, {sha256_hex(LISTED): LISTED}, only=True)
    reformatted = "# a comment\nquery Listed {\n  symbols {\n    ticker\n  }\n}\n"
    assert store.resolve(reformatted, None, READER).query == reformatted
    assert store.resolve(reformatted, apq(sha256_hex(reformatted)), READER).register is None
    for refused in ("query Listed { symbols { ticker name } }", "query Listed {", ""):
        with pytest.raises(PersistedQueryNotAllowed):
            store.resolve(refused, None, READER)
    assert store.resolve("{ me { name } }", None, ADMIN).query == "{ me { name } }"


def test_registered_documents_serve_only_exempt_callers_in_allow_list_mode() -> None:
    store = PersistedQueries(10, {sha256_hex(LISTED): LISTED}, only=True)
    adhoc = "{ me { name } }"
    store.register(sha256_hex(adhoc), adhoc)
    assert store.resolve(None, apq(sha256_hex(adhoc)), ADMIN).query == adhoc
    for caller in (READER, None):
        with pytest.raises(PersistedQueryNotFound):
            store.resolve(None, apq(sha256_hex(adhoc)), caller)


def test_allow_list_mode_without_documents_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one document"):
        PersistedQueries(10, {}, only=True)
    with pytest.raises(ValueError, match="max_entries"):
        PersistedQueries(0)


@pytest.mark.parametrize(
    "sha",
    [
        "0" * 63,
        "0" * 65,
        "00 " * 21 + " ",  # 64 characters, whitespace between bytes
        "  " + "0" * 62,
        "0" * 30 + "\n\t" + "0" * 32,
        "0" * 62 + " 0",
        "g" + "0" * 63,
        "\u0660" * 64,  # ARABIC-INDIC DIGIT ZERO: a digit, not a hexadecimal one
        "",
    ],
)
def test_a_hash_that_is_not_64_hexadecimal_digits_is_bad_input(sha: str) -> None:
    with pytest.raises(InvalidInput, match="must be 64 hexadecimal digits"):
        PersistedQueries(10).resolve(None, apq(sha), None)


@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_a_hash_in_either_case_finds_its_document(case: Callable[[str], str]) -> None:
    store = PersistedQueries(10)
    store.register(sha256_hex(LISTED), LISTED)
    assert store.resolve(None, apq(case(sha256_hex(LISTED))), None).query == LISTED
