"""Logging a failure that repeats (a database outage seen by every poll, every loop turn)
without flooding the log: the first occurrence with its traceback, then one count per
interval, then one "recovered" line. `RepeatingFailure` serves one loop; `FailureSummary`
serves many requests, per cause."""

from __future__ import annotations

import logging
import re
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


_DIGITS = re.compile(r"\d+")
#: An absolute file-system path (two segments or more) that is not part of a URL.
_PATH = re.compile(r"(?<![\w:/.~-])/(?:[\w.~+-]+/)+[\w.~+-]*")


def without_paths(text: str) -> str:
    """`text` with server file-system paths replaced by `<path>`: what a client may see of a
    failure (an OSError's message names the file it could not write)."""
    return _PATH.sub("<path>", text)


def cause_of(exc: BaseException) -> str:
    """What makes two failures "the same" across requests: the exception types along the
    cause chain, and the innermost one's errno or message with numbers folded (one SQL
    statement's parameters, one file's name, must not make a new cause)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    inner = chain[-1]
    if isinstance(inner, OSError) and inner.errno is not None:
        detail = f"errno {inner.errno}"
    else:
        detail = _DIGITS.sub("#", without_paths(str(inner).split("\n", 1)[0]))[:120]
    return " <- ".join(type(link).__name__ for link in chain) + f": {detail}"


_OTHER = "(other causes)"


class _Cause:
    __slots__ = ("first", "last_error", "last_report", "last_seen", "total", "unreported")

    def __init__(self, now: float, error: str) -> None:
        self.first = self.last_seen = self.last_report = now
        self.unreported = 0
        self.total = 1
        self.last_error = error


class FailureSummary:
    """Failures of many independent requests, summarised per cause.

    Unlike `RepeatingFailure` (one loop: a success ends the streak), requests that fail for
    one cause (a full disk under every create) are interleaved with requests that succeed (the
    polls): a success must not reset the summary. So each cause logs its first occurrence
    with the traceback, then at most one count per `interval`, and "no longer seen" once it
    has not recurred for an interval; only then does it log a traceback again.
    `succeeded()` only gives due summaries their chance, and is cheap when none is due.
    """

    def __init__(self, logger: logging.Logger, what: str, *, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_causes: int = 100) -> None:
        self.logger = logger
        self.what = what
        self.interval = interval
        self.clock = clock
        self.max_causes = max_causes
        self._causes: dict[str, _Cause] = {}
        self._next_due = float("inf")
        self._last_error = ""

    def failed(self, exc: BaseException) -> None:
        now = self.clock()
        cause = cause_of(exc)
        self._last_error = f"{type(exc).__name__}: {exc}"[:500]
        self._flush(now, skip=cause)
        state = self._causes.get(cause)
        if state is None:
            if len(self._causes) >= self.max_causes:  # a storm of distinct causes: count only
                other = self._causes.get(_OTHER)
                if other is None:
                    other = self._causes[_OTHER] = _Cause(now, self._last_error)
                    other.total = 0
                other.total += 1
                other.unreported += 1
                other.last_seen = now
            else:
                self._causes[cause] = _Cause(now, self._last_error)
                self.logger.error("%s failed: %s (repeats of this cause are summarised every "
                                  "%.0fs)", self.what, self._last_error, self.interval,
                                  exc_info=exc)
            self._next_due = min(self._next_due, now + self.interval)
            return
        state.total += 1
        state.unreported += 1
        state.last_seen = now
        state.last_error = self._last_error
        if now - state.last_report >= self.interval:
            self._report(cause, state, now)

    def succeeded(self) -> None:
        if self._causes and self.clock() >= self._next_due:
            self._flush(self.clock())

    @property
    def failing(self) -> bool:
        return bool(self._causes)

    @property
    def last_error(self) -> str:
        return self._last_error

    def _report(self, cause: str, state: _Cause, now: float) -> None:
        self.logger.error(
            "%s still failing (%s): %d more failure(s) in the last %.0fs (%d since %.0fs ago); "
            "last: %s", self.what, cause, state.unreported, now - state.last_report,
            state.total, now - state.first, state.last_error,
        )
        state.unreported = 0
        state.last_report = now

    def _flush(self, now: float, skip: str = "") -> None:
        """Summaries that are due, and causes not seen for an interval (forgotten)."""
        if now < self._next_due:
            return
        next_due = float("inf")
        for cause, state in list(self._causes.items()):
            if cause == skip:
                next_due = min(next_due, now + self.interval)
                continue
            if state.unreported and now - state.last_report >= self.interval:
                self._report(cause, state, now)
            if not state.unreported and now - state.last_seen >= self.interval:
                self.logger.warning("%s: %s not seen for %.0fs, after %d failure(s) over "
                                    "%.1fs", self.what, cause, now - state.last_seen,
                                    state.total, state.last_seen - state.first)
                del self._causes[cause]
                continue
            next_due = min(next_due, state.last_report + self.interval,
                           state.last_seen + self.interval)
        self._next_due = next_due
