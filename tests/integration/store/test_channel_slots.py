"""Relay channel slots counted over the task rows, serialised across "workers" (PostgreSQL).

Three `ChannelSlots` on one database stand for three worker processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from openkling.store import migrate
from openkling.store.channel_slots import ChannelSlots
from openkling.store.database import Database
from openkling.store.tables import tasks
from openkling.store.tasks import TaskStore
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_skip_reason
from tests.integration.store.test_tasks import make_account, payload, values


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    reason = await asyncio.to_thread(postgres_skip_reason)
    if reason:
        pytest.skip(reason)
    url = await asyncio.to_thread(create_postgres_database)
    db = Database(url)
    try:
        await migrate.upgrade(db)
        yield db
    finally:
        await db.dispose()
        await asyncio.to_thread(drop_postgres_database, url)


async def _tasks(db: Database, count: int) -> list[str]:
    account = await make_account(db)
    store = TaskStore(db, callback_payload=payload)
    return [(await store.insert(values(account), max_unfinished=1000)).id for _ in range(count)]


def _marker(db: Database, task_id: str, name: str):  # type: ignore[no-untyped-def]
    """What the worker's save_state does for the relay: record the slot in the task row."""
    async def mark() -> None:
        async with db.write() as conn:
            await conn.execute(update(tasks).where(tasks.c.id == task_id)
                               .values(provider_state={"slot": name}))
    return mark


async def test_slots_up_to_the_limit_then_freed_by_a_finished_task(pg: Database) -> None:
    slots = ChannelSlots(pg)
    t1, t2, t3 = await _tasks(pg, 3)
    assert await slots.reserve("main", t1, 2, _marker(pg, t1, "main"))
    assert await slots.reserve("main", t2, 2, _marker(pg, t2, "main"))
    assert not await slots.reserve("main", t3, 2, _marker(pg, t3, "main"))
    assert await slots.reserve("main", t1, 2, _marker(pg, t1, "main"))  # its own slot
    assert await slots.reserve("spare", t3, 2, _marker(pg, t3, "spare"))  # another channel
    async with pg.write() as conn:
        await conn.execute(update(tasks).where(tasks.c.id == t1).values(status="succeed"))
    assert await slots.reserve("main", t3, 2, _marker(pg, t3, "main"))


async def test_three_workers_racing_take_exactly_the_limit(pg: Database) -> None:
    workers = [ChannelSlots(pg) for _ in range(3)]
    ids = await _tasks(pg, 12)
    results = await asyncio.gather(*(
        workers[i % 3].reserve("main", task_id, 4, _marker(pg, task_id, "main"))
        for i, task_id in enumerate(ids)
    ))
    assert sum(results) == 4


async def test_sqlite_needs_no_ledger(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(ValueError):
            ChannelSlots(db)
    finally:
        await db.dispose()
