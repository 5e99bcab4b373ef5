"""Exponential backoff with jitter, shared by task retries and callback deliveries."""

import random


def backoff_seconds(attempt: int, *, base: float, cap: float, jitter: float = 0.2) -> float:
    """attempt 1 -> ~base, 2 -> ~2*base, ... never above cap; +-jitter spreads a herd."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return float(max(0.0, delay * (1 + random.uniform(-jitter, jitter))))
