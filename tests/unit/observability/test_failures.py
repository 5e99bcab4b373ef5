"""A repeating failure: first with traceback, then a count per interval, then "recovered"."""

from __future__ import annotations

import logging

import pytest

from openkling.observability.failures import RepeatingFailure


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
