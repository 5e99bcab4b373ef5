"""Per-account request rate limit: a token bucket per account in this process's memory.

With several API processes each enforces its own bucket, so the effective limit is the
configured rate times the number of processes (see docs/deployment.md).
"""

from __future__ import annotations

import math
import time

from openkling.core.errors import Code, KlingError
from openkling.core.ratelimit import TokenBucket

_MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int) -> None:
        self.rate = rate_per_second
        self.burst = float(burst)
        self._buckets: dict[int, TokenBucket] = {}

    def hit(self, account_id: int) -> None:
        now = time.monotonic()
        bucket = self._buckets.get(account_id)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._buckets.clear()
            bucket = self._buckets[account_id] = TokenBucket(self.rate, self.burst, now=now)
        wait = bucket.take(now=now)
        if wait > 0:
            raise KlingError(
                Code.RATE_LIMITED,
                f"too many requests: at most {self.rate:g} per second for this account",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
