"""The task store on SQLite and PostgreSQL: create transaction, queue, leases, sweeping."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from openkling.core.ids import new_task_id
from openkling.store import fastread, migrate
from openkling.store.accounts import AccountStore
from openkling.store.database import Database
from openkling.store.deliveries import DeliveryStore
from openkling.store.records import TaskRecord
from openkling.store.tasks import (
    DuplicateExternalId,
    DuplicateTaskId,
    TaskStore,
    TooManyUnfinished,
)
from openkling.vocabulary import TaskStatus

LEASE = 30_000


def payload(task: TaskRecord) -> str:
    return f'{{"task_id":"{task.id}","task_status":"{task.status}"}}'


@pytest.fixture
async def store(db: Database) -> TaskStore:
    return TaskStore(db, callback_payload=payload)


async def make_account(db: Database, name: str = "acme") -> int:
    account, _ = await AccountStore(db).get_or_create(name, now=1, callback_secret_enc=b"x")
    return account.id


def values(account_id: int, now: int = 1_000, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": new_task_id(), "account_id": account_id, "kind": "videos/text2video",
        "external_task_id": None, "model_name": "kling-v1", "provider": "double",
        "request": {"prompt": "x"}, "callback_url": None, "status": "submitted",
        "status_msg": "", "progress": 0, "created_at": now, "updated_at": now, "attempts": 0,
        "max_attempts": 2, "run_after": now, "cancel_requested": False,
    }
    base.update(over)
    return base


async def test_migrations_are_current(db: Database) -> None:
    assert await migrate.is_current(db)
    await migrate.upgrade(db)  # idempotent
    assert await migrate.is_current(db)


async def test_external_id_unique_per_account_only(db: Database, store: TaskStore) -> None:
    a, b = await make_account(db, "a"), await make_account(db, "b")
    await store.insert(values(a, external_task_id="mine"), max_unfinished=10)
    with pytest.raises(DuplicateExternalId):
        await store.insert(values(a, external_task_id="mine"), max_unfinished=10)
    other = await store.insert(values(b, external_task_id="mine"), max_unfinished=10)
    assert (await store.get(b, "mine")) == other
    assert await store.get(a, other.id) is None  # tenants are isolated


async def test_get_prefers_task_id_over_external_id(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    first = await store.insert(values(a), max_unfinished=10)
    second = await store.insert(values(a, external_task_id=first.id), max_unfinished=10)
    assert (await store.get(a, first.id)) == first
    assert (await store.get_by_external(a, first.id)) == second


async def test_unfinished_cap(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    for _ in range(3):
        await store.insert(values(a), max_unfinished=3)
    with pytest.raises(TooManyUnfinished):
        await store.insert(values(a), max_unfinished=3)


async def test_cap_holds_under_concurrent_creates(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    results = await asyncio.gather(
        *(store.insert(values(a), max_unfinished=5) for _ in range(12)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, TaskRecord)]
    refused = [r for r in results if isinstance(r, TooManyUnfinished)]
    assert len(created) == 5 and len(refused) == 7


async def test_list_newest_first_with_paging(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    ids = [(await store.insert(values(a, now=1000 + i), max_unfinished=99)).id for i in range(5)]
    page1 = await store.list_page(a, offset=0, limit=2)
    page3 = await store.list_page(a, offset=4, limit=2)
    assert [t.id for t in page1] == ids[::-1][:2]
    assert [t.id for t in page3] == [ids[0]]


async def test_claim_respects_limit_run_after_and_provider(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    ready = [await store.insert(values(a), max_unfinished=99) for _ in range(3)]
    await store.insert(values(a, run_after=10_000), max_unfinished=99)
    await store.insert(values(a, provider="other"), max_unfinished=99)
    claimed = await store.claim("w1", "double", 2, now=2_000, lease_ms=LEASE)
    assert [t.id for t in claimed] == [t.id for t in ready[:2]]
    assert all(t.lease_owner == "w1" and t.attempts == 1 for t in claimed)
    rest = await store.claim("w2", "double", 10, now=2_000, lease_ms=LEASE)
    assert [t.id for t in rest] == [ready[2].id]


async def test_concurrent_claimers_never_share_a_task(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    for _ in range(40):
        await store.insert(values(a), max_unfinished=99)
    batches = await asyncio.gather(
        *(store.claim(f"w{i}", "double", 7, now=2_000, lease_ms=LEASE) for i in range(8))
    )
    claimed = [t.id for batch in batches for t in batch]
    assert len(claimed) == len(set(claimed)) == 40


async def test_status_moves_forward_with_compare_and_set(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    await store.insert(values(a, callback_url="http://hook"), max_unfinished=9)
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.start_processing(task, progress=0, now=2_100)
    assert await store.save_progress(task, progress=40, now=2_200)
    done = await store.succeed(task, result={"videos": []}, now=2_300)
    assert done is not None and done.status == "succeed" and done.progress == 100
    assert done.updated_at == 2_300 and done.lease_owner is None
    # A late write (failed after succeed) changes nothing.
    assert await store.fail(task, message="late", now=2_400) is None
    assert (await store.get(a, task.id)).status == "succeed"  # type: ignore[union-attr]
    deliveries = await DeliveryStore(db).for_task(task.id)
    assert [d.payload.split('"task_status":"')[1][:-2] for d in deliveries] == [
        "processing", "succeed"]


async def test_a_poll_sees_every_write_of_this_process_at_once(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's poll cache asks for other processes' commits at most once per interval;
    this process's own writes must show on the very next read, however long the interval."""
    monkeypatch.setattr(fastread, "RECHECK_SECONDS", 3600.0)
    store = TaskStore(db, callback_payload=payload)
    a = await make_account(db)
    created = await store.insert(values(a), max_unfinished=9)
    assert (await store.get(a, created.id)).status == "submitted"  # type: ignore[union-attr]
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.start_processing(task, progress=0, now=2_100)
    assert (await store.get(a, task.id)).status == "processing"  # type: ignore[union-attr]
    assert await store.save_progress(task, progress=40, now=2_200)
    assert (await store.get(a, task.id)).progress == 40  # type: ignore[union-attr]
    await store.succeed(task, result={"videos": []}, now=2_300)
    assert (await store.get(a, task.id)).status == "succeed"  # type: ignore[union-attr]
    await store.close()


