"""The callback outbox: rows written with each status change, delivered (and retried) later."""

from __future__ import annotations

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import aliased

from openkling.store.database import Database
from openkling.store.records import DeliveryRecord
from openkling.store.tables import callback_deliveries as cd


class DeliveryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim_due(self, *, now: int, limit: int, lease_ms: int) -> list[DeliveryRecord]:
        """Due deliveries, oldest first, one per task at a time so a task's events stay ordered.

        Claiming pushes `next_attempt_at` past the lease, so another worker skips the row
        until this attempt has had its chance.
        """
        earlier = aliased(cd)
        due = (
            select(cd.c.id)
            .where(
                cd.c.state == "pending",
                cd.c.next_attempt_at <= now,
                ~exists().where(
                    and_(
                        earlier.c.task_id == cd.c.task_id,
                        earlier.c.state == "pending",
                        earlier.c.id < cd.c.id,
                    )
                ),
            )
            .order_by(cd.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self.db.write() as conn:
            rows = await conn.execute(
                update(cd)
                .where(cd.c.id.in_(due.scalar_subquery()))
                .values(next_attempt_at=now + lease_ms, attempts=cd.c.attempts + 1)
                .returning(cd)
            )
            records = [_record(r) for r in rows]
        records.sort(key=lambda d: d.id)
        return records

    async def delivered(self, delivery_id: int, *, now: int) -> None:
        await self._set(delivery_id, state="delivered", finished_at=now, last_error=None)

    async def retry_at(self, delivery_id: int, *, when: int, error: str) -> None:
        await self._set(delivery_id, next_attempt_at=when, last_error=error)

    async def give_up(self, delivery_id: int, *, now: int, error: str) -> None:
        await self._set(delivery_id, state="failed", finished_at=now, last_error=error)

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
