"""The callback outbox claim on SQLite and PostgreSQL: accounts take turns, each capped at
what the deliverer has room for, so one account's backlog never fills a batch."""

from __future__ import annotations

from openkling.store.database import Database
from openkling.store.deliveries import DeliveryStore
from openkling.store.records import DeliveryRecord
from openkling.store.tasks import TaskStore
from tests.integration.store.test_fair_claim import queue
from tests.integration.store.test_tasks import LEASE, make_account, payload


async def with_callbacks(db: Database, account: int, count: int, first_at: int) -> list[str]:
    """`count` tasks whose start left one due callback each; their task ids, oldest first."""
    store = TaskStore(db, callback_payload=payload)
    ids = await queue(store, account, count, first_at, callback_url="http://hook")
    for task in await store.claim("w", "double", count, now=first_at + count, lease_ms=LEASE):
        await store.start_processing(task, progress=0, now=first_at + count)
    return ids


def tasks_of(claimed: list[DeliveryRecord]) -> list[str]:
    return [d.task_id for d in claimed]


async def test_accounts_take_turns_up_to_the_cap(db: Database) -> None:
    a, b = await make_account(db, "a"), await make_account(db, "b")
    a_tasks = await with_callbacks(db, a, 6, first_at=1_000)
    b_tasks = await with_callbacks(db, b, 1, first_at=2_000)
    deliveries = DeliveryStore(db)
    first = await deliveries.claim_due(now=5_000, limit=2, lease_ms=LEASE, per_account=3)
    assert sorted(tasks_of(first)) == sorted([a_tasks[0], b_tasks[0]])  # not a's two oldest
    rest = await deliveries.claim_due(now=5_000, limit=10, lease_ms=LEASE, per_account=3)
    assert tasks_of(rest) == a_tasks[1:4]  # a's cap, oldest first


async def test_room_says_what_is_left_for_an_account(db: Database) -> None:
    a, b = await make_account(db, "a"), await make_account(db, "b")
    a_tasks = await with_callbacks(db, a, 3, first_at=1_000)
    b_tasks = await with_callbacks(db, b, 3, first_at=2_000)
    deliveries = DeliveryStore(db)
    claimed = await deliveries.claim_due(now=5_000, limit=10, lease_ms=LEASE, per_account=3,
                                         room={a: 0, b: 1})
    assert tasks_of(claimed) == b_tasks[:1]
    claimed = await deliveries.claim_due(now=5_000, limit=10, lease_ms=LEASE, per_account=3,
                                         room={a: 2})
    assert sorted(tasks_of(claimed)) == sorted([*a_tasks[:2], *b_tasks[1:]])
