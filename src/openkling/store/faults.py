"""Which failures mean the database cannot be reached right now (nobody's fault: retry).

Below the API and the worker, which both tell an outage from a bug with it (the API answers
503 / 5001, the worker waits without spending an attempt).
"""

from __future__ import annotations

import errno
import sqlite3

import sqlalchemy.exc

_DATABASE_DOWN = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                  sqlalchemy.exc.TimeoutError, sqlite3.OperationalError, ConnectionError)


def cause_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_database_unavailable(exc: BaseException) -> bool:
    """The database (or SQLite's disk) cannot be reached or written right now."""
    for link in cause_chain(exc):
        if isinstance(link, _DATABASE_DOWN):
            return True
        if isinstance(link, sqlalchemy.exc.DBAPIError) and link.connection_invalidated:
            return True
        if isinstance(link, OSError) and link.errno in (errno.ECONNREFUSED, errno.ECONNRESET,
                                                        errno.EPIPE, errno.ETIMEDOUT):
            return True
        # PostgreSQL: connection exceptions (08xxx) and operator intervention (57xxx: shutting
        # down, starting up), whichever driver exception carries them.
        if str(getattr(link, "sqlstate", "") or "")[:2] in ("08", "57"):
            return True
    return False
