"""The PostgreSQL poll read: raw asyncpg, and a cache that LISTEN/NOTIFY keeps correct."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.engine import make_url

from openkling.core.ids import new_task_id
from openkling.store import migrate, pgread
from openkling.store.accounts import AccountStore
from openkling.store.database import Database
from openkling.store.pgread import PostgresTaskReader, asyncpg_dsn
from openkling.store.records import TaskRecord
from openkling.store.tables import tasks
from tests.conftest import (
    create_postgres_database,
    drop_postgres_database,
    postgres_skip_reason,
)

asyncpg = pytest.importorskip("asyncpg")
pytestmark = pytest.mark.postgres

BY_ID = select(tasks).where(tasks.c.id == bindparam("key"),
                            tasks.c.account_id == bindparam("account_id"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url)
    await migrate.upgrade(database)
    yield database
    await database.dispose()



@pytest.fixture
async def reader(pg_url: str, db: Database) -> AsyncIterator[PostgresTaskReader]:
    r = PostgresTaskReader(pg_url, BY_ID)
    yield r
    await r.close()


async def add_task(db: Database, account_id: int) -> str:
    task_id = new_task_id()
    async with db.write() as conn:
        await conn.execute(insert(tasks).values(
            id=task_id, account_id=account_id, kind="text2video", model_name="kling-v1",
            provider="double", request={"prompt": "x"}, status="submitted", status_msg="",
            progress=0, created_at=1, updated_at=1, attempts=0, max_attempts=2, run_after=1,
            cancel_requested=False))
    return task_id


async def account(db: Database, name: str = "acme") -> int:
    acc, _ = await AccountStore(db).get_or_create(name, now=1, callback_secret_enc=b"x")
    return acc.id


async def until(check: Callable[[], Any], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


async def listening(reader: PostgresTaskReader) -> bool:
    return reader._listening


async def write_elsewhere(pg_url: str, sql: str, *args: Any) -> None:
    """A write on a connection of its own: another process, as far as the reader knows."""
    conn = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def kill_listener(admin: Any) -> None:
    """Terminate the reader's LISTEN connection (its last query: LISTEN or the health check)."""
    killed = await admin.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query ILIKE 'LISTEN%' OR "
        "(datname = current_database() AND query = 'SELECT 1' AND pid <> pg_backend_pid())")
    assert killed >= 1


async def cached_and_listening(db: Database, reader: PostgresTaskReader) -> tuple[int, str]:
    acc = await account(db)
    task_id = await add_task(db, acc)
    await reader.fetch_task(key=task_id, account_id=acc)
    await until(lambda: listening(reader))
    await reader.fetch_task(key=task_id, account_id=acc)
    assert task_id in reader._cache
    return acc, task_id


async def test_reads_what_sqlalchemy_reads(db: Database, reader: PostgresTaskReader) -> None:
    acc = await account(db)
    task_id = await add_task(db, acc)
    async with db.read() as conn:
        expected = TaskRecord.from_row((await conn.execute(
            BY_ID, {"key": task_id, "account_id": acc})).one())
    assert await reader.fetch_task(key=task_id, account_id=acc) == expected
    assert await reader.fetch_task(key="123", account_id=acc) is None
    # Another account's task is not found, cached or not.
    other = await account(db, "other")
    assert await reader.fetch_task(key=task_id, account_id=other) is None


async def test_unchanged_task_is_served_from_memory_until_a_change_is_notified(
        db: Database, reader: PostgresTaskReader, pg_url: str) -> None:
    acc = await account(db)
    task_id = await add_task(db, acc)
    await reader.fetch_task(key=task_id, account_id=acc)
    await until(lambda: listening(reader))
    await reader.fetch_task(key=task_id, account_id=acc)  # cached now
    hits = reader.hits
    first = await reader.fetch_task(key=task_id, account_id=acc)
    assert reader.hits == hits + 1 and first is not None and first.status == "submitted"

    # Any writer, here plain SQL on its own connection, is seen through the trigger.
    await write_elsewhere(pg_url, "UPDATE tasks SET status = 'processing', progress = 40, "
                                  "updated_at = 2 WHERE id = $1", task_id)

    async def changed() -> bool:
        task = await reader.fetch_task(key=task_id, account_id=acc)
        return task is not None and task.status == "processing" and task.progress == 40
    await until(changed)


