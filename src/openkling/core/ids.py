"""Task ids shaped like Kling's: 19 decimal digits, time-ordered, unique across processes.

Snowflake layout: milliseconds since the Unix epoch in the high bits, then 10 bits that
identify this process (random at start-up), then a 12-bit per-millisecond sequence.
"""

from __future__ import annotations

import secrets
import threading
import time

from openkling.clock import now_ms

_NODE = secrets.randbits(10)
_lock = threading.Lock()
_last_ms = 0
_sequence = 0


def new_task_id() -> str:
    global _last_ms, _sequence
    with _lock:
        ms = now_ms()
        if ms <= _last_ms:
            ms = _last_ms
            _sequence = (_sequence + 1) & 0xFFF
            if _sequence == 0:  # 4096 ids in one millisecond: borrow the next one
                ms += 1
                time.sleep(0.001)
        else:
            _sequence = 0
        _last_ms = ms
        return str((ms << 22) | (_NODE << 12) | _sequence)

