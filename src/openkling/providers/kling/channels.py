"""Choosing an upstream channel: priority first, then weight, only where a slot is free.

Slot counts here are this worker's view (an upstream task holds its slot until it finishes).
On a shared database the provider also reserves each slot for the whole deployment (see
`provider.py` and `store/channel_slots.py`); the upstream's own 1303 answer stays the final
word, and the back-off below makes every worker respect it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable

from openkling.core.backoff import backoff_seconds
from openkling.core.ratelimit import TokenBucket
from openkling.providers.kling.relay_options import ChannelOptions
from openkling.providers.kling.upstream import UpstreamClient

#: A busy channel's back-off stops doubling after this many steps (x64 the base).
_BUSY_MAX_DOUBLINGS = 6


class Channel:
    """One upstream account as this worker sees it: client, used slots, back-off state."""

    def __init__(self, options: ChannelOptions, client: UpstreamClient) -> None:
        self.options = options
        self.name = options.name
        self.client = client
        self.inflight = 0
        self.busy_until = 0.0
        self._busy_streak = 0
        #: At most `max_queries_per_second` status queries, with a burst of one second's worth.
        rate = options.max_queries_per_second
        self.pacer = TokenBucket(rate, max(1.0, rate))

    @property
    def free_slots(self) -> int:
        return self.options.max_concurrency - self.inflight

    def available(self, now: float) -> bool:
        return self.free_slots > 0 and now >= self.busy_until

    def mark_busy(self, base: float, retry_after: float | None) -> float:
        """Back off exponentially (from about `base` seconds, with jitter) after a busy answer
        (HTTP 429, 1302 or 1303); the upstream's Retry-After, when longer, wins."""
        self._busy_streak += 1
        delay = backoff_seconds(self._busy_streak, base=base,
                                cap=base * 2.0**_BUSY_MAX_DOUBLINGS)
        if retry_after is not None:
            delay = max(delay, retry_after)
        self.busy_until = time.monotonic() + delay
        return delay

    def mark_ok(self) -> None:
        self._busy_streak = 0

    def acquire(self) -> None:
        self.inflight += 1

    def release(self) -> None:
        self.inflight = max(0, self.inflight - 1)


class ChannelPool:
    def __init__(self, channels: Iterable[Channel]) -> None:
        self.channels = {c.name: c for c in channels}

    def get(self, name: str) -> Channel | None:
        return self.channels.get(name)

    def serving(self, model_name: str, family: str) -> list[Channel]:
        return [c for c in self.channels.values() if c.options.serves(model_name, family)]

    def pick(self, model_name: str, family: str, exclude: Iterable[str] = ()) -> Channel | None:
        """The best channel with a free slot: highest priority, then a weighted draw."""
        now = time.monotonic()
        skip = set(exclude)
        ready = [c for c in self.serving(model_name, family)
                 if c.name not in skip and c.available(now)]
        if not ready:
            return None
        top = max(c.options.priority for c in ready)
        tier = [c for c in ready if c.options.priority == top]
        return random.choices(tier, weights=[c.options.weight for c in tier])[0]

    def wait_hint(self, model_name: str, family: str, exclude: Iterable[str] = ()) -> float:
        """Seconds until a channel may be free again (for re-queueing a waiting task)."""
        now = time.monotonic()
        skip = set(exclude)
        waits = [
            # a full channel frees a slot when one of its tasks ends: unknown, so guess 1 s
            max(c.busy_until - now, 0.0 if c.free_slots > 0 else 1.0)
            for c in self.serving(model_name, family) if c.name not in skip
        ]
        return min(waits) if waits else 1.0
