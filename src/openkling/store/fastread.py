"""SQLite's hot read, inline: the single-task lookup every poll makes.

Through SQLAlchemy's async engine one lookup costs ~700 us (driver thread hop, pooling,
result processing); the same statement on a plain sqlite3 connection costs ~10 us. In WAL
mode a reader never waits for writers, so running it on the event loop does not block it;
`busy_timeout` is 0 and any SQLITE_BUSY makes the caller take the async path instead.
The SQL is compiled from the SQLAlchemy statement, so there is one definition of the query.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sqlalchemy import Boolean, Select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.types import JSON

from openkling.store.records import TaskRecord
from openkling.store.tables import tasks


class SqliteFastReader:
    def __init__(self, path: str, statement: Select[Any]) -> None:
        compiled = statement.compile(dialect=sqlite_dialect.dialect())
        self._sql = str(compiled)
        self._names = list(compiled.positiontup or [])
        self._defaults = compiled.params
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._json = {c.name for c in tasks.c if isinstance(c.type, JSON)}
        self._bool = {c.name for c in tasks.c if isinstance(c.type, Boolean)}

    def fetch_task(self, **params: Any) -> TaskRecord | None:
        conn = self._connection()
        values = {**self._defaults, **params}
        cursor = conn.execute(self._sql, [values[name] for name in self._names])
        row = cursor.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cursor.description]
        record: dict[str, Any] = {}
        for name, value in zip(names, row, strict=True):
            if name in self._json and value is not None:
                value = json.loads(value)
            elif name in self._bool:
                value = bool(value)
            record[name] = value
        return TaskRecord(**record)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA query_only=1")
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
