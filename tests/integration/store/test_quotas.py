"""Quota packs on SQLite and PostgreSQL: hold at create, spend or refund exactly once."""

from __future__ import annotations

import asyncio

import pytest

from openkling.store.accounts import AccountStore
from openkling.store.database import Database
from openkling.store.quotas import QuotaExhausted, QuotaStore

NOW = 1_700_000_000_000


@pytest.fixture
async def account_id(db: Database) -> int:
    account, _ = await AccountStore(db).get_or_create("acme", now=NOW, callback_secret_enc=b"x")
    return account.id


async def test_an_account_without_packs_is_unmetered(db: Database, account_id: int) -> None:
    quotas = QuotaStore(db)
    assert await quotas.hold_now(account_id=account_id, task_id="1", units=5, now=NOW) is None
    assert await quotas.charge("1") is None


async def test_hold_spend_and_refund_exactly_once(db: Database, account_id: int) -> None:
    quotas = QuotaStore(db)
    pack = await quotas.add_pack(account_id, name="trial", units=3.0, now=NOW)
    assert await quotas.hold_now(account_id=account_id, task_id="1", units=1.0, now=NOW) == pack.id
    assert await quotas.hold_now(account_id=account_id, task_id="2", units=1.5, now=NOW) == pack.id
    assert (await quotas.packs(account_id))[0].remaining_units == 0.5
    # Task 1 succeeds: spent, and a second settlement (either way) changes nothing.
    assert await quotas.settle_now(task_id="1", succeeded=True, now=NOW)
    assert not await quotas.settle_now(task_id="1", succeeded=False, now=NOW)
    # Task 2 fails: refunded once, even when its end is recorded twice.
    assert await quotas.settle_now(task_id="2", succeeded=False, now=NOW)
    assert not await quotas.settle_now(task_id="2", succeeded=False, now=NOW)
    assert (await quotas.packs(account_id))[0].remaining_units == 2.0
    assert (await quotas.charge("1")).state == "spent"  # type: ignore[union-attr]
    assert (await quotas.charge("2")).state == "refunded"  # type: ignore[union-attr]


async def test_over_quota_is_refused_and_holds_nothing(db: Database, account_id: int) -> None:
    quotas = QuotaStore(db)
    await quotas.add_pack(account_id, name="small", units=1.0, now=NOW)
    assert await quotas.hold_now(account_id=account_id, task_id="1", units=1.0, now=NOW)
    with pytest.raises(QuotaExhausted, match=r"needs 0\.2 units"):
        await quotas.hold_now(account_id=account_id, task_id="2", units=0.2, now=NOW)
    assert await quotas.charge("2") is None


async def test_expired_and_future_packs_do_not_pay(db: Database, account_id: int) -> None:
    quotas = QuotaStore(db)
    await quotas.add_pack(account_id, name="old", units=9, now=NOW - 10, expires_at=NOW)
    await quotas.add_pack(account_id, name="future", units=9, now=NOW, effective_at=NOW + 1)
    with pytest.raises(QuotaExhausted):
        await quotas.hold_now(account_id=account_id, task_id="1", units=1, now=NOW)
    # One millisecond later the future pack is in effect.
    assert await quotas.hold_now(account_id=account_id, task_id="1", units=1, now=NOW + 1)


async def test_the_pack_expiring_first_pays_first(db: Database, account_id: int) -> None:
    quotas = QuotaStore(db)
    await quotas.add_pack(account_id, name="forever", units=5, now=NOW)
    soon = await quotas.add_pack(account_id, name="soon", units=5, now=NOW, expires_at=NOW + 99)
    assert await quotas.hold_now(account_id=account_id, task_id="1", units=1, now=NOW) == soon.id


async def test_racing_holds_never_overdraw(db: Database, account_id: int) -> None:
    quotas = QuotaStore(db)
    await quotas.add_pack(account_id, name="race", units=3.0, now=NOW)

    async def one(i: int) -> bool:
        try:
            await quotas.hold_now(account_id=account_id, task_id=str(i), units=1.0, now=NOW)
        except QuotaExhausted:
            return False
        return True

    results = await asyncio.gather(*(one(i) for i in range(8)))
    assert sum(results) == 3
    assert (await quotas.packs(account_id))[0].remaining_units == 0.0
