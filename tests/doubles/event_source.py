"""DyingEventSourceDouble: an upstream-event source (`core.provider.EventSource`) whose read
raises something no loop turn may swallow, to show what happens when a relay loop dies."""

from __future__ import annotations


class LoopKiller(BaseException):
    """Not an `Exception`: it escapes a supervised turn's guard, as a bug outside it would."""


class DyingEventSourceDouble:
    async def latest_id(self) -> int:
        return 0

    async def after(self, event_id: int) -> list[tuple[int, str]]:
        raise LoopKiller("the event source broke beyond repair")
