"""The queue's edges on SQLite in tmp_path (fast, in-process; the store's SQLite/PostgreSQL
suite is tests/integration/store/test_tasks.py). Expected values come from the queue's
contract in docs/architecture.md: a claim leases a task for `lease_ms`, a sweep requeues only
expired leases, a cancel hits exactly the task named, run_after is respected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from openkling.core.ids import new_task_id
from openkling.store import migrate
from openkling.store.accounts import AccountStore
from openkling.store.database import Database
from openkling.store.deliveries import DeliveryStore
from openkling.store.records import TaskRecord
from openkling.store.tasks import TaskStore, TooManyUnfinished

LEASE = 1_000


def payload(task: TaskRecord) -> str:
    return f"{task.id}:{task.status}"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}")
    await migrate.upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
async def store(db: Database) -> AsyncIterator[TaskStore]:
    task_store = TaskStore(db, callback_payload=payload)
    yield task_store
    await task_store.close()


async def account(db: Database, name: str = "acme") -> int:
    record, _ = await AccountStore(db).get_or_create(name, now=1, callback_secret_enc=b"x")
    return record.id


def values(account_id: int, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": new_task_id(), "account_id": account_id, "kind": "videos/text2video",
        "external_task_id": None, "model_name": "kling-v1", "provider": "double",
        "request": {"prompt": "x"}, "callback_url": None, "status": "submitted",
        "status_msg": "", "progress": 0, "created_at": 1_000, "updated_at": 1_000,
        "attempts": 0, "max_attempts": 3, "run_after": 1_000, "cancel_requested": False,
    }
    base.update(over)
    return base


async def status(store: TaskStore, account_id: int, task_id: str) -> str:
    task = await store.get(account_id, task_id)
    assert task is not None
    return str(task.status)


# ----- leases and sweeps --------------------------------------------------------------------


async def test_a_claim_leases_for_lease_ms_from_now(db: Database, store: TaskStore) -> None:
    a = await account(db)
    await store.insert(values(a), max_unfinished=9)
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert task.lease_expires_at == 3_000 and task.attempts == 1


async def test_a_sweep_while_the_lease_is_valid_does_not_requeue(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    await store.insert(values(a), max_unfinished=9)
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.sweep(now=2_001) == (0, 0)
    assert await store.sweep(now=3_000) == (0, 0)  # the last valid millisecond
    held = await store.get(a, task.id)
    assert held is not None and held.lease_owner == "w1" and held.lease_expires_at == 3_000
    assert await store.claim("w2", "double", 1, now=3_000, lease_ms=LEASE) == []
    assert await store.succeed(task, result={"videos": []}, now=3_000) is not None


async def test_a_sweep_after_expiry_requeues_at_once(db: Database, store: TaskStore) -> None:
    a = await account(db)
    await store.insert(values(a), max_unfinished=9)
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.sweep(now=3_001) == (1, 0)
    swept = await store.get(a, task.id)
    assert swept is not None and swept.status == "submitted"
    assert swept.lease_owner is None and swept.lease_expires_at is None
    assert swept.run_after == 3_001
    assert swept.last_error == "lease expired (worker stopped or stalled)"
    assert await store.next_run_after(["double"]) == 3_001


async def test_a_heartbeat_extends_the_lease_from_its_own_time(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    await store.insert(values(a), max_unfinished=9)
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.heartbeat("w1", [task.id], now=2_900, lease_ms=LEASE) == {task.id: False}
    assert await store.sweep(now=3_900) == (0, 0)
    assert await store.sweep(now=3_901) == (1, 0)


async def test_a_heartbeat_renews_only_its_own_unfinished_tasks(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    for _ in range(2):
        await store.insert(values(a), max_unfinished=9)
    mine, done = await store.claim("w1", "double", 2, now=2_000, lease_ms=LEASE)
    assert await store.fail(done, message="x", now=2_100) is not None
    assert await store.heartbeat("w2", [mine.id], now=2_500, lease_ms=LEASE) == {}
    assert await store.heartbeat("w1", [mine.id, done.id], now=2_500, lease_ms=LEASE) == {
        mine.id: False}


async def test_a_sweep_fails_an_expired_cancelled_task_with_the_cancel_message(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    task = await store.insert(values(a), max_unfinished=9)
    await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    flagged = await store.request_cancel(a, task.id, now=2_100)
    assert flagged is not None and flagged.cancel_requested and flagged.status == "submitted"
    assert await store.sweep(now=2_500) == (0, 0)  # lease still valid: the worker stops it
    assert await store.sweep(now=3_001) == (0, 1)
    swept = await store.get(a, task.id)
    assert swept is not None and swept.status == "failed"
    assert swept.status_msg == "cancelled by the user" and swept.updated_at == 3_001


async def test_a_sweep_gives_up_only_when_attempts_are_spent(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    task = await store.insert(values(a, max_attempts=2), max_unfinished=9)
    await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.sweep(now=3_001) == (1, 0)  # attempt 1 of 2: requeued
    await store.claim("w1", "double", 1, now=3_001, lease_ms=LEASE)
    assert await store.sweep(now=4_002) == (0, 1)  # attempt 2 of 2: failed
    swept = await store.get(a, task.id)
    assert swept is not None and swept.status == "failed"
    assert swept.status_msg == (
        "the worker stopped responding (attempt 2 of 2); giving up")


# ----- cancellation -------------------------------------------------------------------------


async def test_fail_unclaimed_cancelled_fails_only_cancelled_unclaimed_tasks(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    target = await store.insert(values(a, callback_url="http://hook"), max_unfinished=9)
    running = await store.insert(values(a), max_unfinished=9)
    queued = await store.insert(values(a, run_after=50_000), max_unfinished=9)
    claimed = await store.claim("w1", "double", 2, now=2_000, lease_ms=LEASE)
    first, second = sorted(claimed, key=lambda t: t.id != target.id)
    assert first.id == target.id and second.id == running.id
    await store.request_cancel(a, target.id, now=2_100)
    await store.request_cancel(a, running.id, now=2_100)
    # The worker hands the cancelled task back unfinished (e.g. it shut down meanwhile).
    assert await store.release(first, run_after=2_200, error=None)
    assert await store.fail_unclaimed_cancelled(now=2_300) == 1
    failed = await store.get(a, target.id)
    assert failed is not None and failed.status == "failed"
    assert failed.status_msg == "cancelled by the user" and failed.updated_at == 2_300
    assert await status(store, a, running.id) == "submitted"  # its worker still holds it
    assert await status(store, a, queued.id) == "submitted"
    assert [d.payload for d in await DeliveryStore(db).for_task(target.id)] == [
        f"{target.id}:failed"]
    assert await store.fail_unclaimed_cancelled(now=2_400) == 0


async def test_cancel_by_external_id_hits_that_task_only(db: Database, store: TaskStore) -> None:
    a, b = await account(db, "a"), await account(db, "b")
    one = await store.insert(values(a, external_task_id="ext-1"), max_unfinished=9)
    two = await store.insert(values(a, external_task_id="ext-2"), max_unfinished=9)
    other = await store.insert(values(b, external_task_id="ext-2"), max_unfinished=9)
    cancelled = await store.request_cancel(a, "ext-2", now=2_000)
    assert cancelled is not None and cancelled.id == two.id and cancelled.status == "failed"
    assert await status(store, a, one.id) == "submitted"
    assert await status(store, b, other.id) == "submitted"
    assert await store.request_cancel(a, "ext-3", now=2_000) is None


async def test_cancel_by_task_id_wins_over_an_equal_external_id(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    named = await store.insert(values(a), max_unfinished=9)
    lookalike = await store.insert(values(a, external_task_id=named.id), max_unfinished=9)
    cancelled = await store.request_cancel(a, named.id, now=2_000)
    assert cancelled is not None and cancelled.id == named.id
    assert await status(store, a, lookalike.id) == "submitted"
    # A second cancel of a finished task returns it unchanged and touches nothing else.
    again = await store.request_cancel(a, named.id, now=3_000)
    assert again is not None and again.id == named.id and again.updated_at == 2_000
    assert await status(store, a, lookalike.id) == "submitted"


async def test_cancel_of_a_running_task_only_flags_it(db: Database, store: TaskStore) -> None:
    a = await account(db)
    task = await store.insert(values(a), max_unfinished=9)
    await store.insert(values(a), max_unfinished=9)
    (claimed, _) = await store.claim("w1", "double", 2, now=2_000, lease_ms=LEASE)
    assert claimed.id == task.id
    flagged = await store.request_cancel(a, task.id, now=2_100)
    assert flagged is not None and flagged.cancel_requested and flagged.lease_owner == "w1"
    assert await store.cancel_requested("w1") == [task.id]
    assert await store.cancel_requested("w2") == []


async def test_a_poll_by_external_id_finds_that_task_of_that_account_only(
    db: Database, store: TaskStore
) -> None:
    a, b = await account(db, "a"), await account(db, "b")
    mine = await store.insert(values(a, external_task_id="ext-1"), max_unfinished=9)
    await store.insert(values(a, external_task_id="ext-2"), max_unfinished=9)
    theirs = await store.insert(values(b, external_task_id="ext-3"), max_unfinished=9)
    found = await store.get(a, "ext-1")
    assert found is not None and found.id == mine.id
    by_external = await store.get_by_external(a, "ext-1")
    assert by_external is not None and by_external.id == mine.id
    assert await store.get(a, "ext-3") is None  # another account's external id
    assert await store.get(a, theirs.id) is None  # another account's task id
    assert await store.get(a, "ext-9") is None
    assert await store.get_by_external(a, mine.id) is None  # a task id is not an external id


# ----- caps, retries, finishing -------------------------------------------------------------


async def test_a_cap_of_one_admits_one_unfinished_task(db: Database, store: TaskStore) -> None:
    a, b = await account(db, "a"), await account(db, "b")
    first = await store.insert(values(a), max_unfinished=1)
    with pytest.raises(TooManyUnfinished) as refused:
        await store.insert(values(a), max_unfinished=1)
    assert refused.value.limit == 1
    await store.insert(values(b), max_unfinished=1)  # another account's cap is its own
    await store.request_cancel(a, first.id, now=2_000)  # finished: no longer counted
    await store.insert(values(a), max_unfinished=1)


async def test_a_delayed_retry_is_claimed_on_time_not_before(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    await store.insert(values(a), max_unfinished=9)
    await store.insert(values(a, provider="other", run_after=100), max_unfinished=9)
    (task,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.next_run_after(["double"]) is None  # leased tasks do not wake anyone
    assert await store.release(task, run_after=5_000, error="transient")
    assert await store.next_run_after(["double"]) == 5_000
    assert await store.next_run_after(["double", "other"]) == 100
    assert await store.claim("w1", "double", 1, now=4_999, lease_ms=LEASE) == []
    (again,) = await store.claim("w1", "double", 1, now=5_000, lease_ms=LEASE)
    assert again.id == task.id and again.attempts == 2 and again.last_error == "transient"


async def test_claims_come_oldest_run_after_first(db: Database, store: TaskStore) -> None:
    a = await account(db)
    late = await store.insert(values(a, run_after=1_500), max_unfinished=9)
    early = await store.insert(values(a, run_after=1_200), max_unfinished=9)
    assert await store.claim("w1", "double", 0, now=2_000, lease_ms=LEASE) == []
    claimed = await store.claim("w1", "double", 5, now=2_000, lease_ms=LEASE)
    assert [t.id for t in claimed] == [early.id, late.id]


async def test_a_cancel_flagged_task_is_not_claimed(db: Database, store: TaskStore) -> None:
    a = await account(db)
    task = await store.insert(values(a), max_unfinished=9)
    (claimed,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    await store.request_cancel(a, task.id, now=2_100)
    assert await store.release(claimed, run_after=2_200, error=None)
    assert await store.claim("w1", "double", 1, now=3_000, lease_ms=LEASE) == []


async def test_finishing_writes_result_message_and_callbacks(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    ok = await store.insert(values(a, callback_url="http://hook"), max_unfinished=9)
    bad = await store.insert(values(a), max_unfinished=9)
    first, second = await store.claim("w1", "double", 2, now=2_000, lease_ms=LEASE)
    assert first.id == ok.id
    assert await store.start_processing(first, progress=5, now=2_050)
    assert await store.save_state(first, {"upstream": "t-1"})
    done = await store.succeed(first, result={"videos": [{"id": "v"}]}, now=2_100)
    assert done is not None and done.status == "succeed" and done.progress == 100
    assert done.result == {"videos": [{"id": "v"}]} and done.provider_state == {"upstream": "t-1"}
    assert done.lease_owner is None and done.lease_expires_at is None
    failed = await store.fail(second, message="bad prompt", now=2_200)
    assert failed is not None and failed.status == "failed" and failed.status_msg == "bad prompt"
    assert failed.progress == 0 and failed.result is None and failed.updated_at == 2_200
    assert [d.payload for d in await DeliveryStore(db).for_task(ok.id)] == [
        f"{ok.id}:processing", f"{ok.id}:succeed"]
    assert await DeliveryStore(db).for_task(bad.id) == []  # no callback_url, no delivery


async def test_progress_is_saved_only_while_processing(db: Database, store: TaskStore) -> None:
    a = await account(db)
    task = await store.insert(values(a), max_unfinished=9)
    (claimed,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert not await store.save_progress(claimed, progress=30, now=2_050)  # still submitted
    assert await store.start_processing(claimed, progress=10, now=2_100)
    assert await store.save_progress(claimed, progress=30, now=2_200)
    saved = await store.get(a, task.id)
    assert saved is not None and saved.progress == 30 and saved.updated_at == 2_200
    assert saved.status == "processing"


async def test_a_retried_run_goes_back_to_submitted_and_announces_processing_again(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    task = await store.insert(values(a, callback_url="http://hook"), max_unfinished=9)
    (first,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.start_processing(first, progress=10, now=2_100)
    assert await store.release(first, run_after=2_200, error="transient")
    assert await status(store, a, task.id) == "submitted"  # never processing without an owner
    (second,) = await store.claim("w1", "double", 1, now=2_200, lease_ms=LEASE)
    assert await store.start_processing(second, progress=0, now=2_300)
    assert [d.payload for d in await DeliveryStore(db).for_task(task.id)] == [
        f"{task.id}:processing", f"{task.id}:processing"]


async def test_release_counts_the_attempt_unless_told_not_to(
    db: Database, store: TaskStore
) -> None:
    a = await account(db)
    await store.insert(values(a), max_unfinished=9)
    (first,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert await store.release(first, run_after=2_000, error=None)
    (second,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert second.attempts == 2
    assert not await store.release(first, run_after=2_000, error=None)  # fenced out
    assert await store.release(second, run_after=2_000, error=None, count_attempt=False)
    (third,) = await store.claim("w1", "double", 1, now=2_000, lease_ms=LEASE)
    assert third.attempts == 2


# ----- call shape ---------------------------------------------------------------------------

_NAMED_ONLY: list[tuple[str, tuple[Any, ...]]] = [
    ("insert", ({}, 1)),
    ("list_page", (1, 0, 10)),
    ("request_cancel", (1, "id", 2_000)),
    ("claim", ("w1", "double", 1, 2_000, LEASE)),
    ("heartbeat", ("w1", [], 2_000, LEASE)),
    ("start_processing", (None, 0, 2_000)),
    ("save_progress", (None, 0, 2_000)),
    ("_save_progress", (None, None, 0, 2_000)),
    ("succeed", (None, {}, 2_000)),
    ("fail", (None, "x", 2_000)),
    ("release", (None, 2_000, None)),
    ("sweep", (2_000,)),
    ("fail_unclaimed_cancelled", (2_000,)),
    ("_finish", (None, "id", None, "failed", "", None, 2_000)),
]


@pytest.mark.parametrize(("method", "args"), _NAMED_ONLY, ids=[m for m, _ in _NAMED_ONLY])
def test_times_leases_and_limits_are_passed_by_name(
        tmp_path: Path, method: str, args: tuple[Any, ...]) -> None:
    """`now`, `lease_ms`, `run_after` and the caps are all ints: by name, they cannot be
    swapped unnoticed at a call site."""
    store = TaskStore(Database(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"),
                      callback_payload=payload)
    try:
        with pytest.raises(TypeError):
            getattr(store, method)(*args)
        with pytest.raises(TypeError):
            TaskStore(store.db, payload)  # type: ignore[misc]
    finally:
        asyncio.run(store.close())
