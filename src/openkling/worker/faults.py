"""Which failures are the task's, and which are the host's.

A database that cannot be reached is nobody's task's fault: the task waits, no attempt spent.
A full disk is not fixed by rendering again: the task fails at once, saying so.
"""

from __future__ import annotations

import errno
import sqlite3

import sqlalchemy.exc

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_DATABASE_DOWN = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                  sqlalchemy.exc.TimeoutError, sqlite3.OperationalError, ConnectionError)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def disk_full_message(exc: BaseException) -> str | None:
    """The task's failure message when `exc` (or its cause) is a full disk, else None."""
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno in _DISK_FULL:
            # No file name: the message is the client's, the server's paths are not.
            return ("the server's disk is full: the video could not be stored; "
                    "the operator must free space")
    return None


def is_database_unavailable(exc: BaseException) -> bool:
    """The database (or SQLite's disk) cannot be reached or written right now."""
    for link in _chain(exc):
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
