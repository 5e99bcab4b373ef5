"""The operator queries behind /admin/v1/quotas and /admin/v1/metrics, on SQLite and
PostgreSQL: packs per account, tasks created since a moment, deliveries by state."""

from __future__ import annotations

from sqlalchemy import insert

from openkling.core.ids import new_task_id
from openkling.store.accounts import AccountStore
from openkling.store.admin import AdminStore, DeliveryCounts
from openkling.store.database import Database
from openkling.store.quotas import QuotaStore
from openkling.store.tables import callback_deliveries, tasks

NOW = 1_700_000_000_000
MINUTE = 60_000


async def account(db: Database, name: str) -> int:
    record, _ = await AccountStore(db).get_or_create(name, now=NOW, callback_secret_enc=b"x")
    return record.id


async def add_task(db: Database, account_id: int, created_at: int,
                   deliveries: tuple[tuple[str, int | None], ...] = ()) -> str:
    task_id = new_task_id()
    async with db.write() as conn:
        await conn.execute(insert(tasks).values(
            id=task_id, account_id=account_id, kind="videos/text2video", model_name="kling-v1",
            provider="double", request={"prompt": "x"}, status="succeed", status_msg="",
            progress=100, result=None, created_at=created_at, updated_at=created_at,
            attempts=1, max_attempts=3, run_after=created_at, cancel_requested=False,
        ))
        for state, finished_at in deliveries:
            await conn.execute(insert(callback_deliveries).values(
                task_id=task_id, account_id=account_id, url="http://example.com/",
                payload="{}", state=state, attempts=1, next_attempt_at=created_at,
                created_at=created_at, finished_at=finished_at,
            ))
    return task_id


async def test_quotas_lists_every_account_with_its_packs_in_order(db: Database) -> None:
    plain, metered = await account(db, "plain"), await account(db, "metered")
    quotas = QuotaStore(db)
    first = await quotas.add_pack(metered, name="a", units=5, now=NOW)
    second = await quotas.add_pack(metered, name="b", units=2, now=NOW + 1, expires_at=NOW + 9)
    listed = await AdminStore(db).quotas()
    assert [(q.account_id, q.account) for q in listed] == [(plain, "plain"), (metered, "metered")]
    assert listed[0].packs == []
    assert listed[1].packs == [first, second]


async def test_created_since_counts_each_window_in_one_pass(db: Database) -> None:
    owner = await account(db, "acme")
    for age_minutes in (0, 0.5, 1, 30, 90):
        await add_task(db, owner, NOW - int(age_minutes * MINUTE))
    windows = [NOW - MINUTE, NOW - 60 * MINUTE, NOW - 24 * 60 * MINUTE]
    # At or after the moment: the task exactly one minute old is in the last minute.
    assert await AdminStore(db).created_since(windows) == [3, 4, 5]
    assert await AdminStore(db).created_since([NOW + 1]) == [0]


async def test_delivery_counts_by_state_and_recent_failures(db: Database) -> None:
    owner = await account(db, "acme")
    assert await AdminStore(db).delivery_counts(failed_since=NOW) == DeliveryCounts(0, 0, 0, 0)
    await add_task(db, owner, NOW, (("pending", None), ("delivered", NOW),
                                    ("failed", NOW - 2 * 60 * MINUTE)))
    await add_task(db, owner, NOW, (("failed", NOW - MINUTE), ("failed", NOW)))
    counts = await AdminStore(db).delivery_counts(failed_since=NOW - 60 * MINUTE)
    assert counts == DeliveryCounts(pending=1, delivered=1, failed=3, failed_since=2)
