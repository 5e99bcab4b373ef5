"""Upstream callbacks, recorded by the API process and consumed by whichever worker tracks the task.

The API and the workers are separate processes when scaled out, so a callback cannot be handed
to the provider directly. It becomes a row here; every worker reads rows newer than the last
id it saw (an indexed range scan) and re-queries those tasks upstream at once. Polling stays
the source of truth, so a lost or pruned event only costs latency.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from openkling.clock import now_ms
from openkling.store.database import Database
from openkling.store.tables import relay_events, tasks

#: Events older than this are deleted; a worker that missed one falls back on polling.
RETENTION_MS = 3600 * 1000
_PRUNE_EVERY_S = 600.0
_MAX_PAYLOAD = 64 * 1024


async def callback_token(conn: AsyncConnection, task_id: str) -> str | None:
    """The per-task token the relay saved before registering its callback URL."""
    row = (await conn.execute(
        select(tasks.c.provider_state).where(tasks.c.id == task_id)
    )).first()
    if row is None or not isinstance(row.provider_state, dict):
        return None
    token = row.provider_state.get("callback_token")
    return token if isinstance(token, str) and token else None


def token_matches(expected: str | None, given: str) -> bool:
    """Constant-time comparison; a task without a token matches nothing."""
    if not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


async def record(conn: AsyncConnection, task_id: str, payload: Any) -> None:
    text = json.dumps(payload, separators=(",", ":"))[:_MAX_PAYLOAD]
    await conn.execute(insert(relay_events).values(task_id=task_id, payload=text,
                                                   created_at=now_ms()))


class RelayEventReader:
    """What a worker's tracker reads (`EventSource` of the kling provider)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pruned = 0.0

    async def latest_id(self) -> int:
        async with self.db.read() as conn:
            value = (await conn.execute(select(func.max(relay_events.c.id)))).scalar()
        return int(value or 0)

    async def after(self, event_id: int) -> list[tuple[int, str]]:
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(relay_events.c.id, relay_events.c.task_id)
                .where(relay_events.c.id > event_id)
                .order_by(relay_events.c.id)
                .limit(1000)
            )).all()
        if time.monotonic() - self._pruned > _PRUNE_EVERY_S:
            self._pruned = time.monotonic()
            await self.prune()
        return [(int(r.id), str(r.task_id)) for r in rows]

    async def prune(self) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                delete(relay_events).where(relay_events.c.created_at < now_ms() - RETENTION_MS)
            )
