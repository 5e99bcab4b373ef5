"""Logging a failure that repeats (a database outage seen by every poll, every loop turn)
without flooding the log: the first occurrence with its traceback, then one count per
interval, then one "recovered" line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RepeatingFailure:
    """One per place that can fail again and again (a loop, the request handler).

    `failed()` on every failure, `succeeded()` on every success; both are cheap when there is
    nothing to say, so they can sit on hot paths.
    """

    def __init__(self, logger: logging.Logger, what: str, *, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.what = what
        self.interval = interval
        self.clock = clock
        self.failing = False
        self.total = 0
        self._since = 0.0
        self._unreported = 0
        self._last_report = 0.0
        self._last_error = ""

    def failed(self, exc: BaseException) -> None:
        now = self.clock()
        self._last_error = f"{type(exc).__name__}: {exc}"[:500]
        if not self.failing:
            self.failing = True
            self.total = 1
            self._since = self._last_report = now
            self._unreported = 0
            self.logger.error("%s failed: %s", self.what, self._last_error, exc_info=exc)
            return
        self.total += 1
        self._unreported += 1
        if now - self._last_report >= self.interval:
            self.logger.error(
                "%s still failing: %d more failure(s) in the last %.0fs (%d since %.0fs ago); "
                "last: %s", self.what, self._unreported, now - self._last_report, self.total,
                now - self._since, self._last_error,
            )
            self._unreported = 0
            self._last_report = now

    def succeeded(self) -> None:
        if not self.failing:
            return
        self.failing = False
        self.logger.warning("%s recovered after %d failure(s) over %.1fs", self.what,
                            self.total, self.clock() - self._since)

    @property
    def last_error(self) -> str:
        return self._last_error
