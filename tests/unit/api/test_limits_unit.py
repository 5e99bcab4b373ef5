"""The per-account rate limiter in process, on a clock the test moves: the local bucket, and
the leases it takes from a shared store (a scripted double of the `SharedBuckets` seam).

Expected values come from the contract: 429 / 1302 with `Retry-After` in whole seconds
(kling-api.md), the default 50/s and burst 100 leased 5 tokens at a time, leases of 0.1 s of
the rate kept at most 1 s, renewed past half their life (docs/deployment.md)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from openkling.api import limits
from openkling.api.limits import RateLimiter
from openkling.core.errors import Code, KlingError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedBucketsDouble:
    """Answers `take` from a list (an exception in it is raised), counting the calls; while
    `answering` is clear, each call waits for it (a store slow to answer)."""

    def __init__(self, *answers: tuple[int, float] | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[int, int, float, float]] = []
        self.closed = False
        self.answering = asyncio.Event()
        self.answering.set()

    async def take(self, account_id: int, want: int, rate: float,
                   burst: float) -> tuple[int, float]:
        self.calls.append((account_id, want, rate, burst))
        await self.answering.wait()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        self.closed = True


async def refused(limiter: RateLimiter, account: int = 1) -> KlingError:
    with pytest.raises(KlingError) as info:
        await limiter.hit(account)
    return info.value


async def admitted(limiter: RateLimiter, times: int, account: int = 1) -> None:
    for _ in range(times):
        await limiter.hit(account)


async def settle() -> None:
    """Let renewals started behind a request run (the double answers at once)."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize(("rate", "burst", "lease"), [
    (50, 100, 5),        # the defaults: a tenth of a second of the rate
    (1000, 100, 25),     # at most a quarter of the burst
    (0.001, 2, 1),       # at least one token
    (100, 200, 10),
    (101, 1000, 11),     # rounded up
    (1000, 10, 2),       # a quarter of 10 is 2 whole tokens
])
def test_the_lease_is_a_tenth_of_a_second_of_the_rate_within_the_burst(
        rate: float, burst: int, lease: int) -> None:
    assert RateLimiter(rate, burst).lease_size == lease


# ----- one process: a bucket in memory ------------------------------------------------------

async def test_the_burst_is_admitted_then_429_1302_with_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(50, 3, clock=clock)
    await admitted(limiter, 3)
    error = await refused(limiter)
    assert (error.http_status, int(error.code)) == (429, Code.RATE_LIMITED)
    assert error.message == "too many requests: at most 50 per second for this account"
    assert error.headers == {"Retry-After": "1"}  # 20 ms rounded up to a whole second
    clock.now += 0.025  # one token back at 50/s (and a little: clocks are floats)
    await limiter.hit(1)
    await refused(limiter)


async def test_retry_after_is_the_wait_rounded_up() -> None:
    clock = Clock()
    limiter = RateLimiter(0.4, 1, clock=clock)  # a token every 2.5 s
    await limiter.hit(1)
    assert (await refused(limiter)).headers == {"Retry-After": "3"}
    clock.now += 2.4
    assert (await refused(limiter)).headers == {"Retry-After": "1"}


async def test_accounts_have_their_own_buckets() -> None:
    limiter = RateLimiter(1, 1, clock=Clock())
    await limiter.hit(1)
    await limiter.hit(2)
    await refused(limiter, 1)
    await refused(limiter, 2)


