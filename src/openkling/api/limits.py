"""Per-account request rate limit: a token bucket in this process's memory.

With several API processes each enforces its own bucket, so the effective limit is the
configured rate times the number of processes (see docs/deployment.md).
"""

from __future__ import annotations

import math
import time

from openkling.core.errors import Code, KlingError

_MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int) -> None:
        self.rate = rate_per_second
        self.burst = float(burst)
        self._buckets: dict[int, tuple[float, float]] = {}  # account -> (tokens, last time)

    def hit(self, account_id: int) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(account_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            wait = (1.0 - tokens) / self.rate
            self._buckets[account_id] = (tokens, now)
            raise KlingError(
                Code.RATE_LIMITED,
                f"too many requests: at most {self.rate:g} per second for this account",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if len(self._buckets) >= _MAX_BUCKETS and account_id not in self._buckets:
            self._buckets.clear()
        self._buckets[account_id] = (tokens - 1.0, now)
