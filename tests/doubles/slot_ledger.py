"""SlotLedgerDouble: the relay's deployment-wide slot ledger, kept in memory for tests.

Not a product feature. Like `openkling.store.channel_slots.ChannelSlots` it counts the tasks
whose durable state says `slot = <channel>`, but it reads the states from the test's task
records instead of the database; one instance shared by two providers stands for two workers
on one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class SlotLedgerDouble:
    def __init__(self) -> None:
        #: task id -> the record whose `state` the provider persists (see the kling conftest)
        self.records: dict[str, Any] = {}
        self.refused = 0
        self._lock = asyncio.Lock()

    def add(self, record: Any) -> Any:
        self.records[record.task_id] = record
        return record

    def holders(self, name: str) -> set[str]:
        return {task_id for task_id, record in self.records.items()
                if record.state.get("slot") == name}

    async def reserve(self, name: str, task_id: str, limit: int,
                      mark: Callable[[], Awaitable[None]]) -> bool:
        async with self._lock:
            if len(self.holders(name) - {task_id}) >= limit:
                self.refused += 1
                return False
            await mark()
            return True
