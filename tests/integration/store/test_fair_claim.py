"""The claim serves accounts in turn (SQLite and PostgreSQL): an account's hundred queued
tasks do not hold back another account's first one, under concurrency too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openkling.store.database import Database
from openkling.store.tasks import TaskStore
from tests.integration.store.test_tasks import LEASE, make_account, payload, values


@pytest.fixture
async def store(db: Database) -> TaskStore:
    return TaskStore(db, callback_payload=payload)


async def queue(store: TaskStore, account: int, count: int, first_at: int,
                **fields: Any) -> list[str]:
    """`count` tasks of `account` created a millisecond apart from `first_at`; their ids."""
    ids = []
    for i in range(count):
        task = await store.insert(values(account, now=first_at + i, **fields),
                                  max_unfinished=1000)
        ids.append(task.id)
    return ids


async def test_one_slot_takes_accounts_in_turn(db: Database, store: TaskStore) -> None:
    a, b, c = [await make_account(db, name) for name in "abc"]
    a_ids = await queue(store, a, 100, first_at=1_000)
    b_ids = await queue(store, b, 2, first_at=2_000)
    c_ids = await queue(store, c, 1, first_at=3_000)
    order = []
    for step in range(6):  # each run ends before the next claim, as with one slot
        (task,) = await store.claim("w", "double", 1, now=5_000 + step, lease_ms=LEASE)
        order.append(task.id)
        assert await store.fail(task, message="done", now=5_000 + step) is not None
    assert order == [a_ids[0], b_ids[0], c_ids[0], a_ids[1], b_ids[1], a_ids[2]]


async def test_a_batch_takes_each_accounts_oldest_first(db: Database, store: TaskStore) -> None:
    a, b = await make_account(db, "a"), await make_account(db, "b")
    a_ids = await queue(store, a, 50, first_at=1_000)
    b_ids = await queue(store, b, 1, first_at=2_000)
    claimed = await store.claim("w", "double", 3, now=5_000, lease_ms=LEASE)
    assert {t.id for t in claimed} == {a_ids[0], b_ids[0], a_ids[1]}


async def test_tasks_already_running_count_against_their_account(
        db: Database, store: TaskStore) -> None:
    a, b = await make_account(db, "a"), await make_account(db, "b")
    a_ids = await queue(store, a, 5, first_at=1_000)
    assert {t.id for t in await store.claim("w1", "double", 2, now=2_000, lease_ms=LEASE)} == \
        set(a_ids[:2])  # b had nothing queued yet
    b_ids = await queue(store, b, 3, first_at=3_000)
    # a runs 2, so its next task comes after b's first two (b: 1 and 2 ahead; a: 2 + 1).
    claimed = await store.claim("w2", "double", 2, now=4_000, lease_ms=LEASE)
    assert {t.id for t in claimed} == set(b_ids[:2])


async def test_concurrent_claimers_share_nothing_across_accounts(
        db: Database, store: TaskStore) -> None:
    accounts = [await make_account(db, f"acct{i}") for i in range(3)]
    every = [task_id for i, account in enumerate(accounts)
             for task_id in await queue(store, account, 15, first_at=1_000 + i * 100)]
    batches = await asyncio.gather(
        *(store.claim(f"w{i}", "double", 4, now=5_000, lease_ms=LEASE) for i in range(8)))
    claimed = [t.id for batch in batches for t in batch]
    assert len(claimed) == len(set(claimed))
    rest = await store.claim("w-last", "double", 100, now=5_000, lease_ms=LEASE)
    assert sorted(claimed + [t.id for t in rest]) == sorted(every)