async def test_lease_renewals_alone_notify_nothing(db: Database, reader: PostgresTaskReader,
                                                    pg_url: str) -> None:
    acc = await account(db)
    task_id = await add_task(db, acc)
    conn = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        seen: list[str] = []
        await conn.add_listener("openkling_tasks", lambda *args: seen.append(args[3]))
        await conn.execute("UPDATE tasks SET lease_expires_at = 99 WHERE id = $1", task_id)
        await conn.execute("UPDATE tasks SET progress = 5 WHERE id = $1", task_id)
        await until(lambda: asyncio.sleep(0, bool(seen)))
        assert seen == [task_id]
    finally:
        await conn.close()


async def test_a_dropped_listener_empties_the_cache_and_misses_nothing(
        db: Database, reader: PostgresTaskReader, pg_url: str) -> None:
    acc, task_id = await cached_and_listening(db, reader)

    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        # Kill the listening connection, then change the task while nobody listens.
        await kill_listener(admin)
        await until(lambda: asyncio.sleep(0, not reader._listening))
        assert task_id not in reader._cache
        await admin.execute("UPDATE tasks SET status = 'succeed', updated_at = 3 WHERE id = $1",
                            task_id)
    finally:
        await admin.close()
    task = await reader.fetch_task(key=task_id, account_id=acc)
    assert task is not None and task.status == "succeed"
    await until(lambda: listening(reader))  # back, and still right
    task = await reader.fetch_task(key=task_id, account_id=acc)
    assert task is not None and task.status == "succeed"


