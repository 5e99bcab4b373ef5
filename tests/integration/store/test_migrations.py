"""The migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from openkling.store import migrate
from openkling.store.database import Database
from openkling.store.tables import metadata


async def test_migrated_schema_matches_the_tables(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
        assert diff == []
    finally:
        await db.dispose()


async def test_tasks_from_before_families_become_text2video_family(database_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(
                lambda sync: command.upgrade(migrate.alembic_config(sync), "0002"))
            await conn.execute(text(
                "INSERT INTO accounts (name, created_at, disabled, callback_secret_enc) "
                "VALUES ('a', 1, false, :secret)"), {"secret": b"x"})
            await conn.execute(text(
                "INSERT INTO tasks (id, account_id, kind, model_name, provider, request, "
                "status, status_msg, progress, created_at, updated_at, attempts, "
                "max_attempts, run_after, cancel_requested) VALUES ('1', 1, 'text2video', "
                "'kling-v1', 'p', '{}', 'succeed', '', 100, 1, 1, 1, 3, 1, false)"))
        await migrate.upgrade(db)
        async with db.engine.connect() as conn:
            kind = await conn.scalar(text("SELECT kind FROM tasks WHERE id = '1'"))
        assert kind == "videos/text2video"
    finally:
        await db.dispose()
