"""Connections that reset their session only when something changed it.

asyncpg resets every connection it takes back into the pool with `SELECT
pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` — one more round trip per request,
about a sixth of a small request's time. Requests change none of that: their settings are the
connection's own (`server_settings`) or `SET LOCAL` (gone with the transaction), they take no
advisory locks, LISTEN on a connection of their own (storage/listener.py) and open cursors only
inside transactions (which asyncpg rolls back on release whatever the reset query). The few
storage functions that do change the session (a session `SET`, an advisory lock) call
`session_changed(conn)` first, and that connection gets the full reset when it is released.
"""

from __future__ import annotations

from typing import Any

import asyncpg


class SessionConnection(asyncpg.Connection):
    """An asyncpg connection whose reset query is empty unless its session was changed."""

    __slots__ = ("_session_changed",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_changed = False

    def mark_session_changed(self) -> None:
        self._session_changed = True

    def get_reset_query(self) -> str:
        """asyncpg's full reset once after a change (then clean again), else nothing."""
        if not self._session_changed:
            return ""
        self._session_changed = False
        return str(super().get_reset_query())


def session_changed(conn: object) -> None:
    """Call before a session-level change (`SET` without LOCAL, advisory lock, LISTEN) on a
    pooled connection, so its release resets it (a no-op for connections of other kinds)."""
    mark = getattr(conn, "mark_session_changed", None)
    if mark is not None:
        mark()
