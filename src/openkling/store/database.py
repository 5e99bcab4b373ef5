"""Engine creation and the two kinds of transaction the rest of the store uses.

SQLite: WAL mode and a busy timeout on every connection; writes start with `BEGIN IMMEDIATE`
so that concurrent writers queue on the lock instead of failing mid-transaction; single
reads run without a transaction. PostgreSQL: plain transactions, row locks where needed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

_BEGIN_OPTION = "openkling_sqlite_begin"


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        database = make_url(url).database
        #: The database file, for SQLite on disk (None for PostgreSQL and :memory:).
        self.sqlite_path = database if self.is_sqlite and database not in (None, "", ":memory:") \
            else None
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._writers: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if self.is_sqlite else contextlib.nullcontext()
        )
        #: Write transactions this process has committed (SQLite's poll cache reads it).
        self.commits = 0

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that will write: takes SQLite's write lock up front.

        SQLite admits one writer at a time, and a writer that finds the lock taken waits in
        SQLite's busy handler, which sleeps in growing steps (up to 100 ms) instead of being
        woken: under load that made creates wait up to a second. Writers of this process
        therefore queue on an asyncio lock first; only other processes meet the busy handler.
        """
        async with self._writers:
            async with self.engine.connect() as conn:
                await conn.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
                async with conn.begin():
                    yield conn
        self.commits += 1

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads: no explicit transaction on SQLite (one round trip less)."""
        async with self.engine.connect() as conn:
            await conn.execution_options(**{_BEGIN_OPTION: None})
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN can be IMMEDIATE or absent.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        statement = conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN")
        if statement:
            conn.exec_driver_sql(statement)
