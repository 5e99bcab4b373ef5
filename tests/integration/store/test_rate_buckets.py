"""The shared token buckets (PostgreSQL and Redis) and the leasing rate limiter on top.

Several `RateLimiter`s over one store stand for several API processes: together they must
admit no more than the burst, and exactly the burst when the lease is one token.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from openkling.api.limits import RateLimiter
from openkling.core.errors import Code, KlingError
from openkling.store import migrate
from openkling.store.database import Database
from openkling.store.rate_buckets import (
    REDIS_KEY_PREFIX,
    PostgresBuckets,
    RedisBuckets,
    deployment_namespace,
    shared_buckets,
)
from tests.conftest import (
    create_postgres_database,
    drop_postgres_database,
    postgres_skip_reason,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _redis_reason() -> str | None:
    try:
        from redis.asyncio import Redis
    except ImportError:
        return "redis-py is not installed"
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as exc:
        return f"no Redis at {REDIS_URL} ({type(exc).__name__})"
    finally:
        await client.aclose()
    return None


@pytest.fixture(params=["postgresql", "redis"])
async def buckets(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "redis":
        reason = await _redis_reason()
        if reason:
            pytest.skip(reason)
        store = RedisBuckets(REDIS_URL)
        yield store
        await store.close()
        return
    reason = await asyncio.to_thread(postgres_skip_reason)
    if reason:
        pytest.skip(reason)
    url = await asyncio.to_thread(create_postgres_database)
    db = Database(url)
    try:
        await migrate.upgrade(db)
        yield PostgresBuckets(db)
    finally:
        await db.dispose()
        await asyncio.to_thread(drop_postgres_database, url)


def _account() -> int:
    """A fresh account id (Redis keys outlive a test run)."""
    return uuid.uuid4().int % 2_000_000_000


async def test_a_fresh_bucket_grants_up_to_the_burst_then_nothing(buckets: Any) -> None:
    account = _account()
    assert await buckets.take(account, 4, 0.001, 10) == (4, pytest.approx(6.0, abs=0.01))
    assert (await buckets.take(account, 4, 0.001, 10))[0] == 4
    granted, left = await buckets.take(account, 4, 0.001, 10)
    assert granted == 2 and left < 1.0  # a partial grant: what was left
    granted, left = await buckets.take(account, 4, 0.001, 10)
    assert granted == 0 and 0 <= left < 1.0
    assert (await buckets.take(_account(), 1, 0.001, 10))[0] == 1  # accounts are separate


async def test_the_bucket_refills_at_the_rate(buckets: Any) -> None:
    account = _account()
    assert (await buckets.take(account, 2, 20.0, 2))[0] == 2
    await asyncio.sleep(0.2)  # 20/s x 0.2 s = 4 tokens, capped at the burst of 2
    assert (await buckets.take(account, 5, 20.0, 2))[0] == 2


async def test_concurrent_takes_never_grant_more_than_the_burst(buckets: Any) -> None:
    account = _account()

    async def taker() -> int:
        return sum([(await buckets.take(account, 1, 0.001, 25))[0] for _ in range(20)])

    assert sum(await asyncio.gather(*(taker() for _ in range(4)))) == 25


async def test_three_processes_admit_the_burst_once_not_three_times(buckets: Any) -> None:
    limiters = [RateLimiter(rate_per_second=0.001, burst=12) for _ in range(3)]
    for limiter in limiters:
        limiter.share(buckets)
    account = _account()
    admitted = refused = 0
    for _ in range(10):
        for limiter in limiters:
            try:
                await limiter.hit(account)
                admitted += 1
            except KlingError as exc:
                assert exc.code == Code.RATE_LIMITED and int(exc.headers["Retry-After"]) >= 1
                refused += 1
    # lease = min(burst // 4, ...) = 1 token at this rate, so not even a lease is stranded
    assert (admitted, refused) == (12, 18)


async def test_leases_save_round_trips_and_never_exceed_the_burst(buckets: Any) -> None:
    granting = 0
    take = buckets.take

    async def counting(*args: Any) -> tuple[int, float]:
        nonlocal granting
        granted, left = await take(*args)
        granting += int(granted) > 0  # round trips that brought tokens (not "empty" probes,
        return int(granted), float(left)  # whose number depends on how slow the loop runs)

    buckets.take = counting
    limiters = [RateLimiter(rate_per_second=100.0, burst=200) for _ in range(3)]
    assert limiters[0].lease_size == 10
    for limiter in limiters:
        limiter.share(buckets)
    account = _account()
    admitted = 0
    for _ in range(100):
        for limiter in limiters:
            try:
                await limiter.hit(account)
                admitted += 1
            except KlingError:
                pass
    assert 200 <= admitted <= 300  # the burst plus what refilled meanwhile, never 3x
    # The burst (200) is taken in leases of 10: about 20 round trips, not 200. What refills
    # afterwards may come a few tokens per round trip on a slow host, so it is not counted.
    assert granting <= admitted - 150, (granting, admitted)


async def test_a_failing_store_falls_back_to_per_process_limits() -> None:
    limiter = RateLimiter(rate_per_second=0.001, burst=2)
    limiter.share(RedisBuckets("redis://127.0.0.1:1/0"))  # nothing listens on port 1
    await limiter.hit(7)
    await limiter.hit(7)
    with pytest.raises(KlingError) as info:
        await limiter.hit(7)
    assert info.value.code == Code.RATE_LIMITED
    await limiter.close()


async def test_sqlite_without_redis_keeps_the_limit_in_memory(tmp_path: Any) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        assert shared_buckets(db, None) is None
        store = shared_buckets(db, REDIS_URL)
        assert isinstance(store, RedisBuckets)
        await store.close()
        with pytest.raises(ValueError):
            PostgresBuckets(db)
    finally:
        await db.dispose()


async def test_deployments_sharing_a_redis_have_separate_buckets() -> None:
    if reason := await _redis_reason():
        pytest.skip(reason)
    one = deployment_namespace("postgresql+asyncpg://u:secret@db:5432/one")
    assert one == deployment_namespace("postgresql+asyncpg://u:other@db:5432/one")
    assert one != deployment_namespace("postgresql+asyncpg://u:secret@db:5432/two")
    first, second = RedisBuckets(REDIS_URL, one), RedisBuckets(REDIS_URL, "elsewhere")
    account = _account()
    try:
        assert (await first.take(account, 5, 0.001, 5))[0] == 5
        assert (await second.take(account, 5, 0.001, 5))[0] == 5
        assert (await first.take(account, 5, 0.001, 5))[0] == 0
    finally:
        await first.close()
        await second.close()
    assert REDIS_KEY_PREFIX == "openkling:rate:"


async def test_a_lease_in_use_is_renewed_behind_the_requests_so_none_waits(
        buckets: Any) -> None:
    """Past half its life a lease still in use is renewed once, in the background: while
    the store is slow to answer, requests go on spending the lease they have, and the
    renewal keeps them going after the first lease would have expired."""
    take = buckets.take
    calls = answered = 0
    store_answers = asyncio.Event()
    store_answers.set()

    async def slow_when_told(*args: Any) -> tuple[int, float]:
        nonlocal calls, answered
        calls += 1
        await store_answers.wait()
        granted, left = await take(*args)
        answered += 1
        return int(granted), float(left)

    buckets.take = slow_when_told
    limiter = RateLimiter(rate_per_second=1000.0, burst=1000)
    assert limiter.lease_size == 100  # a tenth of a second of the rate
    limiter.share(buckets)
    account = _account()
    await limiter.hit(account)
    assert calls == 1
    await asyncio.sleep(0.6)  # past half of the lease's second
    store_answers.clear()  # from now on the store answers only when the test says so
    for _ in range(20):  # none of these waits for the store
        await asyncio.wait_for(limiter.hit(account), 1)
    assert calls == 2  # one renewal for all twenty
    store_answers.set()
    for _ in range(500):
        await asyncio.sleep(0.01)
        if answered == 2:
            break
    await asyncio.sleep(0.5)  # 1.1 s after the first lease: only the renewal is left
    store_answers.clear()
    try:
        await asyncio.wait_for(limiter.hit(account), 1)
    finally:
        store_answers.set()
        await limiter.close()


class HeldBucketsDouble:
    """A stand-in for the shared store (the `SharedBuckets` seam) that answers from a script,
    each answer only once the test lets it go, and counts the round trips."""

    def __init__(self, answers: list[tuple[int, float]]) -> None:
        self.answers = answers
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()

    async def take(self, account_id: int, want: int, rate: float,
                   burst: float) -> tuple[int, float]:
        self.calls += 1
        await self.release.wait()
        return self.answers.pop(0)

    async def close(self) -> None:
        return None


async def test_a_request_waiting_on_a_renewal_that_found_the_store_empty_is_refused_at_once(
        ) -> None:
    store = HeldBucketsDouble([(3, 97.0), (0, 0.0)])
    limiter = RateLimiter(rate_per_second=30.0, burst=100)
    assert limiter.lease_size == 3  # a tenth of a second of the rate
    limiter.share(store)
    await limiter.hit(1)  # 2 left
    await asyncio.sleep(0.55)
    store.release.clear()
    await asyncio.wait_for(limiter.hit(1), 1)  # 1 left; starts the renewal (held)
    await asyncio.wait_for(limiter.hit(1), 1)  # 0 left
    assert store.calls == 2
    waiting = asyncio.create_task(limiter.hit(1))  # no tokens: waits for the renewal
    await asyncio.sleep(0.05)
    assert not waiting.done()
    store.release.set()  # the store says: empty, the next token in 1/30 s
    with pytest.raises(KlingError) as info:
        await asyncio.wait_for(waiting, 1)
    assert info.value.code == Code.RATE_LIMITED
    assert store.calls == 2  # refused on the renewal's answer, no second round trip
    await limiter.close()
