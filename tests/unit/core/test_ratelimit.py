"""The token bucket: burst, refill at the rate, the wait it reports, and pacing."""

from __future__ import annotations

import pytest

from openkling.core.ratelimit import TokenBucket


def test_burst_then_refill_at_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, capacity=3.0, now=100.0)
    assert [bucket.take(now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(now=100.0) == pytest.approx(0.5)  # one token in 1/rate seconds
    assert bucket.take(now=100.25) == pytest.approx(0.25)  # a refused take costs nothing
    assert bucket.take(now=100.5) == 0.0
    assert bucket.take(now=100.5) == pytest.approx(0.5)


def test_never_holds_more_than_its_capacity() -> None:
    bucket = TokenBucket(rate=10.0, capacity=2.0, now=0.0)
    assert bucket.take(2.0, now=1000.0) == 0.0
    assert bucket.take(now=1000.0) == pytest.approx(0.1)


def test_a_clock_going_backwards_adds_nothing() -> None:
    bucket = TokenBucket(rate=1.0, capacity=1.0, now=10.0)
    assert bucket.take(now=10.0) == 0.0
    assert bucket.take(now=5.0) > 0


async def test_acquire_waits_for_a_token_then_takes_it() -> None:
    bucket = TokenBucket(rate=200.0, capacity=1.0)
    await bucket.acquire()
    assert bucket.tokens < 1.0
    await bucket.acquire()  # had to wait for the refill, and took it
    assert bucket.tokens < 1.0


async def test_acquire_more_than_fits_is_refused() -> None:
    with pytest.raises(ValueError):
        await TokenBucket(rate=1.0, capacity=2.0).acquire(3.0)


def test_nonpositive_rate_or_capacity_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0.0, capacity=1.0)
    with pytest.raises(ValueError):
        TokenBucket(rate=1.0, capacity=0.0)
