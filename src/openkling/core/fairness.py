"""Per-key concurrency limits: what one account may hold of a resource every account shares.

A remote end that never answers must cost its own account, not the others: each account
gets at most `per_key` holders at once, and the rest of its calls wait for its own slots
(each caller bounds the wait with its own time limit).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedSlots:
    """At most `per_key` holders at once for each key; keys nobody holds or awaits are
    forgotten, so an account seen once costs no memory afterwards."""

    def __init__(self, per_key: int) -> None:
        if per_key < 1:
            raise ValueError("per_key must be at least 1")
        self.per_key = per_key
        self._gates: dict[Hashable, asyncio.Semaphore] = {}
        self._users: dict[Hashable, int] = {}  # holding or waiting
        self._holding: dict[Hashable, int] = {}

    def holding(self, key: Hashable) -> int:
        """Holders of `key` now (not counting those waiting)."""
        return self._holding.get(key, 0)

    def waiting(self, key: Hashable) -> int:
        return self._users.get(key, 0) - self.holding(key)

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        gate = self._gates.setdefault(key, asyncio.Semaphore(self.per_key))
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with gate:
                self._holding[key] = self._holding.get(key, 0) + 1
                try:
                    yield
                finally:
                    self._holding[key] -= 1
                    if not self._holding[key]:
                        del self._holding[key]
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._gates[key]
