"""The PostgreSQL poll read: raw asyncpg, and a cache that LISTEN/NOTIFY keeps correct."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select

from openkling.core.ids import new_task_id
from openkling.store import migrate
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
    conn = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        await conn.execute("UPDATE tasks SET status = 'processing', progress = 40, "
                           "updated_at = 2 WHERE id = $1", task_id)
    finally:
        await conn.close()

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
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query ILIKE 'LISTEN%' OR "
            "(datname = current_database() AND query = 'SELECT 1' AND pid <> pg_backend_pid())")
        assert killed >= 1
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
    conn = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        await conn.execute("UPDATE tasks SET status = 'processing', updated_at = 2 "
                           "WHERE id = $1", task_id)
    finally:
        await conn.close()
    await until(lambda: asyncio.sleep(0, held_back == [task_id]))
    stale = await reader.fetch_task(key=task_id, account_id=acc)
    assert stale is not None and stale.status == "submitted"  # what forget is there for

    reader.forget([task_id])
    fresh = await reader.fetch_task(key=task_id, account_id=acc)
    assert fresh is not None and fresh.status == "processing"


async def test_forget_none_empties_the_cache_and_an_unknown_id_is_harmless(
        db: Database, reader: PostgresTaskReader) -> None:
    _acc, task_id = await cached_and_listening(db, reader)
    reader.forget(["no-such-task"])
    assert task_id in reader._cache
    reader.forget(None)
    assert reader._cache == {}


async def test_a_read_in_flight_when_forget_runs_is_not_cached(
        db: Database, reader: PostgresTaskReader) -> None:
    acc, task_id = await cached_and_listening(db, reader)
    other = await add_task(db, acc)  # not cached: its read goes to the database
    read = asyncio.create_task(reader.fetch_task(key=other, account_id=acc))
    await asyncio.sleep(0)  # the read has started and waits on its round trip
    reader.forget([task_id])
    assert (await read) is not None
    assert other not in reader._cache
