"""The callback outbox: rows written with each status change, delivered (and retried) later."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import and_, case, exists, func, select, update
from sqlalchemy.orm import aliased

from openkling.store.database import Database
from openkling.store.records import DeliveryRecord
from openkling.store.tables import callback_deliveries as cd
from openkling.vocabulary import DeliveryState


class DeliveryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim_due(self, *, now: int, limit: int, lease_ms: int,
                        per_account: int | None = None,
                        room: Mapping[int, int] | None = None) -> list[DeliveryRecord]:
        """Due deliveries, one per task at a time so a task's events stay ordered, and at
        most `per_account` of one account (`room[account]` for the accounts named there:
        what the caller can still start for them); accounts take turns, oldest first within
        each (so one account's backlog never fills the batch).

        Claiming pushes `next_attempt_at` past the lease, so another worker skips the row
        until this attempt has had its chance.
        """
        earlier = aliased(cd)
        due = (cd.c.state == DeliveryState.PENDING, cd.c.next_attempt_at <= now)
        turns = (
            select(cd.c.id, func.row_number().over(partition_by=cd.c.account_id,
                                                   order_by=cd.c.id).label("turn"))
            .where(
                *due,
                ~exists().where(
                    and_(
                        earlier.c.task_id == cd.c.task_id,
                        earlier.c.state == DeliveryState.PENDING,
                        earlier.c.id < cd.c.id,
                    )
                ),
            )
            .subquery("turns")
        )
        cap = limit if per_account is None else per_account
        allowed = case(dict(room), value=cd.c.account_id, else_=cap) if room else cap
        # Only the outbox rows are locked (PostgreSQL locks no rows of a window).
        pick = (
            select(cd.c.id)
            .select_from(cd.join(turns, turns.c.id == cd.c.id))
            .where(*due, turns.c.turn <= allowed)
            .order_by(turns.c.turn, cd.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=cd)
        )
        async with self.db.write() as conn:
            rows = await conn.execute(
                update(cd)
                .where(cd.c.id.in_(pick.scalar_subquery()))
                .values(next_attempt_at=now + lease_ms, attempts=cd.c.attempts + 1)
                .returning(cd)
            )
            records = [_record(r) for r in rows]
        records.sort(key=lambda d: d.id)
        return records

    async def delivered(self, delivery_id: int, *, now: int) -> None:
        await self._set(delivery_id, state=DeliveryState.DELIVERED, finished_at=now,
                        last_error=None)

    async def retry_at(self, delivery_id: int, *, when: int, error: str) -> None:
        await self._set(delivery_id, next_attempt_at=when, last_error=error)

    async def give_up(self, delivery_id: int, *, now: int, error: str) -> None:
        await self._set(delivery_id, state=DeliveryState.FAILED, finished_at=now, last_error=error)

    async def for_task(self, task_id: str) -> list[DeliveryRecord]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(cd).where(cd.c.task_id == task_id).order_by(cd.c.id))
            return [_record(r) for r in rows]

    async def _set(self, delivery_id: int, **values: object) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(cd).where(cd.c.id == delivery_id).values(**values))


def _record(row: object) -> DeliveryRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return DeliveryRecord(**{name: m[name] for name in DeliveryRecord.__slots__})
