"""Tenant-scoped reads the Kling API has no route for: a filtered task list across families,
one task with its stored request, and a task's callback history. Every query filters by the
caller's account, so another account's task is answered exactly like a missing one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from openkling.store.database import Database
from openkling.store.records import TaskRecord
from openkling.store.tables import callback_deliveries, tasks


@dataclass(frozen=True, slots=True)
class DeliverySummary:
    id: int
    url: str
    task_status: str | None
    state: str
    attempts: int
    created_at: int
    finished_at: int | None
    last_error: str | None


class ConsoleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list_tasks(
        self, account_id: int, *, statuses: tuple[str, ...] | None, offset: int, limit: int
    ) -> list[TaskRecord]:
        """Newest first, like the Kling list route, optionally only some statuses."""
        query = select(tasks).where(tasks.c.account_id == account_id)
        if statuses is not None:
            query = query.where(tasks.c.status.in_(statuses))
        query = query.order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
        async with self.db.read() as conn:
            rows = await conn.execute(query.offset(offset).limit(limit))
            return [TaskRecord.from_row(r) for r in rows]

    async def get_task(self, account_id: int, task_id: str) -> TaskRecord | None:
        """By task id, whatever its family."""
        async with self.db.read() as conn:
            row = (await conn.execute(
                select(tasks).where(tasks.c.id == task_id, tasks.c.account_id == account_id)
            )).first()
        return TaskRecord.from_row(row) if row is not None else None

    async def deliveries_of(self, account_id: int, task_id: str) -> list[DeliverySummary]:
        """A task's callback history, oldest first."""
        cd = callback_deliveries
        query = (
            select(cd.c.id, cd.c.url, cd.c.payload, cd.c.state, cd.c.attempts, cd.c.created_at,
                   cd.c.finished_at, cd.c.last_error)
            .where(cd.c.task_id == task_id, cd.c.account_id == account_id)
            .order_by(cd.c.id)
        )
        async with self.db.read() as conn:
            rows = list(await conn.execute(query))
        return [
            DeliverySummary(
                id=row.id, url=row.url, task_status=_status_of(row.payload), state=row.state,
                attempts=row.attempts, created_at=row.created_at, finished_at=row.finished_at,
                last_error=row.last_error,
            )
            for row in rows
        ]


def _status_of(payload: str) -> str | None:
    try:
        body: Any = json.loads(payload)
    except ValueError:
        return None
    status = body.get("task_status") if isinstance(body, dict) else None
    return status if isinstance(status, str) else None
