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
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Boolean, Select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.types import JSON

from openkling.store.records import TaskRecord
from openkling.store.tables import tasks
from openkling.vocabulary import TaskStatus

#: How long a cached row may go without asking SQLite whether another process committed.
RECHECK_SECONDS = 0.001


class SqliteFastReader:
    """Recent rows are kept in memory while `PRAGMA data_version` stays the same: it changes
    whenever any other connection (this process's writer, another process) commits.

    Asking costs ~4 us, a sixth of a poll, so it is asked at most once per
    `recheck_seconds` (1 ms: a dozen polls at full load) and whenever `local_commits` (this
    process's committed writes, `Database.commits`) moved. A poll therefore sees this
    process's own writes at once and another process's within a millisecond of its commit,
    sooner than any client could learn of that commit and ask."""

    def __init__(self, path: str, statement: Select[Any], *, cache_size: int = 10_000,
                 local_commits: Callable[[], int] = lambda: 0,
                 recheck_seconds: float | None = None) -> None:
        compiled = statement.compile(dialect=sqlite_dialect.dialect())
        self._sql = str(compiled)
        self._names = list(compiled.positiontup or [])
        self._defaults = compiled.params
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._json = {c.name for c in tasks.c if isinstance(c.type, JSON)}
        self._bool = {c.name for c in tasks.c if isinstance(c.type, Boolean)}
        self._columns: list[tuple[str, Callable[[Any], Any] | None]] | None = None
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[Any, ...], TaskRecord] = OrderedDict()
        self._version: int | None = None
        self._local_commits = local_commits
        self._commits_seen = -1
        self._recheck_seconds = RECHECK_SECONDS if recheck_seconds is None else recheck_seconds
        self._recheck_at = 0.0

    def fetch_task(self, **params: Any) -> TaskRecord | None:
        conn = self._connection()
        now = time.monotonic()
        commits = self._local_commits()
        if now >= self._recheck_at or commits != self._commits_seen:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._cache.clear()
                self._version = version
            self._commits_seen, self._recheck_at = commits, now + self._recheck_seconds
        key = (params["account_id"], params["key"], params.get("kind"))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        values = {**self._defaults, **params}
        cursor = conn.execute(self._sql, [values[name] for name in self._names])
        row = cursor.fetchone()
        if row is None:
            return None
        if self._columns is None:  # the statement is fixed, so is its column list
            self._columns = [(d[0], self._converter(d[0])) for d in cursor.description]
        record = TaskRecord(**{
            name: convert(value) if convert is not None and value is not None else value
            for (name, convert), value in zip(self._columns, row, strict=True)
        })
        # Read after the version check: at worst newer than `version`, never older.
        self._cache[key] = record
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return record

    def _converter(self, column: str) -> Callable[[Any], Any] | None:
        if column in self._json:
            return json.loads
        if column in self._bool:
            return bool
        if column == "status":
            return TaskStatus
        return None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA query_only=1")
            self._conn = conn
        return self._conn

    def close(self) -> None:
        self._cache.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