async def test_a_released_task_is_submitted_again_and_its_retry_fences_the_old_run(
    db: Database, store: TaskStore
) -> None:
    a = await make_account(db)
    await store.insert(values(a, callback_url="http://hook"), max_unfinished=9)
    (first,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.start_processing(first, progress=10, now=2_100)
    assert await store.release(first, run_after=2_200, error="transient")
    (second,) = await store.claim("w1", "double", 1, now=2_300, lease_ms=LEASE)
    # released: back to submitted, never processing without an owner (issue 9)
    assert second.status == TaskStatus.SUBMITTED
    assert await store.start_processing(second, progress=0, now=2_400)
    assert not await store.start_processing(first, progress=50, now=2_500)  # fenced out
    again = await store.get(a, second.id)
    assert again is not None and again.progress == 0 and again.updated_at == 2_400
    deliveries = await DeliveryStore(db).for_task(second.id)
    assert len(deliveries) == 2  # processing, then processing again after the hand-back


async def test_swept_lease_fences_out_the_old_worker(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    await store.insert(values(a), max_unfinished=9)
    (old,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=1_000)
    assert await store.sweep(now=3_500) == (1, 0)
    (new,) = await store.claim("w2", "double", 1, now=3_600, lease_ms=LEASE)
    assert new.id == old.id and new.attempts == 2
    assert await store.succeed(old, result={}, now=3_700) is None
    assert not await store.save_state(old, {"x": 1})
    assert await store.succeed(new, result={"videos": []}, now=3_800) is not None


async def test_sweep_fails_after_attempts_spent(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    await store.insert(values(a, max_attempts=1), max_unfinished=9)
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=1_000)
    assert await store.sweep(now=5_000) == (0, 1)
    swept = await store.get(a, task.id)
    assert swept is not None and swept.status == "failed" and "giving up" in swept.status_msg


async def test_heartbeat_renews_and_reports_cancellation(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    await store.insert(values(a), max_unfinished=9)
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=1_000)
    assert await store.heartbeat("w1", [task.id], now=2_500, lease_ms=1_000) == {task.id: False}
    assert await store.sweep(now=3_200) == (0, 0)  # renewed until 3_500
    await store.request_cancel(a, task.id, now=3_300)
    assert await store.heartbeat("w1", [task.id], now=3_300, lease_ms=1_000) == {task.id: True}
    assert await store.cancel_requested("w1") == [task.id]


async def test_cancel_unclaimed_fails_at_once(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    task = await store.insert(values(a), max_unfinished=9)
    cancelled = await store.request_cancel(a, task.id, now=2_000)
    assert cancelled is not None and cancelled.status == "failed"
    assert await store.claim("w1", "double", 5, now=3_000, lease_ms=LEASE) == []
    assert await store.request_cancel(a + 1, task.id, now=2_000) is None


async def test_release_without_spending_an_attempt(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    await store.insert(values(a), max_unfinished=9)
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.release(task, run_after=9_000, error="busy", count_attempt=False)
    assert await store.claim("w1", "double", 1, now=8_000, lease_ms=LEASE) == []
    (again,) = await store.claim("w1", "double", 1, now=9_000, lease_ms=LEASE)
    assert again.attempts == 1 and again.last_error == "busy"
    assert await store.next_run_after(["double"]) is None


async def test_deliveries_one_at_a_time_per_task(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    await store.insert(values(a, callback_url="http://hook"), max_unfinished=9)
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    await store.start_processing(task, progress=0, now=2_100)
    await store.fail(task, message="x", now=2_200)
    deliveries = DeliveryStore(db)
    first = await deliveries.claim_due(now=3_000, limit=10, lease_ms=5_000)
    processing = dataclasses.replace(task, status=TaskStatus.PROCESSING)
    assert [d.payload for d in first] == [payload(processing)]
    assert await deliveries.claim_due(now=3_001, limit=10, lease_ms=5_000) == []
    await deliveries.delivered(first[0].id, now=3_100)
    second = await deliveries.claim_due(now=3_200, limit=10, lease_ms=5_000)
    assert len(second) == 1 and '"failed"' in second[0].payload
    await deliveries.retry_at(second[0].id, when=9_000, error="HTTP 500")
    assert await deliveries.claim_due(now=8_000, limit=10, lease_ms=5_000) == []
    assert len(await deliveries.claim_due(now=9_000, limit=10, lease_ms=5_000)) == 1


async def test_heartbeat_renews_only_the_runs_named(db: Database, store: TaskStore) -> None:
    """A claimed task its worker no longer runs (an orphan) is not kept alive by heartbeats."""
    a = await make_account(db)
    for _ in range(2):
        await store.insert(values(a), max_unfinished=9)
    running, orphan = await store.claim("w1", "double", 2, now=2_000, lease_ms=1_000)
    assert await store.heartbeat("w1", [running.id, "no-such-task"], now=2_500,
                                 lease_ms=1_000) == {running.id: False}
    assert await store.sweep(now=3_200) == (1, 0)  # the orphan, re-queued
    (again,) = await store.claim("w2", "double", 5, now=3_300, lease_ms=1_000)
    assert again.id == orphan.id


async def test_heartbeat_in_chunks(db: Database, store: TaskStore) -> None:
    a = await make_account(db)
    for _ in range(1_203):
        await store.insert(values(a), max_unfinished=2_000)
    claimed = await store.claim("w1", "double", 2_000, now=2_000, lease_ms=1_000)
    held = await store.heartbeat("w1", [t.id for t in claimed], now=2_500, lease_ms=1_000)
    assert len(held) == 1_203


async def test_clashing_task_id_is_told_apart_from_a_duplicate_external_id(
    db: Database, store: TaskStore
) -> None:
    a = await make_account(db)
    first = await store.insert(values(a, external_task_id="x"), max_unfinished=9)
    with pytest.raises(DuplicateTaskId):
        await store.insert(values(a, id=first.id), max_unfinished=9)
    with pytest.raises(DuplicateTaskId):
        await store.insert(values(a, id=first.id, external_task_id="y"), max_unfinished=9)
    with pytest.raises(DuplicateExternalId):
        await store.insert(values(a, external_task_id="x"), max_unfinished=9)


# SQLite's cache has no notifications; the test above covers it.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_on_postgresql_own_writes_show_before_their_notification_arrives(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The PostgreSQL poll cache learns of changes by NOTIFY, which reaches this process some
    time after the COMMIT returns; no write of the store may have to wait for it."""
    store = TaskStore(db, callback_payload=payload)
    assert store._pg is not None
    held_back: list[str] = []  # notifications that have not reached this process yet
    monkeypatch.setattr(store._pg, "_on_notify", held_back.append)
    a = await make_account(db)

    async def status(task_id: str) -> tuple[str, int]:
        await store.get(a, task_id)  # a second read is served from the cache
        task = await store.get(a, task_id)
        assert task is not None
        return task.status, task.progress

    first = await store.insert(values(a, max_attempts=3), max_unfinished=9)
    second = await store.insert(values(a), max_unfinished=9)
    third = await store.insert(values(a, max_attempts=1), max_unfinished=9)
    fourth = await store.insert(values(a), max_unfinished=9)
    fifth = await store.insert(values(a), max_unfinished=9)
    await until_listening(store)
    for created in (first, second, third, fourth, fifth):
        assert await status(created.id) == ("submitted", 0)

    await store.request_cancel(a, second.id, now=1_500)
    assert await status(second.id) == ("failed", 0)
    claimed = {t.id: t for t in await store.claim("w1", "double", 9, now=2_000, lease_ms=LEASE)}
    task = claimed[first.id]
    assert await store.start_processing(task, progress=0, now=2_100)
    assert await status(task.id) == ("processing", 0)
    assert await store.save_progress(task, progress=40, now=2_200)
    assert await status(task.id) == ("processing", 40)
    assert await store.release(task, run_after=2_300, error="transient")
    assert await status(task.id) == ("submitted", 0)
    assert await store.start_processing(claimed[third.id], progress=5, now=2_100)
    assert await status(third.id) == ("processing", 5)
    await store.fail(claimed[fourth.id], message="upstream refused", now=2_200)
    assert await status(fourth.id) == ("failed", 0)
    await store.request_cancel(a, fifth.id, now=2_200)  # running: its worker is asked
    assert await store.release(claimed[fifth.id], run_after=2_200, error=None)
    assert await status(fifth.id) == ("submitted", 0)
    assert await store.fail_unclaimed_cancelled(now=2_300) == 1
    assert await status(fifth.id) == ("failed", 0)
    # Both leases expire: the first task is queued again, the third is out of attempts.
    (again,) = await store.claim("w2", "double", 1, now=2_400, lease_ms=LEASE)
    assert await store.start_processing(again, progress=1, now=2_500)
    assert await status(again.id) == ("processing", 1)
    assert await store.sweep(now=2_500 + LEASE + 1) == (1, 1)
    assert await status(first.id) == ("submitted", 0)
    assert await status(third.id) == ("failed", 5)
    (last,) = await store.claim("w3", "double", 1, now=40_000, lease_ms=LEASE)
    await store.succeed(last, result={"videos": []}, now=40_100)
    assert await status(last.id) == ("succeed", 100)
    assert held_back  # the notifications were sent, and none was needed
    await store.close()


async def until_listening(store: TaskStore) -> None:
    assert store._pg is not None
    await store.get(0, "none")  # the first read starts the pool and the listener
    for _ in range(250):
        if store._pg._listening:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the poll cache never started listening")
