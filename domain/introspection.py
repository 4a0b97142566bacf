"""Who may introspect the schema (INTROSPECTION): a setting the schema enforces.

Apart from the schema (schema/introspection.py) so that reading settings imports no GraphQL.
"""

from __future__ import annotations

import enum


class Introspection(enum.StrEnum):
    PUBLIC = "public"  # anyone, with or without a key
    # callers with a valid key (GraphiQL: add the key header), and anyone where reads need no
    # key (ANONYMOUS_READS, e.g. the local playground): the schema is no secret where its data
    # is open
    AUTHENTICATED = "authenticated"
    OFF = "off"  # nobody
