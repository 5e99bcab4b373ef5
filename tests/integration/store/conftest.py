"""The migrated database each store test works on (SQLite and PostgreSQL, see database_url)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from openkling.store import migrate
from openkling.store.database import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await migrate.upgrade(database)
    yield database
    await database.dispose()
