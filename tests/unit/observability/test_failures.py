"""A repeating failure: first with traceback, then a count per interval, then "recovered"."""

from __future__ import annotations

import logging

import pytest

from openkling.observability.failures import (
    FailureSummary,
    RepeatingFailure,
    cause_of,
    without_paths,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_thousand_failures_write_one_traceback_and_one_summary_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    failure = RepeatingFailure(logging.getLogger("t"), "claiming tasks", interval=60,
                               clock=clock)
    with caplog.at_level(logging.INFO, logger="t"):
        for _ in range(1000):  # 0.125 s apart: 125 s of failures
            failure.failed(ConnectionRefusedError("connection refused"))
            clock.now += 0.125
        failure.succeeded()
        failure.succeeded()  # nothing more to say
    records = caplog.records
    assert [r.exc_info is not None for r in records] == [True, False, False, False]
    assert records[0].getMessage() == (
        "claiming tasks failed: ConnectionRefusedError: connection refused")
    for summary in records[1:3]:  # at 60 s and 120 s: the 480 failures since the last line
        assert "still failing: 480 more failure(s) in the last 60s" in summary.getMessage()
    assert records[3].levelno == logging.WARNING
    assert records[3].getMessage() == "claiming tasks recovered after 1000 failure(s) over 125.0s"


def test_a_new_streak_after_recovery_starts_with_a_traceback_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failure = RepeatingFailure(logging.getLogger("t"), "sweeping", clock=Clock())
    with caplog.at_level(logging.INFO, logger="t"):
        failure.failed(OSError("a"))
        failure.succeeded()
        failure.failed(OSError("b"))
    assert [r.exc_info is not None for r in caplog.records] == [True, False, True]
    assert failure.failing and failure.last_error == "OSError: b"


def test_success_without_failure_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    failure = RepeatingFailure(logging.getLogger("t"), "polling")
    with caplog.at_level(logging.DEBUG, logger="t"):
        failure.succeeded()
    assert caplog.records == []


# ----- FailureSummary: many requests, per cause --------------------------------------------

DISK_FULL = "(sqlite3.OperationalError) database or disk is full"


def disk_full(task: int) -> Exception:
    """What a create on a full SQLite disk raises: its SQL parameters differ per request."""
    return RuntimeError(f"{DISK_FULL} [SQL: INSERT INTO tasks] [parameters: ('{task}',)]")


def requests_summary(clock: Clock) -> FailureSummary:
    return FailureSummary(logging.getLogger("t"), "handling requests", interval=60, clock=clock)


def test_successes_between_failures_do_not_reset_the_summary(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    failures = requests_summary(clock)
    with caplog.at_level(logging.INFO, logger="t"):
        for task in range(15):  # 15 failing creates, a successful poll after each
            failures.failed(disk_full(task))
            failures.succeeded()
            clock.now += 1
        assert [r.exc_info is not None for r in caplog.records] == [True]
        clock.now = 1000 + 60
        failures.succeeded()  # a poll after an interval: the summary is due
    first, summary = caplog.records
    assert first.getMessage().startswith(f"handling requests failed: RuntimeError: {DISK_FULL}")
    assert "14 more failure(s) in the last 60s (15 since 60s ago)" in summary.getMessage()
    assert summary.exc_info is None


def test_each_cause_has_its_own_traceback_and_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    failures = requests_summary(clock)
    with caplog.at_level(logging.INFO, logger="t"):
        for task in range(3):
            failures.failed(disk_full(task))
            failures.failed(OSError(28, "No space left on device", f"/srv/files/{task}.mp4"))
            failures.failed(ValueError(f"bad value {task}"))
    assert [r.exc_info is not None for r in caplog.records] == [True, True, True]


def test_a_cause_not_seen_for_an_interval_is_forgotten_and_logs_a_traceback_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    failures = requests_summary(clock)
    with caplog.at_level(logging.INFO, logger="t"):
        failures.failed(disk_full(1))
        clock.now += 59
        failures.succeeded()  # not yet an interval: nothing to say
        assert len(caplog.records) == 1 and failures.failing
        clock.now += 1
        failures.succeeded()
        assert not failures.failing
        failures.failed(disk_full(2))
    tracebacks = [r.exc_info is not None for r in caplog.records]
    assert tracebacks == [True, False, True]
    assert "not seen for 60s, after 1 failure(s)" in caplog.records[1].getMessage()


def test_the_cause_ignores_numbers_paths_and_sql_parameters() -> None:
    assert cause_of(disk_full(1)) == cause_of(disk_full(22))
    assert cause_of(OSError(28, "No space", "/a/b")) == cause_of(OSError(28, "x", "/c/d"))
    assert cause_of(OSError(28, "No space")) != cause_of(OSError(13, "Permission denied"))
    assert cause_of(ValueError("x")) != cause_of(TypeError("x"))


@pytest.mark.parametrize(("text", "clean"), [
    ("[Errno 28] No space left on device: '/srv/openkling/files/ab/c.mp4'",
     "[Errno 28] No space left on device: '<path>'"),
    ("cannot open /tmp/x/y (gone)", "cannot open <path> (gone)"),
    ("upstream said: see https://api.klingai.com/v1/videos/1 for details",
     "upstream said: see https://api.klingai.com/v1/videos/1 for details"),
    ("aspect 16:9 / 1:2.5, ratio 3/4", "aspect 16:9 / 1:2.5, ratio 3/4"),
])
def test_without_paths_hides_file_system_paths_only(text: str, clean: str) -> None:
    assert without_paths(text) == clean
