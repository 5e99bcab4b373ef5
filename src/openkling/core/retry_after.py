"""Reading an HTTP `Retry-After` header, in either of the two forms RFC 9110 allows."""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait, from delay-seconds (`"7"`) or an HTTP-date; None when absent or
    unreadable. A date in the past means "now" (0.0)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        seconds = float(value)  # not RFC, but servers do send "1.5"
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may parse naive
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
