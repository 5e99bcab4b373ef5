"""PostgreSQL's hot read: the single-task lookup every poll makes, on a raw asyncpg pool, with a
per-process cache of recent rows that LISTEN/NOTIFY invalidates.

Through SQLAlchemy's async engine one lookup costs a pool checkout, a greenlet hop and result
processing on top of the round trip; asyncpg alone prepares the statement once per connection
and decodes the row in C. Most polls ask about a task that has not changed since the last
poll, so recent rows are kept here and served without a round trip.

Why the cache is never stale for longer than a notification takes to arrive (and never for
this process's own writes, which `TaskStore` drops with `forget` once they commit): migration
0006 adds a trigger that sends `NOTIFY openkling_tasks, '<task id>'` in the same transaction as
every change a client can see (status, message, progress, result, updated_at, external id)
and every delete. One connection per process LISTENs. Rows are cached only while that
connection is up, and only when no notification (and no reconnect) arrived while the row was
being read, so a read that raced a change is not kept. When the listening connection drops,
the cache is emptied and stays unused until LISTEN is re-established: notifications missed
meanwhile cannot leave a stale row behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg
from sqlalchemy import Select
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import JSON

from openkling.store.records import TaskRecord
from openkling.store.tables import tasks

log = logging.getLogger(__name__)

#: The channel migration 0006's trigger notifies on; the payload is the task id.
CHANNEL = "openkling_tasks"
#: How often the listening connection is checked (a silent drop must not go unnoticed).
HEALTH_SECONDS = 5.0
RECONNECT_SECONDS = 1.0


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """postgresql+asyncpg://... (SQLAlchemy's spelling) -> postgresql://... (asyncpg's)."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgresql") else sqlalchemy_url


class PostgresTaskReader:
    """`fetch_task(account_id=, key=)` for one fixed primary-key statement."""

    def __init__(self, url: str, statement: Select[Any], *, cache_size: int = 10_000,
                 pool_size: int = 4,
                 convert: Callable[[dict[str, Any]], TaskRecord] = TaskRecord.from_mapping,
                 ) -> None:
        dialect: Any = postgresql.dialect
        compiled = statement.compile(dialect=dialect(paramstyle="numeric_dollar"))
        self._sql = str(compiled)
        self._names = list(compiled.positiontup or [])
        self._defaults = dict(compiled.params)
        self._dsn = asyncpg_dsn(url)
        self._pool_size = pool_size
        self._pool: Any = None
        self._starting: asyncio.Lock | None = None
        self._json = {c.name for c in tasks.c if isinstance(c.type, JSON)}
        self._convert = convert
        self.cache_size = cache_size
        self._cache: OrderedDict[str, TaskRecord] = OrderedDict()
        #: Bumped by every notification, flush and (re)connect: a read that saw it move
        #: while in flight is not cached.
        self._generation = 0
        self._listening = False
        self._listener: asyncio.Task[None] | None = None
        self.hits = 0
        self.misses = 0

    # ----- the read --------------------------------------------------------------------------

    async def fetch_task(self, **params: Any) -> TaskRecord | None:
        key = params["key"]
        cached = self._cache.get(key)
        if (cached is not None and cached.account_id == params["account_id"]
                and cached.kind == params.get("kind", cached.kind)):
            self._cache.move_to_end(key)
            self.hits += 1
            return cached
        self.misses += 1
        generation, listening = self._generation, self._listening
        pool = await self._ensure_started()
        values = {**self._defaults, **params}
        row = await pool.fetchrow(self._sql, *[values[name] for name in self._names])
        if row is None:
            return None
        record = self._convert(self._decode(row))
        if listening and self._listening and generation == self._generation:
            self._cache[key] = record
            self._cache.move_to_end(key)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return record

    def _decode(self, row: Any) -> dict[str, Any]:
        """asyncpg gives JSON columns as text (no codec is set up); booleans come as bool."""
        values = dict(row.items())
        for name in self._json:
            if isinstance(values.get(name), str):
                values[name] = json.loads(values[name])
        return values

    # ----- the pool and the listener ---------------------------------------------------------

    async def _ensure_started(self) -> Any:
        if self._pool is not None:
            return self._pool
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=1, max_size=self._pool_size)
                self._listener = asyncio.create_task(self._listen_forever(),
                                                     name="openkling-poll-cache-listener")
        return self._pool

    def forget(self, task_ids: Iterable[str]) -> None:
        """Drop rows that changed; a read in flight is not kept either.

        `TaskStore` calls it once its write committed, so this process's own writes show on
        its next read without waiting for their notification to come back."""
        self._generation += 1
        for task_id in task_ids:
            self._cache.pop(task_id, None)

    def _on_notify(self, task_id: str) -> None:
        """Another write committed (this process's or another's)."""
        self.forget((task_id,))

    def _flush(self) -> None:
        self._generation += 1
        self._cache.clear()

    async def _listen_forever(self) -> None:
        """LISTEN; on any failure empty the cache, stop caching, and connect again."""
        reported = False
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(
                    CHANNEL, lambda _conn, _pid, _channel, payload: self._on_notify(payload))
                self._flush()
                self._listening = True
                if reported:
                    log.info("poll cache: listening again")
                reported = False
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), HEALTH_SECONDS)
                    if not lost.is_set():
                        await asyncio.wait_for(conn.fetchval("SELECT 1"), HEALTH_SECONDS)
                raise ConnectionError("the listening connection closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not reported:
                    log.warning("poll cache: not listening (%s); reading every poll from "
                                "the database until it is back", str(exc) or type(exc).__name__)
                    reported = True
            finally:
                self._listening = False
                self._flush()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self._flush()
