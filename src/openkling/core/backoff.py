"""Exponential backoff with jitter: the one formula every server-side retry uses.

Task retries, callback deliveries, upstream submits, busy upstream channels and the relay's
status polls all wait `base * factor**(attempt-1)`, capped, with jitter so that a herd of
clients that failed together does not come back together.
"""

from __future__ import annotations

import random


def backoff_seconds(
    attempt: int, *, base: float, cap: float, factor: float = 2.0, jitter: float = 0.2
) -> float:
    """Seconds to wait before retry number `attempt` (1 = the first retry).

    The exponential delay is capped first, then shortened by a random share of up to
    `jitter` (0..1), so the result is never above `cap` and never below `(1-jitter)` of it.
    """
    if attempt < 1 or base < 0 or cap < 0 or factor < 1 or not 0 <= jitter <= 1:
        raise ValueError("attempt >= 1, base, cap >= 0, factor >= 1 and 0 <= jitter <= 1")
    exponent = attempt - 1
    # factor**exponent overflows a float long before attempt counts get that large
    delay = cap if exponent > 1000 else min(cap, base * factor**exponent)
    return float(delay * (1.0 - random.uniform(0.0, jitter)))
