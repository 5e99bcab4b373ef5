"""Host failures told apart from task failures."""

from __future__ import annotations

import errno
import sqlite3

import sqlalchemy.exc

from openkling.worker.faults import disk_full_message, is_database_unavailable


def test_a_full_disk_is_named_without_its_path() -> None:
    # The message is the task's, which clients read: the server's paths stay in the log.
    exc = OSError(errno.ENOSPC, "No space left on device", "/data/files/videos/1/v.mp4")
    message = disk_full_message(exc)
    assert message is not None and message.startswith("the server's disk is full")
    assert "/data" not in message


def test_a_full_disk_behind_another_exception_is_found() -> None:
    try:
        try:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        except OSError as inner:
            raise RuntimeError("storing failed") from inner
    except RuntimeError as outer:
        assert disk_full_message(outer) is not None


def test_other_os_errors_are_not_a_full_disk() -> None:
    assert disk_full_message(OSError(errno.EACCES, "Permission denied")) is None
    assert disk_full_message(ValueError("bad frame")) is None


def test_database_outages_are_recognised() -> None:
    down = [
        sqlalchemy.exc.OperationalError("SELECT", {}, ConnectionRefusedError()),
        sqlalchemy.exc.InterfaceError("SELECT", {}, Exception("connection is closed")),
        sqlite3.OperationalError("database or disk is full"),
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        OSError(errno.ECONNRESET, "Connection reset by peer"),
    ]
    assert all(is_database_unavailable(exc) for exc in down)


def test_postgres_connection_and_shutdown_states_are_outages() -> None:
    class StartingUp(Exception):  # the shape of asyncpg's CannotConnectNowError
        sqlstate = "57P03"

    class UniqueViolation(Exception):
        sqlstate = "23505"

    try:
        try:
            raise StartingUp("the database system is starting up")
        except StartingUp as cause:
            raise sqlalchemy.exc.DBAPIError("SELECT", {}, Exception("wrapped")) from cause
    except sqlalchemy.exc.DBAPIError as wrapped:
        assert is_database_unavailable(wrapped)
    assert not is_database_unavailable(UniqueViolation("duplicate key"))


def test_bugs_are_not_database_outages() -> None:
    assert not is_database_unavailable(KeyError("x"))
    assert not is_database_unavailable(OSError(errno.ENOSPC, "No space left on device"))
