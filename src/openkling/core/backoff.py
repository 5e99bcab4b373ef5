"""Exponential backoff with jitter: the one formula every server-side retry uses, and the one
loop that keeps trying while a dependency is down.

Task retries, callback deliveries, upstream submits, busy upstream channels and the relay's
status polls all wait `base * factor**(attempt-1)`, capped, with jitter so that a herd of
clients that failed together does not come back together. `keep_trying` is how a worker
writes a task's outcome through a database outage, how a process started during one waits
for it, and how every background loop survives its failing turns (`core/loops.py`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from openkling.observability.failures import RepeatingFailure

T = TypeVar("T")


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


def _never() -> bool:
    return False


async def keep_trying(
    action: Callable[[], Awaitable[T]], *,
    down: Callable[[BaseException], bool],
    failure: RepeatingFailure,
    stopping: Callable[[], bool] = _never,
    on_failure: Callable[[BaseException], object] | None = None,
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
    base: float = 0.5, cap: float = 5.0,
) -> T:
    """Run `action` until it returns. While it fails because a dependency is down (`down(exc)`,
    e.g. `store.faults.is_database_unavailable`), the outage is logged the repeating way
    (`failure`: the first failure with its traceback, then a count a minute, then "recovered")
    and `action` is tried again after a jittered backoff (`pause`). Any other failure, and
    one that comes while `stopping()`, is raised: a bug must not be retried forever, and a
    process that stops must not wait for the dependency."""
    failures = 0
    while True:
        try:
            result = await action()
        except Exception as exc:
            if not down(exc) or stopping():
                raise
            failures += 1
            failure.failed(exc)
            if on_failure is not None:
                on_failure(exc)
            await pause(backoff_seconds(failures, base=base, cap=cap, jitter=0.5))
            continue
        failure.succeeded()
        return result
