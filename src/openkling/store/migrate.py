"""Alembic migrations, run in code: at start-up, by `openkling migrate`, and checked by /readyz."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from openkling.store.database import Database

_SCRIPTS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 7_220_401_117  # any constant: serialises concurrent migrators on PostgreSQL


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def upgrade(db: Database) -> None:
    """Bring the schema to head; safe when several processes start at once."""
    async with db.write() as conn:
        if not db.is_sqlite:
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})"))
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))


async def current_revisions(db: Database) -> frozenset[str]:
    async with db.read() as conn:
        heads = await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_heads()
        )
    return frozenset(heads)


async def is_current(db: Database) -> bool:
    return await current_revisions(db) == head_revisions()
