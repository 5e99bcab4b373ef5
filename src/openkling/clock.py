"""Wall-clock time in integer milliseconds, the unit of every stored and wire timestamp."""

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
