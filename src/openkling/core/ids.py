"""Task ids shaped like Kling's: 19 decimal digits, roughly time-ordered, never guessable."""

import secrets

from openkling.core.clock import now_ms

_RANDOM_BITS = 20


def new_task_id() -> str:
    """Milliseconds in the high bits (sortable), 20 random bits below (collision-safe per ms)."""
    return str((now_ms() << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS))


def new_video_id() -> str:
    return new_task_id()
