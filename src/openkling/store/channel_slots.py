"""Upstream slots per relay channel, counted over the task rows for the whole deployment.

A relay task holds a slot of channel C while it is unfinished and its provider state says
`slot = C` (the provider sets it just before submitting and clears it once the upstream task
has ended or a submit was definitely refused). A worker that dies keeps its tasks unfinished,
so their slots stay counted, which is right: their upstream tasks still run. Reserving takes a
PostgreSQL advisory lock per channel around "count, then mark", so two workers cannot both
take the last slot.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select, text

from openkling.store.database import Database
from openkling.store.tables import tasks
from openkling.vocabulary import UNFINISHED

#: Advisory-lock keys of this module: (namespace, crc32 of the channel name).
_LOCK_NAMESPACE = 0x6F6B  # "ok"
_LOCK = text("SELECT pg_advisory_xact_lock(:namespace, :key)")


class ChannelSlots:
    """`SlotLedger` on PostgreSQL (SQLite needs none: one process is the deployment)."""

    def __init__(self, db: Database) -> None:
        if db.is_sqlite:
            raise ValueError("channel slots are counted across processes on PostgreSQL only")
        self.db = db
        # One reservation per channel at a time in this process: waiters for the advisory
        # lock would otherwise each hold a pooled connection while the holder needs one more.
        self._local: dict[str, asyncio.Lock] = {}

    async def reserve(self, name: str, task_id: str, limit: int,
                      mark: Callable[[], Awaitable[None]]) -> bool:
        lock = self._local.setdefault(name, asyncio.Lock())
        key = zlib.crc32(name.encode()) - 2**31  # an int4, as pg_advisory_xact_lock wants
        async with lock, self.db.engine.connect() as conn, conn.begin():
            await conn.execute(_LOCK, {"namespace": _LOCK_NAMESPACE, "key": key})
            held = await conn.scalar(
                select(func.count()).select_from(tasks).where(
                    tasks.c.status.in_(UNFINISHED),
                    tasks.c.provider_state["slot"].as_string() == name,
                    tasks.c.id != task_id,
                )
            )
            if (held or 0) >= limit:
                return False
            await mark()  # commits on the worker's own connection while the lock is held
            return True
