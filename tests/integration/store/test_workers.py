"""Worker heartbeats on SQLite and PostgreSQL: who counts as alive, and old rows go."""

from __future__ import annotations

from sqlalchemy import select

from openkling.store.database import Database
from openkling.store.tables import worker_heartbeats
from openkling.store.workers import FORGET_AFTER_MS, liveness, record_heartbeat

NOW = 10 * FORGET_AFTER_MS  # far enough from zero for every offset below


async def test_nobody_ever(db: Database) -> None:
    found = await liveness(db, now=NOW, stale_ms=60_000)
    assert (found.alive, found.last_heartbeat_at, found.age_seconds(NOW)) == (0, None, None)


async def test_alive_is_a_heartbeat_within_the_stale_limit_both_sides(db: Database) -> None:
    await record_heartbeat(db, "at-the-limit", now=NOW - 60_000)
    await record_heartbeat(db, "just-past", now=NOW - 60_001)
    found = await liveness(db, now=NOW, stale_ms=60_000)
    assert found.alive == 1
    assert found.last_heartbeat_at == NOW - 60_000
    assert found.age_seconds(NOW) == 60.0


async def test_a_heartbeat_moves_the_same_row(db: Database) -> None:
    await record_heartbeat(db, "w", now=NOW - 90_000)
    assert (await liveness(db, now=NOW, stale_ms=60_000)).alive == 0
    await record_heartbeat(db, "w", now=NOW)
    found = await liveness(db, now=NOW, stale_ms=60_000)
    assert (found.alive, found.last_heartbeat_at) == (1, NOW)
    async with db.read() as conn:
        rows = (await conn.execute(select(worker_heartbeats))).all()
    assert [(r.worker_id, r.started_at, r.heartbeat_at) for r in rows] == [
        ("w", NOW - 90_000, NOW)]


async def test_a_starting_worker_forgets_rows_silent_for_a_week(db: Database) -> None:
    await record_heartbeat(db, "ancient", now=NOW - FORGET_AFTER_MS - 1)
    await record_heartbeat(db, "a-week", now=NOW - FORGET_AFTER_MS)
    await record_heartbeat(db, "new", now=NOW)
    async with db.read() as conn:
        ids = {r.worker_id for r in await conn.execute(select(worker_heartbeats))}
    assert ids == {"a-week", "new"}
