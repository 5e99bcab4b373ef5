"""Worker liveness: each worker process records a heartbeat, idle or not.

Task leases say which workers run tasks; only this table says that an idle worker is alive,
which is what "can a created task run?" needs when the API runs without a worker
(`--no-worker`). The time is the worker's clock, as for leases: hosts' clocks must agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update

from openkling.store.database import Database
from openkling.store.tables import worker_heartbeats

#: Rows of workers silent this long are deleted (by any live worker's heartbeat).
FORGET_AFTER_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class WorkerLiveness:
    alive: int
    """Workers whose last heartbeat is at most the stale limit old."""
    last_heartbeat_at: int | None
    """The newest heartbeat of any worker (ms), None when none is recorded."""

    def age_seconds(self, now_ms: int) -> float | None:
        if self.last_heartbeat_at is None:
            return None
        return max(0.0, (now_ms - self.last_heartbeat_at) / 1000)


async def record_heartbeat(db: Database, worker_id: str, *, now: int) -> None:
    """Say that `worker_id` is alive now (one process writes its own row: no race)."""
    async with db.write() as conn:
        updated = await conn.execute(
            update(worker_heartbeats).where(worker_heartbeats.c.worker_id == worker_id)
            .values(heartbeat_at=now))
        if not updated.rowcount:
            await conn.execute(insert(worker_heartbeats).values(
                worker_id=worker_id, started_at=now, heartbeat_at=now))
            await conn.execute(delete(worker_heartbeats).where(
                worker_heartbeats.c.heartbeat_at < now - FORGET_AFTER_MS))


async def liveness(db: Database, *, now: int, stale_ms: int) -> WorkerLiveness:
    """How many workers heartbeated within `stale_ms`, and the newest heartbeat."""
    query = select(
        func.count().filter(worker_heartbeats.c.heartbeat_at >= now - stale_ms),
        func.max(worker_heartbeats.c.heartbeat_at),
    )
    async with db.read() as conn:
        alive, newest = (await conn.execute(query)).one()
    return WorkerLiveness(alive=int(alive or 0),
                          last_heartbeat_at=None if newest is None else int(newest))
