"""Strawberry's name conversion, remembered: it runs for every argument of every field call.

Strawberry turns each argument's Python name into its GraphQL name (`to_camel_case`) whenever
a resolver with arguments runs — for 50 symbols' `latestBar` and `aggregate`, hundreds of
identical conversions per request. The names are the schema's own, so the answers are kept.
"""

from __future__ import annotations

from functools import lru_cache

from strawberry.schema.name_converter import NameConverter

MAX_NAMES = 4096  # far more than the schema has; a bound all the same


class RememberingNameConverter(NameConverter):
    """Strawberry's NameConverter with `apply_naming_config` computed once per name."""

    def __init__(self, auto_camel_case: bool = True) -> None:
        super().__init__(auto_camel_case)
        self._convert = lru_cache(maxsize=MAX_NAMES)(super().apply_naming_config)

    def apply_naming_config(self, name: str) -> str:
        converted: str = self._convert(name)
        return converted
