"""The callback event log between the API process and the workers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from openkling.store import migrate
from openkling.store.database import Database
from openkling.store.relay_events import (
    RETENTION_MS,
    RelayEventReader,
    record,
    relay_events,
    token_matches,
)


async def test_events_are_read_in_order_after_an_id_and_pruned(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}")
    try:
        await migrate.upgrade(db)
        reader = RelayEventReader(db)
        assert await reader.latest_id() == 0
        async with db.write() as conn:
            await record(conn, "111", {"task_status": "processing"})
            await record(conn, "222", {"task_status": "succeed"})
        start = await reader.latest_id()
        assert [task for _, task in await reader.after(0)] == ["111", "222"]
        assert await reader.after(start) == []
        async with db.write() as conn:
            await record(conn, "333", {})
        [(event_id, task)] = await reader.after(start)
        assert task == "333" and event_id > start

        async with db.write() as conn:  # age the first two beyond retention
            await conn.execute(update(relay_events).where(relay_events.c.task_id != "333")
                               .values(created_at=1))
        await reader.prune()
        assert [task for _, task in await reader.after(0)] == ["333"]
        assert RETENTION_MS > 0
    finally:
        await db.dispose()


def test_token_comparison() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abc", "abd")
    assert not token_matches(None, "")
    assert not token_matches("", "")
