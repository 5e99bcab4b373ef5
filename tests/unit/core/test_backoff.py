"""The shared backoff: exponential growth, the cap, and jitter that only ever shortens."""

from __future__ import annotations

import pytest

from openkling.core.backoff import backoff_seconds


def test_without_jitter_the_delay_doubles_up_to_the_cap() -> None:
    delays = [backoff_seconds(n, base=2.0, cap=20.0, jitter=0.0) for n in range(1, 7)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 20.0, 20.0]


def test_factor_sets_the_growth() -> None:
    assert backoff_seconds(3, base=1.0, cap=100.0, factor=1.5, jitter=0.0) == 2.25


@pytest.mark.parametrize("attempt", [1, 2, 5, 40, 10_000])
def test_jitter_stays_between_the_floor_and_the_cap(attempt: int) -> None:
    exact = backoff_seconds(attempt, base=1.0, cap=30.0, jitter=0.0)
    draws = [backoff_seconds(attempt, base=1.0, cap=30.0, jitter=0.25) for _ in range(500)]
    assert all(0.75 * exact <= d <= exact <= 30.0 for d in draws)
    assert len(set(draws)) > 400  # a herd is spread, not sent back in step


@pytest.mark.parametrize("kwargs", [
    {"attempt": 0, "base": 1.0, "cap": 1.0},
    {"attempt": 1, "base": -1.0, "cap": 1.0},
    {"attempt": 1, "base": 1.0, "cap": 1.0, "factor": 0.5},
    {"attempt": 1, "base": 1.0, "cap": 1.0, "jitter": 1.5},
])
def test_nonsense_arguments_are_refused(kwargs: dict[str, float]) -> None:
    attempt = int(kwargs.pop("attempt"))
    with pytest.raises(ValueError):
        backoff_seconds(attempt, **kwargs)