async def test_a_full_table_of_buckets_is_emptied_rather_than_grown(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bound = int("300")  # the real bound is 100,000 accounts (300: not a cached small int)
    monkeypatch.setattr(limits, "_MAX_BUCKETS", bound)
    limiter = RateLimiter(0.001, 1, clock=Clock())
    for account in range(bound):
        await limiter.hit(account)
    await refused(limiter, 0)  # 300 buckets: all kept
    await limiter.hit(bound)  # one more account: the table is emptied first
    await limiter.hit(0)  # so account 0 starts afresh


# ----- several processes: leases from the shared store --------------------------------------

async def test_a_lease_is_spent_locally_and_the_next_one_taken_when_it_runs_out() -> None:
    store = ScriptedBucketsDouble((5, 95.0), (5, 90.0))
    limiter = RateLimiter(50, 100, clock=Clock())
    limiter.share(store)
    await admitted(limiter, 5)
    assert store.calls == [(1, 5, 50, 100.0)]  # one round trip for five requests
    await limiter.hit(1)
    assert len(store.calls) == 2


@pytest.mark.parametrize("granted", [1, 2])
async def test_a_partial_lease_is_spent_then_the_store_is_asked_again(granted: int) -> None:
    store = ScriptedBucketsDouble((granted, 0.3), (5, 0.0))
    limiter = RateLimiter(50, 100, clock=Clock())
    limiter.share(store)
    await admitted(limiter, granted)
    assert len(store.calls) == 1
    await admitted(limiter, 5)
    assert len(store.calls) == 2


async def test_an_expired_lease_is_dropped_and_a_new_one_taken() -> None:
    clock = Clock()
    store = ScriptedBucketsDouble((5, 95.0), (5, 90.0), (5, 85.0))
    limiter = RateLimiter(50, 100, clock=clock)
    limiter.share(store)
    await limiter.hit(1)  # 4 left
    clock.now += 1.0  # the lease's second is over (to the tick): its 4 tokens are gone
    await limiter.hit(1)
    assert len(store.calls) == 2
    await admitted(limiter, 4)  # the new lease's 5, not 4 + 5
    assert len(store.calls) == 2
    await limiter.hit(1)
    assert len(store.calls) == 3


async def test_a_lease_in_use_past_half_its_life_is_renewed_behind_the_request() -> None:
    clock = Clock()
    store = ScriptedBucketsDouble((5, 95.0), (5, 90.0), (5, 85.0))
    limiter = RateLimiter(50, 100, clock=clock)
    limiter.share(store)
    await limiter.hit(1)  # 4 left
    clock.now += 0.49  # not yet half
    await limiter.hit(1)  # 3 left
    await settle()
    assert len(store.calls) == 1
    clock.now += 0.01  # half its life, to the tick: this request starts the renewal
    await limiter.hit(1)  # 2 left, then 2 + 5
    await settle()
    assert len(store.calls) == 2
    clock.now += 0.9  # past the first lease's second, inside the renewal's
    await admitted(limiter, 7)
    assert len(store.calls) == 2
    await limiter.hit(1)
    assert len(store.calls) == 3


async def test_renewals_keep_at_most_two_leases() -> None:
    clock = Clock()
    store = ScriptedBucketsDouble(*[(5, 50.0)] * 6)
    limiter = RateLimiter(50, 100, clock=clock)
    limiter.share(store)
    await limiter.hit(1)  # 4 left
    for _ in range(3):  # one request each 0.6 s: renewed three times
        clock.now += 0.6
        await limiter.hit(1)
        await settle()
    assert len(store.calls) == 4
    # 3 + 5 = 8, then min(7 + 5, 10) = 10, then min(9 + 5, 10) = 10 held (not 16).
    await admitted(limiter, 10)
    await settle()
    assert len(store.calls) == 4
    await limiter.hit(1)
    assert len(store.calls) == 5


async def test_only_a_lease_with_tokens_left_is_renewed() -> None:
    clock = Clock()
    store = ScriptedBucketsDouble((3, 0.0), (3, 0.0))
    limiter = RateLimiter(30, 100, clock=clock)  # leases of 3
    limiter.share(store)
    await limiter.hit(1)  # 2 left
    clock.now += 0.6
    await limiter.hit(1)  # 1 left: renewed
    await settle()
    assert len(store.calls) == 2
    store.answers = [(2, 0.0), (3, 0.0)]
    clock.now += 1.1  # both leases over
    await limiter.hit(1)  # a new lease of 2: 1 left
    clock.now += 0.6
    await limiter.hit(1)  # the last token: nothing left to renew for
    await settle()
    assert len(store.calls) == 3


async def test_a_lease_is_not_spent_past_its_second() -> None:
    clock = Clock()
    store = ScriptedBucketsDouble((5, 95.0), (5, 90.0))
    limiter = RateLimiter(50, 100, clock=clock)
    limiter.share(store)
    await limiter.hit(1)
    clock.now += 1.5
    await limiter.hit(1)
    assert len(store.calls) == 2


async def test_a_renewal_that_finds_the_store_empty_leaves_the_lease_spendable() -> None:
    clock = Clock()
    store = ScriptedBucketsDouble((5, 95.0), (0, 0.0))
    limiter = RateLimiter(50, 100, clock=clock)
    limiter.share(store)
    await limiter.hit(1)  # 4 left
    clock.now += 0.7
    await limiter.hit(1)  # 3 left; the renewal hears "empty, a token in 20 ms"
    await settle()
    assert len(store.calls) == 2
    await admitted(limiter, 3)  # taken already: still spent
    assert (await refused(limiter)).headers == {"Retry-After": "1"}
    assert len(store.calls) == 2


async def test_requests_waiting_on_a_slow_store_share_the_lease_it_brings() -> None:
    store = ScriptedBucketsDouble((3, 0.0), (3, 0.0))
    limiter = RateLimiter(30, 100, clock=Clock())  # leases of 3
    limiter.share(store)
    store.answering.clear()
    waiting = [asyncio.create_task(limiter.hit(1)) for _ in range(3)]
    await settle()
    assert len(store.calls) == 1  # one asks, two queue behind it
    store.answering.set()
    assert await asyncio.gather(*waiting) == [None] * 3
    assert len(store.calls) == 1  # the three served by one lease
    await limiter.hit(1)
    assert len(store.calls) == 2


async def test_requests_waiting_on_the_store_all_resume_in_one_pass_of_the_loop() -> None:
    # Queued on a lock they resumed one per pass: on a server busy enough that a pass takes
    # 6 ms, the 64th request in line waited 0.4 s for a lease that had arrived long before.
    store = ScriptedBucketsDouble((50, 0.0))
    limiter = RateLimiter(500, 1000, clock=Clock())  # leases of 50
    limiter.share(store)
    store.answering.clear()
    waiting = [asyncio.create_task(limiter.hit(1)) for _ in range(40)]
    await settle()
    store.answering.set()
    await settle()  # five passes of the loop, for forty requests
    assert all(task.done() for task in waiting)
    assert [task.result() for task in waiting] == [None] * 40
    assert len(store.calls) == 1


async def test_requests_beyond_the_lease_that_arrives_ask_the_store_again() -> None:
    store = ScriptedBucketsDouble((3, 0.0), (3, 0.0), (0, 0.0))
    limiter = RateLimiter(30, 100, clock=Clock())  # leases of 3
    limiter.share(store)
    store.answering.clear()
    waiting = [asyncio.create_task(limiter.hit(1)) for _ in range(5)]
    await settle()
    store.answering.set()
    assert await asyncio.gather(*waiting) == [None] * 5
    assert len(store.calls) == 2  # three spent the first lease, two the second
    await limiter.hit(1)  # the second lease's last token
    assert len(store.calls) == 2
    await refused(limiter)  # six tokens granted, six requests admitted
    assert len(store.calls) == 3


async def test_a_request_on_an_expired_lease_is_refused_when_the_renewal_finds_it_empty(
) -> None:
    clock = Clock()
    store = ScriptedBucketsDouble((5, 0.0), (0, 0.0))
    limiter = RateLimiter(50, 100, clock=clock)  # leases of 5
    limiter.share(store)
    await limiter.hit(1)
    clock.now += 0.6
    store.answering.clear()
    await limiter.hit(1)  # starts the renewal; three tokens are left
    clock.now += 0.5  # the lease's second is over while the store thinks
    late = asyncio.create_task(limiter.hit(1))
    await settle()
    store.answering.set()
    with pytest.raises(KlingError) as info:
        await late  # the expired lease's tokens are not spent, and the store had none
    assert info.value.code == Code.RATE_LIMITED
    assert len(store.calls) == 2


async def test_a_request_cancelled_while_waiting_leaves_the_lease_to_the_others() -> None:
    store = ScriptedBucketsDouble((3, 0.0))
    limiter = RateLimiter(30, 100, clock=Clock())  # leases of 3
    limiter.share(store)
    store.answering.clear()
    first = asyncio.create_task(limiter.hit(1))  # this one starts the round trip
    await settle()
    others = [asyncio.create_task(limiter.hit(1)) for _ in range(2)]
    await settle()
    first.cancel()
    await settle()
    store.answering.set()
    assert await asyncio.gather(*others) == [None, None]
    await limiter.hit(1)  # the third token: the cancelled request did not spend it
    assert len(store.calls) == 1


async def test_requests_waiting_on_a_slow_store_are_refused_on_its_empty_answer() -> None:
    clock = Clock()
    store = ScriptedBucketsDouble((0, 0.0))
    limiter = RateLimiter(0.25, 100, clock=clock)  # a token every 4 s
    limiter.share(store)
    store.answering.clear()
    waiting = [asyncio.create_task(limiter.hit(1)) for _ in range(3)]
    await settle()
    store.answering.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert [getattr(o, "headers", None) for o in outcomes] == [{"Retry-After": "4"}] * 3
    assert len(store.calls) == 1
    clock.now += 1.5
    assert (await refused(limiter)).headers == {"Retry-After": "3"}  # locally, 2.5 s left
    assert len(store.calls) == 1


async def test_requests_waiting_on_a_store_that_fails_limit_locally_and_log_once(
        caplog: pytest.LogCaptureFixture) -> None:
    store = ScriptedBucketsDouble(ConnectionError("store down"), ConnectionError("down too"))
    limiter = RateLimiter(0.001, 2, clock=Clock())
    limiter.share(store)
    store.answering.clear()
    with caplog.at_level(logging.WARNING, logger="openkling.api.limits"):
        waiting = [asyncio.create_task(limiter.hit(account)) for account in (1, 1, 2)]
        await settle()
        store.answering.set()
        await asyncio.gather(*waiting)
    assert len(store.calls) == 2  # accounts 1 and 2; account 1's second request went local
    assert len(caplog.records) == 1


async def test_close_stops_a_renewal_still_waiting_on_the_store() -> None:
    clock = Clock()
    store = ScriptedBucketsDouble((5, 0.0), (5, 0.0))
    limiter = RateLimiter(50, 100, clock=clock)
    limiter.share(store)
    await limiter.hit(1)
    store.answering.clear()
    clock.now += 0.6
    await limiter.hit(1)  # the renewal starts and waits
    await settle()
    assert len(store.calls) == 2
    await asyncio.wait_for(limiter.close(), 1)
    assert store.closed


async def test_a_full_table_of_leases_is_emptied_rather_than_grown(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bound = int("300")  # not a cached small int
    monkeypatch.setattr(limits, "_MAX_BUCKETS", bound)
    store = ScriptedBucketsDouble(*[(5, 0.0)] * (bound + 2))
    limiter = RateLimiter(50, 100, clock=Clock())
    limiter.share(store)
    for account in range(bound):
        await limiter.hit(account)
    await limiter.hit(0)  # 300 leases: all kept
    assert len(store.calls) == bound
    await limiter.hit(bound)  # one more account: the table is emptied first
    await limiter.hit(0)  # so account 0's lease is gone and taken again
    assert len(store.calls) == bound + 2


async def test_an_empty_store_refuses_locally_until_a_token_is_due() -> None:
    clock = Clock()
    store = ScriptedBucketsDouble((0, 0.25), (5, 0.0))
    limiter = RateLimiter(0.5, 10, clock=clock)  # 0.75 tokens missing at 0.5/s: 1.5 s
    limiter.share(store)
    assert (await refused(limiter)).headers == {"Retry-After": "2"}
    clock.now += 1.4
    assert (await refused(limiter)).headers == {"Retry-After": "1"}  # 0.1 s, asked no one
    assert len(store.calls) == 1
    clock.now += 0.1
    await limiter.hit(1)
    assert len(store.calls) == 2


async def test_a_failing_store_falls_back_on_a_local_bucket_for_five_seconds(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    store = ScriptedBucketsDouble(ConnectionError("store down"), ConnectionError("still down"),
                                  (5, 0.0))
    limiter = RateLimiter(0.001, 2, clock=clock)
    limiter.share(store)
    with caplog.at_level(logging.WARNING, logger="openkling.api.limits"):
        await limiter.hit(1)  # the store failed: the local bucket admits
        await limiter.hit(1)
        await refused(limiter)  # the local bucket's burst of 2 is spent
        clock.now += 4.9
        await refused(limiter)
        assert len(store.calls) == 1  # not asked again within 5 s
        clock.now += 0.1
        await refused(limiter)  # asked again: still down, local again
        assert len(store.calls) == 2
        clock.now += 5.0
        await limiter.hit(1)  # the store is back
        assert len(store.calls) == 3
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "shared rate limit unavailable, limiting per process for 5 s: store down",
        "shared rate limit unavailable, limiting per process for 5 s: still down",
    ]


async def test_a_failing_renewal_falls_back_too() -> None:
    clock = Clock()
    store = ScriptedBucketsDouble((5, 0.0), ConnectionError("store down"))
    limiter = RateLimiter(50, 20, clock=clock)  # leases of 5
    limiter.share(store)
    await limiter.hit(1)
    clock.now += 0.5
    await limiter.hit(1)
    await settle()
    assert len(store.calls) == 2
    clock.now += 0.1
    await admitted(limiter, 20)  # local: a fresh burst of 20, the store not asked
    assert len(store.calls) == 2
    await refused(limiter)


async def test_close_closes_the_store_and_limits_locally_afterwards() -> None:
    store = ScriptedBucketsDouble((5, 0.0))
    limiter = RateLimiter(0.001, 1, clock=Clock())
    limiter.share(store)
    await limiter.close()
    assert store.closed
    await limiter.hit(1)
    await refused(limiter)
    assert store.calls == []
