"""Exceptions no layer translated: how they are logged and what the client gets."""

from __future__ import annotations

import logging
import sqlite3

import sqlalchemy.exc

from openkling.core.errors import Code, KlingError
from openkling.observability.failures import FailureSummary
from openkling.store.faults import is_database_unavailable

#: A database outage fails every request; every one of them must not write a traceback. Per
#: cause, so that the polls that still succeed between failing creates do not reset it.
request_failures = FailureSummary(logging.getLogger("openkling.api"), "handling requests")

_UNAVAILABLE = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                sqlalchemy.exc.TimeoutError, sqlite3.OperationalError, OSError, TimeoutError)


def unexpected_to_kling(exc: BaseException) -> KlingError:
    """503 / 5001 when the database (or the disk under it) cannot be reached, which a client
    should retry; else 500 / 5000."""
    if isinstance(exc, _UNAVAILABLE) or is_database_unavailable(exc) or (
            isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated):
        return KlingError(Code.UNAVAILABLE, "the database is unavailable; retry shortly",
                          headers={"Retry-After": "1"})
    return KlingError(Code.INTERNAL, "internal error")
