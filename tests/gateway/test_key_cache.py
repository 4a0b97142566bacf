"""The key cache: how long a verified or an unknown key is remembered, what `forget` drops, and
that it stays bounded with the oldest entries going first."""

from __future__ import annotations

import pytest

from domain.access import Principal, Scope
from gateway.key_cache import KeyCache
from tests.support.time import FakeTime


def principal(key_id: int) -> Principal:
    return Principal(key_id, f"key {key_id}", frozenset({Scope.READ}))


def test_a_verified_key_is_remembered_until_its_ttl_and_an_unknown_one_for_less() -> None:
    time = FakeTime()
    cache = KeyCache(30, negative_ttl_seconds=5, clock=time.clock)
    cache.put("known", principal(1))
    cache.put("unknown", None)

    time.advance(4.9)
    assert cache.get("known") == (True, principal(1))
    assert cache.get("unknown") == (True, None)  # a hit: no lookup for this bad key
    time.advance(0.1)
    assert cache.get("unknown") == (False, None)  # exactly 5 s later: looked up again
    time.advance(24.9)
    assert cache.get("known") == (True, principal(1))
    time.advance(0.1)
    assert cache.get("known") == (False, None)
    assert len(cache) == 0  # expired entries go when met


def test_a_zero_ttl_remembers_nothing_of_that_kind() -> None:
    cache = KeyCache(0, negative_ttl_seconds=5, clock=FakeTime().clock)
    cache.put("known", principal(1))
    cache.put("unknown", None)

    assert len(cache) == 1  # the known key took no room another entry could use
    assert cache.get("known") == (False, None)
    assert cache.get("unknown") == (True, None)


def test_forget_drops_the_key_and_every_unknown_key_but_no_other_key() -> None:
    cache = KeyCache(clock=FakeTime().clock)
    cache.put("one", principal(1))
    cache.put("two", principal(2))
    cache.put("bad", None)

    cache.forget(1)

    assert cache.get("one") == (False, None)
    assert cache.get("bad") == (False, None)  # it may have been key 1 while revoked
    assert cache.get("two") == (True, principal(2))


def test_the_cache_is_bounded_and_the_oldest_entry_goes_first() -> None:
    time = FakeTime()
    cache = KeyCache(max_entries=2, clock=time.clock)
    cache.put("first", principal(1))
    cache.put("second", principal(2))
    cache.put("first", principal(1))  # refreshed: now the newest
    cache.put("third", principal(3))

    assert len(cache) == 2
    assert cache.get("second") == (False, None)
    assert cache.get("first") == (True, principal(1))
    assert cache.get("third") == (True, principal(3))


def test_putting_a_key_again_evicts_nothing_else() -> None:
    cache = KeyCache(max_entries=2, clock=FakeTime().clock)
    cache.put("first", principal(1))
    cache.put("second", principal(2))
    cache.put("second", principal(2))

    assert cache.get("first") == (True, principal(1))
    assert cache.get("second") == (True, principal(2))


@pytest.mark.parametrize(
    ("ttl", "negative_ttl", "max_entries"), [(-1, 5, 10), (30, -1, 10), (30, 5, 0)]
)
def test_a_negative_ttl_or_no_room_is_refused(
    ttl: float, negative_ttl: float, max_entries: int
) -> None:
    with pytest.raises(ValueError, match=r"^cache TTLs must be >= 0 and max_entries >= 1$"):
        KeyCache(ttl, negative_ttl_seconds=negative_ttl, max_entries=max_entries)


def test_a_cache_of_one_entry_works() -> None:
    cache = KeyCache(max_entries=1, clock=FakeTime().clock)
    cache.put("first", principal(1))
    cache.put("second", principal(2))

    assert cache.get("second") == (True, principal(2)) and len(cache) == 1
