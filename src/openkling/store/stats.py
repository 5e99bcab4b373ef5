"""Task figures for `/metrics`: counts by family, model and status, and the queue's age.

One grouped count over the tasks table per scrape; scrapes are rare (every 15-60 s), so no
cache."""

from __future__ import annotations

from sqlalchemy import func, select

from openkling.observability.metrics import TaskStats
from openkling.store.database import Database
from openkling.store.tables import tasks
from openkling.vocabulary import TaskStatus

_COUNTS = select(tasks.c.kind, tasks.c.model_name, tasks.c.status, func.count()).group_by(
    tasks.c.kind, tasks.c.model_name, tasks.c.status
)
_OLDEST_WAITING = select(func.min(tasks.c.created_at)).where(tasks.c.status == TaskStatus.SUBMITTED)


async def task_stats(db: Database, *, now_ms: int) -> TaskStats:
    async with db.read() as conn:
        counts = [(str(k), str(m), str(s), int(n)) for k, m, s, n in await conn.execute(_COUNTS)]
        oldest = (await conn.execute(_OLDEST_WAITING)).scalar()
    depth = sum(n for _, _, status, n in counts if status == TaskStatus.SUBMITTED)
    age = max(0.0, (now_ms - int(oldest)) / 1000) if oldest is not None else 0.0
    return TaskStats(counts=counts, queue_depth=depth, oldest_submitted_age_seconds=age)