async def test_forget_drops_a_row_before_its_notification_arrives(
        db: Database, reader: PostgresTaskReader, pg_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    acc, task_id = await cached_and_listening(db, reader)
    held_back: list[str] = []  # notifications that have not reached this process yet
    monkeypatch.setattr(reader, "_on_notify", held_back.append)
    await write_elsewhere(pg_url, "UPDATE tasks SET status = 'processing', updated_at = 2 "
                                  "WHERE id = $1", task_id)
    await until(lambda: asyncio.sleep(0, held_back == [task_id]))
    stale = await reader.fetch_task(key=task_id, account_id=acc)
    assert stale is not None and stale.status == "submitted"  # what forget is there for

    reader.forget([task_id])
    fresh = await reader.fetch_task(key=task_id, account_id=acc)
    assert fresh is not None and fresh.status == "processing"


async def test_forget_of_another_id_keeps_the_row(
        db: Database, reader: PostgresTaskReader) -> None:
    _acc, task_id = await cached_and_listening(db, reader)
    reader.forget(["no-such-task"])
    assert task_id in reader._cache


async def test_a_read_in_flight_when_forget_runs_is_not_cached(
        db: Database, reader: PostgresTaskReader) -> None:
    acc, task_id = await cached_and_listening(db, reader)
    other = await add_task(db, acc)  # not cached: its read goes to the database
    read = asyncio.create_task(reader.fetch_task(key=other, account_id=acc))
    await asyncio.sleep(0)  # the read has started and waits on its round trip
    reader.forget([task_id])
    assert (await read) is not None
    assert other not in reader._cache


BY_ID_AND_KIND = select(tasks).where(tasks.c.id == bindparam("key"),
                                     tasks.c.account_id == bindparam("account_id"),
                                     tasks.c.kind == bindparam("kind"))


async def test_a_cached_row_is_served_only_to_its_own_account_and_family(
        db: Database, pg_url: str) -> None:
    reader = PostgresTaskReader(pg_url, BY_ID_AND_KIND)
    try:
        first, second, third = [await account(db, name) for name in ("a", "b", "c")]
        task_id = await add_task(db, second)  # kind "text2video"
        assert await reader.fetch_task(key=task_id, account_id=second, kind="text2video")
        await until(lambda: listening(reader))
        assert await reader.fetch_task(key=task_id, account_id=second, kind="text2video")
        assert task_id in reader._cache and (reader.hits, reader.misses) == (0, 2)
        # Neither a lower nor a higher account id, nor a family before or after the task's.
        for account_id, kind in ((first, "text2video"), (third, "text2video"),
                                 (second, "images/generations"), (second, "videos/x")):
            assert await reader.fetch_task(key=task_id, account_id=account_id,
                                           kind=kind) is None
        assert (reader.hits, reader.misses) == (0, 6)
        found = await reader.fetch_task(key=task_id, account_id=second, kind="text2video")
        assert found is not None and found.account_id == second
        assert (reader.hits, reader.misses) == (1, 6)
    finally:
        await reader.close()


async def test_a_full_cache_lets_go_of_the_row_read_longest_ago(
        db: Database, pg_url: str) -> None:
    reader = PostgresTaskReader(pg_url, BY_ID, cache_size=2)
    try:
        acc = await account(db)
        one, two, three = [await add_task(db, acc) for _ in range(3)]
        await reader.fetch_task(key=one, account_id=acc)
        await until(lambda: listening(reader))
        for task_id in (one, two, one, three):  # `one` is read again after `two`
            assert await reader.fetch_task(key=task_id, account_id=acc)
        assert list(reader._cache) == [one, three]
    finally:
        await reader.close()


async def test_a_listener_that_cannot_reconnect_warns_once_and_comes_back(
        db: Database, reader: PostgresTaskReader, pg_url: str,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=pgread.__name__)
    acc, task_id = await cached_and_listening(db, reader)
    monkeypatch.setattr(pgread, "RECONNECT_SECONDS", 0.01)
    attempts: list[str] = []
    connect = asyncpg.connect

    async def counting_connect(dsn: str, **kwargs: Any) -> Any:
        attempts.append(dsn)
        return await connect(dsn, **kwargs)

    monkeypatch.setattr(asyncpg, "connect", counting_connect)
    good_dsn = reader._dsn
    reader._dsn = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        await kill_listener(admin)
        await until(lambda: asyncio.sleep(0, len(attempts) >= 3))
        await admin.execute("UPDATE tasks SET status = 'failed', updated_at = 3 WHERE id = $1",
                            task_id)
    finally:
        await admin.close()
    # Not listening: every read goes to the database, and none is kept.
    task = await reader.fetch_task(key=task_id, account_id=acc)
    assert task is not None and task.status == "failed" and reader._cache == {}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "not listening" in warnings[0].getMessage()
    assert not [r for r in caplog.records if "listening again" in r.getMessage()]

    reader._dsn = good_dsn
    await until(lambda: listening(reader))
    assert [r.levelno for r in caplog.records if "listening again" in r.getMessage()] == [
        logging.INFO]
    await reader.fetch_task(key=task_id, account_id=acc)
    assert task_id in reader._cache  # caching again


def test_asyncpg_dsn_rewrites_only_sqlalchemy_postgresql_urls() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u:p@db:5432/x") == "postgresql://u:p@db:5432/x"
    assert asyncpg_dsn("postgresql://u@db/x") == "postgresql://u@db/x"
    assert asyncpg_dsn("sqlite+aiosqlite:///a.db") == "sqlite+aiosqlite:///a.db"
    assert asyncpg_dsn("postgresql") == "postgresql"


# ----- races and silent failures -------------------------------------------------------------

#: The poll's statement, made to sleep 1.5 s inside PostgreSQL (not for the key "start"), so a
#: test can change the row, or drop the listener, while a read is in flight.
SLOW_BY_ID = select(tasks).where(
    tasks.c.id == bindparam("key"), tasks.c.account_id == bindparam("account_id"),
    text("(SELECT true FROM pg_sleep(CASE WHEN :key = 'start' THEN 0 ELSE 1.5 END))"))


async def slow_read_in_flight(reader: PostgresTaskReader, admin: Any, task_id: str,
                              account_id: int) -> asyncio.Task[TaskRecord | None]:
    """Start a read and return once PostgreSQL runs it: its snapshot is taken."""
    read = asyncio.create_task(reader.fetch_task(key=task_id, account_id=account_id))

    async def sleeping() -> bool:
        return bool(await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"))
    await until(sleeping)
    return read


async def read_was_stale_and_not_kept(reader: PostgresTaskReader,
                                      read: asyncio.Task[TaskRecord | None],
                                      task_id: str, account_id: int) -> None:
    stale = await read
    assert stale is not None and stale.status == "submitted"  # its snapshot predates the change
    assert task_id not in reader._cache
    fresh = await reader.fetch_task(key=task_id, account_id=account_id)
    assert fresh is not None and fresh.status == "processing"


@pytest.fixture
async def slow_reader(pg_url: str, db: Database) -> AsyncIterator[PostgresTaskReader]:
    r = PostgresTaskReader(pg_url, SLOW_BY_ID)
    await r.fetch_task(key="start", account_id=0)  # starts the pool and the listener
    await until(lambda: listening(r))
    yield r
    await r.close()


async def test_a_row_read_while_its_change_is_notified_is_not_kept(
        db: Database, slow_reader: PostgresTaskReader, pg_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    acc = await account(db)
    task_id = await add_task(db, acc)
    notified: list[str] = []
    on_notify = slow_reader._on_notify

    def spy(payload: str) -> None:
        notified.append(payload)
        on_notify(payload)
    monkeypatch.setattr(slow_reader, "_on_notify", spy)
    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        read = await slow_read_in_flight(slow_reader, admin, task_id, acc)
        await admin.execute("UPDATE tasks SET status = 'processing', updated_at = 2 "
                            "WHERE id = $1", task_id)
        await until(lambda: asyncio.sleep(0, task_id in notified))
        assert not read.done()
    finally:
        await admin.close()
    await read_was_stale_and_not_kept(slow_reader, read, task_id, acc)


async def test_a_row_read_while_the_listener_reconnects_is_not_kept(
        db: Database, slow_reader: PostgresTaskReader, pg_url: str,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The change's notification is lost with the connection that should have carried it;
    by the time the read ends the listener is back, so only the reconnect can tell."""
    caplog.set_level(logging.INFO, logger=pgread.__name__)
    monkeypatch.setattr(pgread, "RECONNECT_SECONDS", 0.01)
    acc = await account(db)
    task_id = await add_task(db, acc)
    lost: list[str] = []
    monkeypatch.setattr(slow_reader, "_on_notify", lost.append)
    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        read = await slow_read_in_flight(slow_reader, admin, task_id, acc)
        await admin.execute("UPDATE tasks SET status = 'processing', updated_at = 2 "
                            "WHERE id = $1", task_id)
        await until(lambda: asyncio.sleep(0, task_id in lost))
        await kill_listener(admin)
        await until(lambda: asyncio.sleep(
            0, any("listening again" in r.getMessage() for r in caplog.records)))
        assert not read.done() and slow_reader._listening
    finally:
        await admin.close()
    await read_was_stale_and_not_kept(slow_reader, read, task_id, acc)


class FreezingTcpProxyDouble:
    """A loopback TCP relay to PostgreSQL. `freeze()` makes the connections open at that
    moment go silent (bytes are dropped both ways, the sockets stay open), as when a network
    path dies without a reset; connections made later flow normally."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._flowing: list[asyncio.Event] = []
        self._writers: list[asyncio.StreamWriter] = []
        self.closed_by_client: list[asyncio.Event] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def freeze(self) -> list[asyncio.Event]:
        """Silence every open connection; returns their 'closed by the client' events."""
        for flowing in self._flowing:
            flowing.clear()
        return list(self.closed_by_client)

    async def _relay(self, client_r: asyncio.StreamReader,
                     client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._upstream)
        flowing, closed = asyncio.Event(), asyncio.Event()
        flowing.set()
        self._flowing.append(flowing)
        self.closed_by_client.append(closed)
        self._writers += [client_w, server_w]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if flowing.is_set():
                    dst.write(data)
                    await dst.drain()

        back = asyncio.create_task(pipe(server_r, client_w))
        with contextlib.suppress(OSError):
            await pipe(client_r, server_w)
        closed.set()  # the client closed its side
        server_w.close()
        back.cancel()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await back

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def test_a_listening_connection_that_goes_silent_is_replaced(
        db: Database, pg_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=pgread.__name__)
    monkeypatch.setattr(pgread, "HEALTH_SECONDS", 0.2)
    monkeypatch.setattr(pgread, "RECONNECT_SECONDS", 0.01)
    upstream = make_url(pg_url)
    proxy = FreezingTcpProxyDouble(upstream.host or "127.0.0.1", upstream.port or 5432)
    await proxy.start()
    reader = PostgresTaskReader(
        upstream.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        BY_ID)
    try:
        _acc, _task_id = await cached_and_listening(db, reader)
        silent = proxy.freeze()  # the pool's connection and the listener's
        # No notification can arrive now: the health check must notice, and empty the cache.
        await until(lambda: asyncio.sleep(
            0, any("listening again" in r.getMessage() for r in caplog.records)))
        assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]
        assert "TimeoutError" in caplog.records[0].getMessage()
        assert reader._listening and reader._cache == {}  # on a new connection
        # The silent connection was let go, not leaked.
        await until(lambda: asyncio.sleep(0, any(closed.is_set() for closed in silent)))
    finally:
        await proxy.stop()
        await reader.close()
