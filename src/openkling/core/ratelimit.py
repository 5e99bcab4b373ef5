"""A token bucket: the one rate-limiting mechanism on the server side.

Used for per-account request limits (`api.limits`) and for pacing queries to an upstream
channel (`providers.kling.channels`). Not thread-safe: one bucket lives on one event loop.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """Holds up to `capacity` tokens and gains `rate` per second."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, *, now: float | None = None) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = time.monotonic() if now is None else now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, amount: float = 1.0, *, now: float | None = None) -> float:
        """Take `amount` tokens and return 0.0, or take nothing and return the seconds until
        they would be there."""
        self.refill(time.monotonic() if now is None else now)
        if self.tokens >= amount:
            self.tokens -= amount
            return 0.0
        return (amount - self.tokens) / self.rate

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until `amount` tokens can be taken, then take them."""
        if amount > self.capacity:
            raise ValueError(f"{amount:g} tokens can never fit a bucket of {self.capacity:g}")
        while (wait := self.take(amount)) > 0:  # noqa: ASYNC110 - waiting on time itself
            await asyncio.sleep(wait)
