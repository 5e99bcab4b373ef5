"""`keep_trying`, the one "keep trying while a dependency is down" loop (the worker's outcome
writes, start-up migration, every background loop): both sides of each boundary. It resumes
once the dependency is back, logs the outage once with its traceback and once when it
recovers; it gives up at once on a failure that is not an outage, or when the process stops.
No real waiting: the pause is recorded."""

from __future__ import annotations

import logging

import pytest

from openkling.core.backoff import keep_trying
from openkling.observability.failures import RepeatingFailure

log = logging.getLogger("test.keep_trying")


class Down(Exception):
    """The dependency cannot be reached (the test's outage)."""


def is_down(exc: BaseException) -> bool:
    return isinstance(exc, Down)


class Flaky:
    """An action that fails with the given exceptions, in order, then returns "done"."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


class Pauses:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def test_it_resumes_once_the_dependency_is_back_and_logs_the_outage_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    action, pauses = Flaky(Down("refused"), Down("refused"), Down("refused")), Pauses()
    seen: list[BaseException] = []
    with caplog.at_level(logging.INFO, logger=log.name):
        result = await keep_trying(action, down=is_down, failure=RepeatingFailure(log, "saving"),
                                   on_failure=seen.append, pause=pauses, base=1.0, cap=3.0)
    assert result == "done" and action.calls == 4
    assert len(seen) == 3 and all(isinstance(exc, Down) for exc in seen)
    # A jittered exponential backoff (jitter at most halves a delay), capped.
    assert len(pauses.seconds) == 3
    for seconds, exact in zip(pauses.seconds, (1.0, 2.0, 3.0), strict=True):
        assert exact / 2 <= seconds <= exact
    records = [r for r in caplog.records if r.name == log.name]
    assert [r.levelno for r in records] == [logging.ERROR, logging.WARNING]
    assert records[0].exc_info is not None and "saving failed" in records[0].getMessage()
    assert "saving recovered after 3 failure(s)" in records[1].getMessage()


async def test_a_first_success_neither_waits_nor_logs(caplog: pytest.LogCaptureFixture) -> None:
    pauses = Pauses()
    with caplog.at_level(logging.INFO, logger=log.name):
        assert await keep_trying(Flaky(), down=is_down, failure=RepeatingFailure(log, "x"),
                                 pause=pauses) == "done"
    assert pauses.seconds == []
    assert [r for r in caplog.records if r.name == log.name] == []


async def test_a_failure_that_is_no_outage_is_raised_at_once() -> None:
    action, pauses = Flaky(ValueError("a bug")), Pauses()
    failure = RepeatingFailure(log, "x")
    with pytest.raises(ValueError, match="a bug"):
        await keep_trying(action, down=is_down, failure=failure, pause=pauses)
    assert action.calls == 1 and pauses.seconds == [] and not failure.failing


async def test_a_bug_after_an_outage_is_raised_too() -> None:
    action, pauses = Flaky(Down("refused"), KeyError("bug")), Pauses()
    with pytest.raises(KeyError):
        await keep_trying(action, down=is_down, failure=RepeatingFailure(log, "x"), pause=pauses)
    assert action.calls == 2 and len(pauses.seconds) == 1


async def test_it_gives_up_when_the_process_stops() -> None:
    stopping = False

    async def pause(seconds: float) -> None:
        nonlocal stopping
        stopping = True  # the process is told to stop while it waits

    action = Flaky(Down("1"), Down("2"), Down("3"))
    with pytest.raises(Down, match="2"):
        await keep_trying(action, down=is_down, failure=RepeatingFailure(log, "x"),
                          stopping=lambda: stopping, pause=pause)
    assert action.calls == 2


async def test_an_outage_while_running_is_waited_for_until_stopping_is_asked() -> None:
    """The other side: not stopping, the same outage is waited for, not raised."""
    action, pauses = Flaky(Down("1"), Down("2")), Pauses()
    assert await keep_trying(action, down=is_down, failure=RepeatingFailure(log, "x"),
                             stopping=lambda: False, pause=pauses) == "done"
    assert action.calls == 3
