"""Untranslated exceptions: a database that cannot be reached is 503 / 5001 (retry), a bug is
500 / 5000."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy.exc

from openkling.api.failures import unexpected_to_kling
from openkling.core.errors import Code


@pytest.mark.parametrize("exc", [
    sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused")),
    sqlalchemy.exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
    sqlite3.OperationalError("attempt to write a readonly database"),
    ConnectionRefusedError(111, "Connection refused"),
    OSError(28, "No space left on device"),
])
def test_an_unreachable_database_is_503_5001_with_retry_after(exc: Exception) -> None:
    error = unexpected_to_kling(exc)
    assert (error.http_status, error.code) == (503, Code.UNAVAILABLE)
    assert error.headers == {"Retry-After": "1"}


@pytest.mark.parametrize("exc", [ValueError("bug"), KeyError("x"), AttributeError("y")])
def test_anything_else_is_500_5000(exc: Exception) -> None:
    error = unexpected_to_kling(exc)
    assert (error.http_status, error.code) == (500, Code.INTERNAL)
